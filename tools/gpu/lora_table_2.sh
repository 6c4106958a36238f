#!/usr/bin/env bash
# LoRA benchmark, part 2: transformers' save_pretrained of the Moonlight-shaped model (bf16, ~32 GB) loaded by this
# library: load time, peak host and GPU memory, logits against transformers', training tokens/s at batch 8 and
# generation tokens/s with the KV cache. Results are appended to $OUT/lora.jsonl.
set -uo pipefail
export PYTHONUNBUFFERED=1
log=$OUT/lora.jsonl
timeout 200 python3 tools/gpu/moonlight_checkpoint.py /tmp/moonlight | tail -1 | tee -a $log
timeout 220 bash .gpu/run.sh lora moonlight --device cuda --batch 8 --seq 2048 --steps 3 --checkpoint /tmp/moonlight \
  --reference-logits /tmp/moonlight/reference.json --generate 64 2>&1 | grep -v '^   at \|^frame' | tee -a $OUT/lora.log | tail -1 | tee -a $log
rm -rf /tmp/moonlight
