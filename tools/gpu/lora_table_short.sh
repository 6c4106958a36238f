#!/usr/bin/env bash
# LoRA benchmark, the short form for a little device time: PEFT parity, then batch 8 × 2,048 on the Moonlight shape for
# transformers + PEFT and for this library (same targets), then this library with the dense/shared MLP targets.
set -uo pipefail
export PYTHONUNBUFFERED=1
log=$OUT/lora.jsonl
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a $OUT/gpu.txt
mkdir -p /tmp/ours
timeout 60 bash .gpu/run.sh lora-export /tmp/ours | tail -1
timeout 60 python3 tools/gpu/peft_parity.py data/deepseek-v3-tiny-a $OUT /tmp/ours | tail -1 | tee -a $log
timeout 90 python3 tools/gpu/peft_moonlight.py 2048 8 | tail -1 | tee -a $log
timeout 120 bash .gpu/run.sh lora moonlight --device cuda --batch 8 --seq 2048 --steps 3 2>&1 | grep -v "^   at \|^frame" | tail -3 | tee -a $log
timeout 90 bash .gpu/run.sh lora moonlight --device cuda --batch 8 --seq 2048 --steps 3 --targets attention-mlp 2>&1 | grep -v "^   at \|^frame" | tail -3 | tee -a $log
