#!/usr/bin/env bash
# Cross-compile the kernels for aarch64 (NEON), report what the vectorizer did with them, and
# run tools/kernel_check.cpp under qemu-aarch64.
#   apt-get install g++-aarch64-linux-gnu qemu-user    (Debian/Ubuntu)
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-aarch64-linux-gnu-g++}
out=build/aarch64
mkdir -p "$out"
flags=(-std=gnu++17 -O3 -fno-math-errno -fopenmp -Icsrc)
"$CXX" "${flags[@]}" -DPYRNN_ISA=baseline -DPYRNN_ISA_NAME='"baseline"' -c csrc/kernels.cpp \
  -o "$out/kernels.o" -fopt-info-vec-missed 2> "$out/vec-missed.txt"
echo "vectorizer: $(grep -c 'cells.h' "$out/vec-missed.txt" || true) missed notes in cells.h" \
     "(the epilogues are vector code by construction; see $out/vec-missed.txt)"
"$CXX" "${flags[@]}" -c csrc/plan.cpp -o "$out/plan.o"
"$CXX" "${flags[@]}" -c csrc/load.cpp -o "$out/load.o"
"$CXX" "${flags[@]}" -c csrc/dispatch.cpp -o "$out/dispatch.o"
"$CXX" "${flags[@]}" tools/kernel_check.cpp "$out/kernels.o" "$out/plan.o" "$out/load.o" \
  "$out/dispatch.o" \
  -o "$out/kernel_check" -static
echo "NEON fused multiply-adds in the kernels: $(aarch64-linux-gnu-objdump -d "$out/kernels.o" | grep -c 'fmla.*\.4s')"
qemu-aarch64 "$out/kernel_check"
