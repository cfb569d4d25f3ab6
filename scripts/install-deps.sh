#!/bin/sh
# Installs the Debian 12 packages dyad needs to build and test, skipping what
# is already installed. Run as root (or with sudo). Safe to run again.
set -eu
pkgs="cmake make gcc g++ python3 llvm-22-dev llvm-22-tools libmlir-22-dev
mlir-22-tools clang-22 lld-22 libclang-rt-22-dev clang-format
libonnx-dev protobuf-c-compiler libprotobuf-c-dev libonnx-testdata
qemu-user gcc-aarch64-linux-gnu gcc-riscv64-linux-gnu libc6-dev-arm64-cross
libc6-dev-riscv64-cross"
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
if [ -n "$missing" ]; then
  echo "install-deps: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing >/dev/null
fi
