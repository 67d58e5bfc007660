"""Cost per element of pyrnn's float32 activations next to numpy's, in the same process.

``engine.activation(name, x)`` (the SIMD ``exp``/``sigmoid``/``tanh`` the kernels use) at the
ISA level this process runs (``PYRNN_ISA`` picks it; ``report.py`` runs this file once per
level the CPU supports) against ``np.exp``, ``np.tanh`` and ``1 / (1 + np.exp(-x))`` on the
same array. The array is large (2^20 float32) so the call's fixed overhead is negligible: the
time per element is the time of one call divided by N. One thread (both sides are serial).
"""

from __future__ import annotations

import numpy as np
import pytest

N = 1 << 20
NAMES = ("exp", "sigmoid", "tanh")
_NUMPY = {"exp": np.exp, "tanh": np.tanh, "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x))}


def _input():
    # |x| up to ~15: the range the gates see, past the clamps of exp and tanh
    return (3.0 * np.random.default_rng(0).standard_normal(N)).astype(np.float32)


@pytest.mark.parametrize("impl", ["pyrnn", "numpy"])
@pytest.mark.parametrize("name", NAMES)
def test_activation(benchmark, run_timed, name, impl):
    from pyrnn import engine

    x = _input()
    fn = (lambda: engine.activation(name, x)) if impl == "pyrnn" else (lambda: _NUMPY[name](x))
    benchmark.group = f"activation/{name}"
    benchmark.extra_info.update(
        kind="activation", name=name, impl=impl, n=N, isa=engine.config()["isa"]
    )
    y = run_timed(benchmark, fn)
    benchmark.extra_info["ns_per_element"] = benchmark.stats.stats.min / N * 1e9
    ref = _NUMPY[name](x.astype(np.float64))
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6, err_msg=f"{impl} {name}")
