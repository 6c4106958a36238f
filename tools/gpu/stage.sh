#!/usr/bin/env bash
# Stages a .NET app for a CUDA machine that has PyTorch (and so a CUDA libtorch) but no .NET and no package registry:
# the app is published framework-dependent without the CPU libtorch, beside a packed .NET runtime and a start script.
# Usage (from the repository root): tools/gpu/stage.sh path/to/App.csproj [extra dotnet publish args]
# Result: .gpu/ (git-ignored) holding the .NET runtime (xz), the app published framework-dependent
# without any CPU libtorch, and run.sh. Copy .gpu to the CUDA machine and run there: bash .gpu/run.sh [app args]
set -euo pipefail
proj=${1:?usage: stage.sh App.csproj [publish args]}; shift
root=$(git rev-parse --show-toplevel)
cd "$root"
grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
mkdir -p .gpu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dn=$(dirname "$(readlink -f "$(command -v dotnet)")")
rt=$(ls -d "$dn"/shared/Microsoft.NETCore.App/* | sort -V | tail -1)
stamp=".gpu/runtime-$(basename "$rt").stamp"
if [ ! -f "$stamp" ] || [ ! -f .gpu/dotnet-rt.tar.xz ]; then
  echo "packing .NET runtime $(basename "$rt") (about a minute, once)"
  tar -C "$dn" -cJf .gpu/dotnet-rt.tar.xz dotnet host "shared/Microsoft.NETCore.App/$(basename "$rt")"
  rm -f .gpu/runtime-*.stamp; touch "$stamp"
fi
rm -rf .gpu/app
dotnet publish "$proj" -c Release -r linux-x64 --self-contained false -o .gpu/app "$@" >/dev/null
# the GPU machine brings its own CUDA libtorch (PyTorch's), so drop every CPU libtorch the publish copied
find .gpu/app \( -name 'libtorch*.so*' -o -name 'libc10*.so*' -o -name 'libgomp*.so*' -o -name 'libbackend_with_compiler.so' \
  -o -name 'libshm.so' -o -name 'libfbjni.so' -o -name 'libpytorch_jni.so' \) -delete
rm -rf .gpu/app/runtimes/{win,osx}* 2>/dev/null || true
main=$(basename "$proj" .csproj)
sed "s/@APP@/$main/" "$here/run-on-device.sh" > .gpu/run.sh
size=$(du -sm .gpu | cut -f1)
echo "staged .gpu (${size} MiB): copy it to the CUDA machine and run 'bash .gpu/run.sh ARGS' there"
# Kept small on purpose (the copy is the slow part): anything big here is a native file the CUDA run does not need.
[ "$size" -lt 60 ] || { echo "too large: look in .gpu/app for big native files the GPU run does not need" >&2; exit 1; }
