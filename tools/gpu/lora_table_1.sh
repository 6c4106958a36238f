#!/usr/bin/env bash
# LoRA benchmark, part 1 (run on the GPU machine from the repository root, with the staged Benchmarks app in .gpu):
# parity with PEFT on the tiny fixture, a CUDA smoke run, then batch 8 × 2,048 on the Moonlight shape for
# transformers + PEFT and for this library (PEFT's effective targets: attention + routed experts; then attention +
# dense/shared MLPs instead of the experts).
# Every result line is appended to $OUT/lora.jsonl.
set -uo pipefail
export PYTHONUNBUFFERED=1
log=$OUT/lora.jsonl
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a $OUT/gpu.txt
mkdir -p /tmp/ours
timeout 120 bash .gpu/run.sh lora-export /tmp/ours | tail -1
timeout 120 python3 tools/gpu/peft_parity.py data/deepseek-v3-tiny-a $OUT /tmp/ours | tail -1 | tee -a $log
timeout 120 bash .gpu/run.sh lora tiny --device cuda --batch 2 --seq 256 --steps 2 --generate 16 | tail -1 | tee -a $log
timeout 150 python3 tools/gpu/peft_moonlight.py 2048 8 | tail -1 | tee -a $log
timeout 150 bash .gpu/run.sh lora moonlight --device cuda --batch 8 --seq 2048 --steps 4 | tail -1 | tee -a $log
timeout 150 bash .gpu/run.sh lora moonlight --device cuda --batch 8 --seq 2048 --steps 4 --targets attention-mlp | tail -1 | tee -a $log
