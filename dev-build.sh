#!/usr/bin/env bash
# Developer loop: rebuild the extension in build/dev and swap it into pyrnn/ atomically.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f build/dev/build.ninja ]; then
  cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DSKBUILD_PROJECT_VERSION=0.1.0 >/dev/null
fi
cmake --build build/dev
so=$(ls build/dev/_core*.so)
cp "$so" pyrnn/.core.tmp && mv pyrnn/.core.tmp "pyrnn/$(basename "$so")"
