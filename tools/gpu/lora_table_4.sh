#!/usr/bin/env bash
# LoRA benchmark, part 4 (run on the GPU machine from the repository root, with the staged Benchmarks app in .gpu):
# the routed-expert adapters unmerged (their own grouped GEMMs) against merged (the adapted weight built each pass),
# batch 8 × 2,048 on the Moonlight shape, transformers + PEFT in the same call, the last 4 blocks not recomputed;
# then PEFT's modules_to_save parity.
# Every result line is appended to $OUT/lora.jsonl; the .NET runs' last lines (errors included) to $OUT/lora.log.
source tools/gpu/lora_rows.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a $OUT/gpu.txt
ours 60 lora tiny --device cuda --batch 2 --seq 256 --steps 2
ours 150 lora moonlight --device cuda --batch 8 --seq 2048 --steps 3
timeout 150 python3 tools/gpu/peft_moonlight.py 2048 8 | tail -1 | tee -a $log
ours 150 lora moonlight --device cuda --batch 8 --seq 2048 --steps 3 --keep-blocks 4
ours 150 lora moonlight --device cuda --batch 8 --seq 2048 --steps 3 --merged-experts
mkdir -p /tmp/ours
timeout 60 bash .gpu/run.sh lora-export /tmp/ours --train-router-norms 2>&1 | tail -2
timeout 60 python3 tools/gpu/peft_parity.py data/deepseek-v3-tiny-a $OUT /tmp/ours --modules-to-save | tail -1 | tee -a $log
