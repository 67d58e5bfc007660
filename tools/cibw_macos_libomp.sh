#!/usr/bin/env bash
# cibuildwheel before-all on macOS: LLVM's OpenMP runtime from conda-forge (llvm-openmp, built
# for old macOS releases, as scikit-learn's wheels use) into $HOME/.pyrnn-libomp, where
# CMake finds it through OpenMP_ROOT and delocate copies libomp.dylib into the wheel.
set -euo pipefail
case "$(uname -m)" in
  arm64) platform=osx-arm64 ;;
  x86_64) platform=osx-64 ;;
  *) echo "unsupported macOS architecture $(uname -m)" >&2; exit 1 ;;
esac
tmp="$(mktemp -d)"
curl -Ls "https://micro.mamba.pm/api/micromamba/$platform/latest" | tar -xj -C "$tmp" bin/micromamba
"$tmp/bin/micromamba" create -y -r "$tmp/root" -p "$HOME/.pyrnn-libomp" -c conda-forge "llvm-openmp>=17"
ls "$HOME/.pyrnn-libomp/lib/libomp.dylib" "$HOME/.pyrnn-libomp/include/omp.h"
