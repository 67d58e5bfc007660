"""The property-based fuzz suite (hypothesis) over pyrnn's public entry points: _core with
arguments of any type, engine forward/backward against the float64 reference, gemm against
numpy, networks (determinism, thread invariance, padding), losses/clipping/optimizers and the
estimators. Each entry point runs in child processes (fuzz_driver.py), so a crash or a hang
is a failed test, not a dead test run.

A few cases per entry point by default; PYRNN_FUZZ_EXAMPLES=N runs N each, PYRNN_FUZZ_SEED=S
other cases. A campaign with a table of outcomes: python tests/fuzz_driver.py --total 10000.
"""

import os

import pytest

pytest.importorskip("hypothesis")

import fuzz_driver  # noqa: E402
from support import subprocess_env  # noqa: E402

DEFAULT_EXAMPLES = {
    "core_any_arguments": 150,
    "engine_forward_backward": 60,
    "engine_gemm": 60,
    "network": 30,
    "losses_optimizers": 80,
    "estimators": 6,
    "engine_pack": 30,
    "engine_group": 20,
    "engine_reuse": 20,
}


@pytest.mark.parametrize("entry", sorted(DEFAULT_EXAMPLES))
def test_fuzz(entry):
    n = int(os.environ.get("PYRNN_FUZZ_EXAMPLES", "0")) or DEFAULT_EXAMPLES[entry]
    seed = int(os.environ.get("PYRNN_FUZZ_SEED", "0"))
    counts, findings = fuzz_driver.run_entry(entry, n, seed, env=subprocess_env())
    assert sum(counts.values()) == n
    assert not findings, findings[:5]
    assert counts["ok"] > 0  # the cases reach the computation, not only the argument checks
