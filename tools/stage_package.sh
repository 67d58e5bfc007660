# Sourced by tools/sanitize.sh and tools/clang_check.sh: `stage_package BUILD_DIR` puts the
# Python sources plus the extension built in BUILD_DIR into BUILD_DIR/pkg/pyrnn and that tree
# first on PYTHONPATH (child processes of the tests inherit it). An editable install of pyrnn
# in this environment (README, "Development") would still take precedence: its import hook
# (scikit-build-core's) stands before PYTHONPATH, and steps aside for a build directory named
# in SKBUILD_EDITABLE_SKIP, which is set here to the editable install's, if there is one.
stage_package() {
  local build=$1 pkg="$1/pkg/pyrnn" editable
  test -f "$build"/_core*.so # the build must have produced the module
  rm -rf "$build/pkg" && mkdir -p "$pkg"
  cp -r pyrnn/. "$pkg/" && rm -f "$pkg"/_core*.so && cp "$build"/_core*.so "$pkg/"
  export PYTHONPATH="$PWD/$build/pkg${PYTHONPATH:+:$PYTHONPATH}"
  editable=$(python -c 'import sys
print(":".join(f.path for f in sys.meta_path if type(f).__name__ == "ScikitBuildRedirectingFinder"))')
  if [ -n "$editable" ]; then
    export SKBUILD_EDITABLE_SKIP="$editable${SKBUILD_EDITABLE_SKIP:+:$SKBUILD_EDITABLE_SKIP}"
  fi
}
