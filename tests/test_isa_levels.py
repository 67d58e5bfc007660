"""The whole kernel suite under every ISA level this CPU supports.

The kernels are compiled once per ISA level (baseline, AVX2+FMA, AVX-512) and the best is
picked at import; ``PYRNN_ISA`` forces one. The default level runs the suite in this
process; here every other supported level runs ``test_engine.py``,
``test_engine_errors.py`` and ``test_activations.py`` again in a fresh interpreter,
against the same ``pyrnn``.
"""

import subprocess
import sys

import pytest

from pyrnn import engine
from support import TESTS_DIR, subprocess_env

SUITE = ["test_engine.py", "test_engine_errors.py", "test_activations.py"]


def other_levels():
    config = engine.config()
    return [isa for isa in config["isa_supported"] if isa != config["isa"]]


@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_kernel_suite_at_isa_level(isa):
    if isa not in engine.config()["isa_supported"]:
        pytest.skip(f"{isa} is not supported by this CPU/build")
    if isa == engine.config()["isa"]:
        pytest.skip(f"{isa} is the level this process runs the suite at")
    env = subprocess_env(PYRNN_ISA=isa)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-k",
            "not every_supported_isa",
            *SUITE,
        ],
        cwd=TESTS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, f"suite failed at PYRNN_ISA={isa}:\n{tail}"
    assert " passed" in proc.stdout and " failed" not in proc.stdout, tail
    # The child really ran at the forced level.
    check = subprocess.run(
        [sys.executable, "-c", "import pyrnn; print(pyrnn.engine.config()['isa'])"],
        cwd=TESTS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.stdout.strip() == isa, check.stderr
