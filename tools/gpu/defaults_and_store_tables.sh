#!/usr/bin/env bash
# The text-classification table's GPU rows (the MoE classifier at the trainer's defaults; the baselines run on the CPU
# and are deterministic on the same split), the learning-quality run of the third seed with the default initialization,
# and the token store's training rows (memory-mapped store against the same stream in memory, then a sparse store of
# more than 2^31 tokens). Needs .gpu/data.tar.xz (the data sets, see docs/benchmarks.md). JSON lines go to $OUT/*.jsonl.
set -uo pipefail
tar -C .gpu -xJf .gpu/data.tar.xz
run() { local limit=$1 file=$2; shift 2; timeout "$limit" bash .gpu/run.sh "$@" 2>&1 | grep -v '^   at \|^frame' | tee -a $OUT/run.log | tail -1 | tee -a "$OUT/$file"; }
run 240 store.jsonl token-store train .gpu/kjv.txt /tmp/token-store-bench small --device cuda --steps 150 --batch 32 --context 512 --sparse-tokens 3000000000
run 120 classification.jsonl classification .gpu/amazon_cells_labelled.txt --no-header --trainers moe --device cuda
run 150 classification.jsonl classification .gpu/fortunes.tsv --trainers moe --device cuda
run 150 classification.jsonl classification .gpu/debian-descriptions.tsv --trainers moe --device cuda
run 200 quality.jsonl quality .gpu/fortunes.txt --seed 3 --device cuda
