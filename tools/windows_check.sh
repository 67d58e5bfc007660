#!/usr/bin/env bash
# Windows x86-64 portability of the C++ engine, as far as a Linux machine allows: the sources
# (all of csrc/ but bindings.cpp, which needs a Windows Python's headers and import library)
# cross-compiled for Windows, and tools/kernel_check.cpp linked and run as a Windows .exe under
# wine at every ISA level this CPU has:
#   1. MinGW-w64 GCC with -fopenmp (libgomp, winpthreads), every ISA level; run with 2 threads.
#   2. Clang, --target=x86_64-w64-windows-gnu with -fms-extensions: every ISA level compiled
#      without OpenMP and run (Clang's Windows code: LLP64, the Windows x64 ABI, _aligned_malloc;
#      no libomp for MinGW here, so one thread), and the OpenMP pragmas compiled once.
# Not possible here: clang-cl / MSVC mode (needs the MSVC STL, UCRT and Windows SDK headers),
# the extension module and the wheel: the Windows job of .github/workflows/wheels.yml does those.
#   apt-get install mingw-w64 g++-mingw-w64-x86-64-posix wine64 clang   (Debian/Ubuntu)
# About 10 minutes on 2 cores (objects newer than the sources are reused: rm -rf build/windows
# for a clean run). Usage: tools/windows_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/windows
mkdir -p "$out"
gcc=x86_64-w64-mingw32-g++-posix  # the posix-threads variant is the one with libgomp
wine=$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)  # Debian: not on PATH
gccdir=$(dirname "$($gcc -print-libgcc-file-name)")
clang=(clang++ --target=x86_64-w64-windows-gnu -fms-extensions -nostdinc++
       -isystem "$gccdir/include/c++" -isystem "$gccdir/include/c++/x86_64-w64-mingw32"
       -isystem "$gccdir/include/c++/backward" -idirafter "$gccdir/include")  # omp.h from GCC
common=(-std=gnu++17 -Icsrc -Wall -Wno-psabi)
kernel=(-O3 -fno-math-errno)
levels=(baseline avx2 avx512)
isa_flags() {  # the ISA level's flags, read from CMakeLists.txt (one place says them)
  sed -n "s/^ *set(KERNEL_FLAGS_$1 \(.*\))$/\1/p" CMakeLists.txt | tr -d '"'
}

fresh() {  # fresh OBJECT: built after every source and flag it depends on was last changed
  [ -s "$1" ] && [ -z "$(find csrc tools/kernel_check.cpp CMakeLists.txt -newer "$1" -print -quit)" ]
}

build() {  # build NAME COMPILER-ARGS... -- EXTRA-FLAGS...: objects and NAME.exe in $out
  local name=$1; shift
  local cxx=() extra=()
  while [ "$1" != -- ]; do cxx+=("$1"); shift; done; shift
  extra=("$@")
  local objs=()
  for isa in "${levels[@]}"; do
    local o="$out/$name-kernels-$isa.o"
    # shellcheck disable=SC2046
    fresh "$o" || "${cxx[@]}" "${common[@]}" "${kernel[@]}" "${extra[@]}" $(isa_flags "$isa") \
      -DPYRNN_ISA="$isa" -DPYRNN_ISA_NAME="\"$isa\"" -c csrc/kernels.cpp -o "$o"
    objs+=("$o")
  done
  for src in csrc/plan.cpp csrc/load.cpp csrc/dispatch.cpp tools/kernel_check.cpp; do
    local o="$out/$name-$(basename "$src" .cpp).o"
    fresh "$o" || "${cxx[@]}" "${common[@]}" -O2 "${extra[@]}" -DPYRNN_HAVE_BASELINE=1 -DPYRNN_HAVE_AVX2=1 \
      -DPYRNN_HAVE_AVX512=1 -c "$src" -o "$o"
    objs+=("$o")
  done
  # One static .exe (no DLLs to find under wine); GCC's driver links Clang's objects too. (ld
  # notes that the two compilers emit typeinfo-name sections of different sizes: benign.)
  "$gcc" -fopenmp -static "${objs[@]}" -o "$out/$name.exe" 2>&1 |
    { grep -v "duplicate section .*has different size" || true; }
  echo "$name: built $out/$name.exe ($(du -k "$out/$name.exe" | cut -f1) KiB)"
}

run() {  # run NAME: the kernel check at every ISA level under wine
  # wine's prefix (thousands of files) outside the tree, where sdist builds do not walk it
  export WINEPREFIX="${WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/pyrnn-wine}" WINEDEBUG=-all
  for isa in "${levels[@]}"; do
    local rc=0
    OMP_NUM_THREADS=${2:-2} "$wine" "$out/$1.exe" "$isa" > "$out/$1-$isa.txt" 2>&1 || rc=$?
    if [ "$rc" = 2 ]; then
      echo "$1 $isa: skipped (this CPU lacks it)"
    elif [ "$rc" = 0 ]; then
      echo "$1 $isa: $(tail -1 "$out/$1-$isa.txt") ($(grep -c ' ok ' "$out/$1-$isa.txt") checks)"
    else
      cat "$out/$1-$isa.txt"; echo "$1 $isa: FAILED (exit $rc)"; exit 1
    fi
  done
}

build mingw-gcc "$gcc" -- -fopenmp
run mingw-gcc 2
build clang-gnu "${clang[@]}" -- -Wno-unused-variable  # (thread counts unused without OpenMP)
run clang-gnu 1
"${clang[@]}" "${common[@]}" -fopenmp -fsyntax-only -DPYRNN_ISA=baseline \
  -DPYRNN_ISA_NAME='"baseline"' csrc/kernels.cpp
echo "clang-gnu: the OpenMP build of kernels.cpp compiles for Windows"
