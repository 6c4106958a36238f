#!/usr/bin/env bash
# Continues training an exported MLNet.MoE model with train.py in the layouts docs/scale-out.md reports, on this
# machine's GPUs: one process, then (with two or more GPUs) two-process DDP and two-process FSDP.
#   bash samples/ScaleOut/run-round-trip.sh EXPORT_DIR OUTPUT_DIR [STEPS]
# EXPORT_DIR holds checkpoint/ and tokens/ from `dotnet run --project samples/ScaleOut -- export`; each run writes
# OUTPUT_DIR/<layout>/ (checkpoint, reference_logits.json, scale_out_run.json) and OUTPUT_DIR/<layout>.log.
set -uo pipefail
in="$1"; out="$2"; steps="${3:-1000}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mkdir -p "$out"
python3 -c 'import torch, transformers, accelerate; print("torch", torch.__version__, "transformers", transformers.__version__, "accelerate", accelerate.__version__, "GPUs", torch.cuda.device_count())'
gpus="$(python3 -c 'import torch; print(torch.cuda.device_count())')"
status=0
run() {
  local name="$1" launch="$2" strategy="$3"
  echo "== $name: accelerate launch $launch train.py --strategy $strategy --steps $steps"
  # shellcheck disable=SC2086
  accelerate launch $launch --mixed_precision bf16 "$here/train.py" --checkpoint "$in/checkpoint" --tokens "$in/tokens" \
    --output "$out/$name" --strategy "$strategy" --steps "$steps" > "$out/$name.log" 2>&1
  local rc=$?
  grep -E '^(step|validation|torch|\{)' "$out/$name.log" || tail -n 30 "$out/$name.log"
  [ "$rc" -eq 0 ] || { echo "$name failed with exit code $rc"; status=1; }
}
run single-gpu "--num_processes 1 --num_machines 1 --dynamo_backend no" ddp
if [ "$gpus" -ge 2 ]; then
  run ddp-2gpu "--multi_gpu --num_processes 2 --num_machines 1 --dynamo_backend no" ddp
  run fsdp-2gpu "--multi_gpu --num_processes 2 --num_machines 1 --dynamo_backend no" fsdp
fi
exit "$status"
