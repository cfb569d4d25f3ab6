#!/bin/sh
# Configures and builds dyad into build/ (or $1), against LLVM/MLIR 22.
# Extra arguments go to CMake, e.g. scripts/build.sh build-asan -DDYAD_SANITIZE=ON
# DYAD_WERROR=ON in the environment makes warnings errors (CI sets it).
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift
mkdir -p "$dir"
cmake -S . -B "$dir" -DLLVM_DIR=/usr/lib/llvm-22/lib/cmake/llvm \
  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
  -DDYAD_WERROR="${DYAD_WERROR:-OFF}" "$@" >"$dir/cmake.log" 2>&1 ||
  { cat "$dir/cmake.log"; exit 1; }
cmake --build "$dir" -j"$(nproc)"
