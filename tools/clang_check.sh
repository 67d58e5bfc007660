#!/usr/bin/env bash
# Build the extension with Clang (beside the GCC build that `pip install .` makes) and run the
# kernel tests against it: the activations and the engine (forward/backward against the numpy
# reference, every cell, dtype, thread count and ISA level the CPU has). Installs clang and
# LLVM's OpenMP runtime with apt-get when missing (CI runs as root). About 1-3 minutes.
# Usage: tools/clang_check.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ >/dev/null || ! echo 'int main(){}' | clang++ -fopenmp -x c++ - -o /dev/null 2>/dev/null; then
  apt-get update -qq && apt-get install -y -qq clang libomp-dev >/dev/null
fi
build=build/clang
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DSKBUILD_PROJECT_VERSION=0.1.0 >/dev/null
cmake --build "$build" -- -j2 | grep -E "error|FAILED" || true
# A package tree of the Python sources plus the Clang-built module, first on sys.path.
source tools/stage_package.sh && stage_package "$build"
(cd "$build" && python -c "from pyrnn import engine; c = engine.config(); assert c['compiler'].startswith('clang'), c; print('pyrnn built by', c['compiler'], 'running', c['isa'])")
pytest -q -p no:cacheprovider tests/test_activations.py tests/test_engine.py "$@"
