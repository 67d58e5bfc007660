#!/usr/bin/env bash
# Rebuild the extension in build/dev and swap it into pyrnn/ atomically, for `python -m pytest`
# from the repository root without installing anything. The documented development loop is the
# editable install (README, "Development"), which needs no copy; this script stays for working
# trees that cannot install.
set -euo pipefail
cd "$(dirname "$0")"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)  # the one place it is written
if [ ! -f build/dev/build.ninja ]; then
  cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DSKBUILD_PROJECT_VERSION="$version" >/dev/null
fi
cmake --build build/dev
so=$(ls build/dev/_core*.so)
cp "$so" pyrnn/.core.tmp && mv pyrnn/.core.tmp "pyrnn/$(basename "$so")"
