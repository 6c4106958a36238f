#!/usr/bin/env bash
# LoRA benchmark, part 2: batch 1 and 4 for both, then transformers' save_pretrained of the Moonlight-shaped model
# (bf16, ~32 GB) loaded by this library: load time, peak host and GPU memory, logits against transformers', training
# tokens/s at batch 8 and generation tokens/s with the KV cache. Results are appended to $OUT/lora.jsonl.
set -uo pipefail
export PYTHONUNBUFFERED=1
log=$OUT/lora.jsonl
timeout 200 python3 tools/gpu/moonlight_checkpoint.py /tmp/moonlight | tail -1 | tee -a $log
timeout 200 bash .gpu/run.sh lora moonlight --device cuda --batch 8 --seq 2048 --steps 4 --checkpoint /tmp/moonlight --reference-logits /tmp/moonlight/reference.json --generate 64 | tail -1 | tee -a $log
rm -rf /tmp/moonlight
for b in 4 1; do
  timeout 120 python3 tools/gpu/peft_moonlight.py 2048 $b | tail -1 | tee -a $log
  timeout 120 bash .gpu/run.sh lora moonlight --device cuda --batch $b --seq 2048 --steps 4 | tail -1 | tee -a $log
done
