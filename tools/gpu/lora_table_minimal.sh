#!/usr/bin/env bash
# LoRA benchmark, the minimal form: PEFT loads this library's adapters (parity), then this library at batch 8 × 2,048 on
# the Moonlight shape with PEFT's effective targets.
set -uo pipefail
export PYTHONUNBUFFERED=1
log=$OUT/lora.jsonl
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a $OUT/gpu.txt
mkdir -p /tmp/ours
timeout 45 bash .gpu/run.sh lora-export /tmp/ours | tail -1
timeout 50 python3 tools/gpu/peft_parity.py data/deepseek-v3-tiny-a $OUT /tmp/ours | tail -1 | tee -a $log
timeout 100 bash .gpu/run.sh lora moonlight --device cuda --batch 8 --seq 2048 --steps 2 2>&1 | grep -v "^   at \|^frame" | tail -3 | tee -a $log
