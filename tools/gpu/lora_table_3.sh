#!/usr/bin/env bash
# LoRA benchmark, part 3: the Moonlight-shaped checkpoint saved by transformers, loaded by this library in bfloat16
# (logits against transformers' bf16 logits, training at batch 8 with the forward's part-by-part profile, generation)
# and in float32 (logits against transformers' float32 logits of the same files). Results go to $OUT/lora.jsonl.
source tools/gpu/lora_rows.sh
timeout 240 python3 tools/gpu/moonlight_checkpoint.py /tmp/moonlight 2>&1 | tail -1 | tee -a $log
ours 150 lora moonlight --device cuda --batch 8 --seq 2048 --steps 3 --checkpoint /tmp/moonlight --reference-logits /tmp/moonlight/reference.json --generate 32 --profile
ours 120 lora moonlight --device cuda --steps 0 --weights float32 --checkpoint /tmp/moonlight --reference-logits /tmp/moonlight/reference_fp32.json
rm -rf /tmp/moonlight
# The token store's training rows again, in the order store, memory, memory, store.
tar -C .gpu -xJf .gpu/data.tar.xz kjv.txt
timeout 150 bash .gpu/run.sh token-store train .gpu/kjv.txt /tmp/token-store-bench small --device cuda --steps 150 --batch 32 --context 512 2>&1 | tail -1 | tee -a $OUT/store.jsonl
