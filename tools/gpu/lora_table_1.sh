#!/usr/bin/env bash
# LoRA benchmark, part 1 (run on the GPU machine from the repository root, with the staged Benchmarks app in .gpu):
# PEFT loads this library's exported adapters (parity), a CUDA smoke run, then batch 8 × 2,048 on the Moonlight shape for
# transformers + PEFT and for this library on the same targets (PEFT's effective targets: attention + routed experts),
# then this library with attention + dense/shared MLPs instead of the experts.
# Every result line is appended to $OUT/lora.jsonl; the .NET runs' last lines (errors included) to $OUT/lora.log.
source tools/gpu/lora_rows.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a $OUT/gpu.txt
mkdir -p /tmp/ours
timeout 60 bash .gpu/run.sh lora-export /tmp/ours 2>&1 | tail -2
timeout 60 python3 tools/gpu/peft_parity.py data/deepseek-v3-tiny-a $OUT /tmp/ours | tail -1 | tee -a $log
ours 60 lora tiny --device cuda --batch 2 --seq 256 --steps 2 --generate 16
timeout 150 python3 tools/gpu/peft_moonlight.py 2048 8 | tail -1 | tee -a $log
ours 170 lora moonlight --device cuda --batch 8 --seq 2048 --steps 3
ours 140 lora moonlight --device cuda --batch 8 --seq 2048 --steps 3 --targets attention-mlp
