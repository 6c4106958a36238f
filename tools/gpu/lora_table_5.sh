#!/usr/bin/env bash
# LoRA benchmark, part 5 (GPU machine, repository root, staged Benchmarks app in .gpu): one MoE layer's expert
# adapters run merged, unmerged and unmerged with the scaling folded into B (tools/gpu/expert_lora_kernels.py), then
# this library at batch 8 (all blocks recomputed, the last 4 not, expert adapters merged), 1 and 4, and PEFT at batch 8 and 1, all on
# the same card.
source tools/gpu/lora_rows.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a $OUT/gpu.txt
ours 90 lora moonlight --device cuda --batch 8 --seq 2048 --steps 3
timeout 120 python3 tools/gpu/peft_moonlight.py 2048 8 | tail -1 | tee -a $log
ours 90 lora moonlight --device cuda --batch 8 --seq 2048 --steps 3 --keep-blocks 4
timeout 60 python3 tools/gpu/expert_lora_kernels.py 2>&1 | tail -3 | tee -a $log
ours 90 lora moonlight --device cuda --batch 8 --seq 2048 --steps 3 --merged-experts
ours 60 lora moonlight --device cuda --batch 1 --seq 2048 --steps 3
timeout 90 python3 tools/gpu/peft_moonlight.py 2048 1 | tail -1 | tee -a $log
ours 80 lora moonlight --device cuda --batch 4 --seq 2048 --steps 3
