#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan (the
# installed or editable-installed pyrnn is left alone) and run the kernel and network tests
# against it. Usage: tools/sanitize.sh [pytest arguments]   (default: the test files below)
#
# How it runs, for doing it by hand:
# - The interpreter itself is not instrumented, so the ASan runtime must be loaded first:
#   LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
#   (libstdc++ too: preloaded before the extension, so that ASan's interceptors of operator
#   new/delete and of C++ exceptions see the same libstdc++ the extension uses; without it
#   the first exception thrown across the boundary can be reported as a bad free or abort).
#   With Clang, use "$(clang -print-file-name=libclang_rt.asan-x86_64.so)" instead.
# - ASAN_OPTIONS=detect_leaks=0: CPython keeps its interned objects to the end, which
#   LeakSanitizer reports by the thousand; pyrnn's own leaks are checked by the RSS test in
#   tests/test_thread_safety.py instead.
# - UBSan findings abort the run (-fno-sanitize-recover, halt_on_error=1), as ASan's do, so
#   the exit status says whether the run was clean.
# - The package is staged in build/asan/pkg (Python sources + the sanitized _core) and put
#   first on PYTHONPATH (tools/stage_package.sh); child processes started by the tests
#   inherit all of the above.
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${CXX:-g++}
build=build/asan
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
if [ ! -f $build/build.ninja ]; then
  cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX" \
    -DCMAKE_CXX_FLAGS="$san" -DCMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
    -DSKBUILD_PROJECT_VERSION=0.1.0 >/dev/null
fi
cmake --build $build
source tools/stage_package.sh && stage_package $build

if [[ "$CXX" == *clang* ]]; then
  asan_rt=$($CXX -print-file-name=libclang_rt.asan-x86_64.so)
else
  asan_rt=$($CXX -print-file-name=libasan.so)
fi
export LD_PRELOAD="$asan_rt $($CXX -print-file-name=libstdc++.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# pytest, not python -m pytest: the latter would put the source tree (with the normal
# extension) first on sys.path.
if [ $# -eq 0 ]; then
  set -- tests/test_engine.py tests/test_engine_errors.py tests/test_activations.py \
    tests/test_network.py tests/test_reliability_engine.py tests/test_thread_safety.py -q -p no:cacheprovider
fi
(cd $build && python -c 'import pyrnn; assert "build/asan" in pyrnn.__file__, pyrnn.__file__')
exec python "$(python -c 'import shutil; print(shutil.which("pytest"))')" "$@"
