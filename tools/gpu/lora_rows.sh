# Shared by the LoRA table scripts (sourced, run on the GPU machine from the repository root): strict mode, the result
# file $OUT/lora.jsonl, and `ours SECONDS ARGS...`, which runs the staged Benchmarks app with ARGS under a time limit,
# keeps its output without .NET/native stack frames in $OUT/lora.log and appends its last line (the JSON result, or the
# error) to $OUT/lora.jsonl.
set -uo pipefail
export PYTHONUNBUFFERED=1
log=$OUT/lora.jsonl
ours() { timeout "$1" bash .gpu/run.sh "${@:2}" 2>&1 | grep -v '^   at \|^frame' | tee -a $OUT/lora.log | tail -1 | tee -a $log; }
