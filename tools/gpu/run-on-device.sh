#!/usr/bin/env bash
# Runs on the CUDA machine: unpacks the carried .NET runtime and starts the staged app against the
# CUDA libtorch of the machine's own PyTorch (TorchSharp's LibTorchSharp loads it through LD_LIBRARY_PATH).
set -eo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p /tmp/dotnet && [ -x /tmp/dotnet/dotnet ] || tar -C /tmp/dotnet -xJf "$here/dotnet-rt.tar.xz"
export DOTNET_ROOT=/tmp/dotnet PATH=/tmp/dotnet:$PATH DOTNET_CLI_TELEMETRY_OPTOUT=1
py=$(ls -d /opt/torch/.venv/lib/python3*/site-packages 2>/dev/null | head -1)
export LD_LIBRARY_PATH="$py/torch/lib:$(ls -d "$py"/nvidia/*/lib 2>/dev/null | tr '\n' ':')${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
exec dotnet "$here/app/@APP@.dll" "$@"
