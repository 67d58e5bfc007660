#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan (the
# developer build in build/dev and pyrnn/ are left alone) and run the kernel, network and
# fuzz tests against it, with the Python sources of this working tree.
#
#   tools/sanitize.sh                 # build (incremental) + the default test files below
#   tools/sanitize.sh tests/test_group.py -k packed    # other pytest arguments
#
# Exit status 0 only when pytest passed AND no sanitizer report was written (by the test
# process or by any child process it started). Measured on 2 shared cores: cold build 456 s at
# load 12, rebuild after a bindings.cpp change ~150-340 s, the tests 7.5-15 min (load 5-12);
# ~5-8 minutes of CPU in all. `CXX=clang++ tools/sanitize.sh` builds with Clang into
# build/asan-clang. Run it in the foreground, or the tests' children set their own SIGINT
# handler: a background job of a non-interactive shell starts with SIGINT ignored.
#
# What makes it fast (each part of it a development-only setting; wheels are unaffected):
# - only the ISA levels this CPU can run are compiled (CMake option PYRNN_ISA_LEVELS, e.g.
#   "baseline;avx2" here); dispatch falls back to baseline for a level not built;
# - -O1 for everything (PYRNN_KERNEL_OPT=-O1 for the kernels, which are -O3 otherwise) and
#   -g1 (line tables only): sanitized -O3 kernels take many times longer to compile;
# - Ninja, and a build directory of its own, kept between runs (incremental).
#
# How it runs, for doing it by hand:
# - The interpreter itself is not instrumented, so the ASan runtime must be loaded first:
#   LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)"
#   (libstdc++ too: preloaded before the extension, so that ASan's interceptors of operator
#   new/delete and of C++ exceptions see the same libstdc++ the extension uses; without it
#   the first exception thrown across the boundary can be reported as a bad free or abort).
#   With Clang, "$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)" instead of libasan.
# - ASAN_OPTIONS=detect_leaks=0: CPython keeps its interned objects to the end, which
#   LeakSanitizer reports by the thousand; pyrnn's own leaks are checked by the RSS test in
#   tests/test_thread_safety.py instead.
# - allocator_may_return_null=1: an allocation too large for the machine fails as it does
#   without ASan (NULL: numpy's and pyrnn's MemoryError, which tests ask for) instead of
#   ending the process with an allocation-size-too-big report.
# - Every ASan report goes to a file build/asan/reports/asan.PID (log_path), so reports from
#   child processes (the fuzz suite's, the ISA tests') are counted too, and a report in a child
#   whose crash a test expects is still seen. UBSan findings are fatal (-fno-sanitize-recover),
#   as ASan's are, but GCC 12's UBSan runtime ignores log_path and writes to stderr: pytest
#   runs with --capture=sys (Python's streams captured, not the file descriptors), so that a
#   report from the test process itself reaches this script's output instead of dying with
#   pytest's captured fd 2 (a pointer-arithmetic finding once ended a run with "exit status 1"
#   and nothing else).
# - Python: the package is staged in build/asan/pkg (this tree's pyrnn/*.py, copied at each
#   run, + the sanitized _core) and put first on PYTHONPATH by tools/stage_package.sh (which
#   also steps past an editable install's import hook); the tests' child processes get the
#   same package (tests/support.py). The script checks that pyrnn and pyrnn._core are imported
#   from there, and pytest runs from build/asan so the source folder pyrnn/ is not on sys.path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CXX=${CXX:-g++}
build=build/asan
[[ "$CXX" == *clang* ]] && build=build/asan-clang

# The ISA levels this CPU runs (Linux; elsewhere all of them).
isa_levels=""
if [ "$(uname -m)" = x86_64 ] && [ -r /proc/cpuinfo ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo)
  has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
  isa_levels="baseline"
  has avx2 fma f16c && isa_levels="$isa_levels;avx2"
  has avx512f avx512dq avx512vl avx512bw && isa_levels="$isa_levels;avx512"
fi

# the build tools (as pip's isolated build has them), when this Python lacks them
python -c "import pybind11" 2>/dev/null && command -v ninja >/dev/null && command -v cmake >/dev/null ||
  python -m pip install -q pybind11 cmake ninja
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_CXX_FLAGS="$san -O1 -g1" -DCMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DPYRNN_ISA_LEVELS="$isa_levels" -DPYRNN_KERNEL_OPT=-O1 \
  -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" \
  -DSKBUILD_PROJECT_VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)" >/dev/null
start=$(date +%s)
cmake --build $build
echo "sanitize.sh: build ($isa_levels) took $(($(date +%s) - start)) s"

rm -rf $build/reports && mkdir -p $build/reports
source tools/stage_package.sh && stage_package $build  # (also steps past an editable install)
find $build/pkg -name __pycache__ -prune -exec rm -rf {} +

if [[ "$CXX" == *clang* ]]; then
  asan_rt=$($CXX -print-file-name=libclang_rt.asan-x86_64.so)
else
  asan_rt=$($CXX -print-file-name=libasan.so)
fi
export LD_PRELOAD="$asan_rt $($CXX -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:log_path=$root/$build/reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$root/$build/reports/ubsan"

if [ $# -eq 0 ]; then
  set -- tests/test_engine.py tests/test_engine_errors.py tests/test_activations.py \
    tests/test_network.py tests/test_group.py tests/test_packed_cache.py \
    tests/test_reliability_engine.py tests/test_thread_safety.py tests/test_fuzz.py
fi
cd $build
python - <<EOF
import pyrnn, pyrnn._core
for mod in (pyrnn, pyrnn._core):
    assert mod.__file__.startswith("$root/$build/pkg/"), mod.__file__
assert "-fsanitize=address" in pyrnn._core.config()["cxx_flags"], "not the sanitized build"
EOF
# Test paths are given relative to the working tree; pytest runs in build/asan with the tree's
# configuration (-c), so that nothing puts the source folder pyrnn/ first on sys.path.
args=()
for a in "$@"; do [[ "$a" == tests/* ]] && a="$root/$a"; args+=("$a"); done
status=0
python -m pytest -c "$root/pyproject.toml" --rootdir "$root" -p no:cacheprovider -q --capture=sys "${args[@]}" ||
  status=$?
reports=$(ls reports)
if [ -n "$reports" ]; then
  echo "sanitize.sh: $(echo "$reports" | wc -l) sanitizer report(s) in $build/reports:"
  for r in reports/*; do echo "== $r"; head -40 "$r"; done
  exit 1
fi
echo "sanitize.sh: 0 ASan/UBSan report files; pytest exit status $status"
[ "$status" -eq 0 ] || echo "sanitize.sh: (a UBSan finding is printed above as 'runtime error:')"
exit $status
