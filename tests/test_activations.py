"""The float32 SIMD activations the kernels use, against float64 numpy over the whole range.

Documented bounds (csrc/simd.h): exp 1 ulp, sigmoid 3 ulp, tanh 2 ulp, measured in units of
the float32 spacing at the true value, wherever the true value is a normal float32.
"""

import warnings

import numpy as np
import pytest

from pyrnn import engine

BOUND_ULP = {"exp": 1.0, "sigmoid": 3.0, "tanh": 2.0}
EXACT = {
    "exp": lambda x: np.exp(x),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
}


def every_float(lo, hi, step=1):
    """Every float32 in [lo, hi] (0 < lo < hi), or every step-th."""
    a, b = np.array([lo, hi], dtype=np.float32).view(np.uint32)
    return np.arange(a, b + 1, step, dtype=np.uint32).view(np.float32)


# Where the tanh forms err most (every float32 from 2^-126 to 12 checked against double tanh
# in C): around |x| = 0.51 for (1 - E) / (1 + E), where 2|x| rounds to k = -1, with FMA
# (1.91 ulp, AVX2, AVX-512, NEON), around 0.125 and 0.628 for the baseline's two-part form.
TANH_WORST = [(0.505, 0.52), (0.124, 0.1255), (0.62, 0.635)]


def inputs():
    """Every exponent (random bit patterns of finite float32) plus a dense grid where the
    activations bend, plus every float32 (and its negative) where tanh errs most."""
    worst = np.concatenate([every_float(lo, hi) for lo, hi in TANH_WORST])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**32, 400_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = x[np.isfinite(x)]
    grid = np.linspace(-40, 40, 400_001, dtype=np.float32)
    edges = np.array(
        [88.72, 88.73, 89.0, -87.3, -103.9, -104.0, 0.625, -0.625, 1e-30, -1e-30], dtype=np.float32
    )
    return np.concatenate([x, grid, edges, worst, -worst])


@pytest.mark.parametrize("name", ["exp", "sigmoid", "tanh"])
def test_error_bound_over_the_whole_range(name):
    x = inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = EXACT[name](x.astype(np.float64))
    got = engine.activation(name, x).astype(np.float64)
    normal = (np.abs(want) >= np.finfo(np.float32).tiny) & (
        np.abs(want) <= np.finfo(np.float32).max
    )
    spacing = np.spacing(np.abs(want[normal]).astype(np.float32)).astype(np.float64)
    ulp = np.abs(got[normal] - want[normal]) / spacing
    assert ulp.max() <= BOUND_ULP[name], (
        f"{name}: {ulp.max():.2f} ulp at x={x[normal][ulp.argmax()]!r}"
    )
    # Outside the normal range: overflow to inf, underflow to zero or a subnormal.
    over = np.abs(want) > np.finfo(np.float32).max
    under = np.abs(want) < np.finfo(np.float32).tiny
    assert np.all(np.isinf(got[over]))
    assert np.all(np.abs(got[under]) <= np.finfo(np.float32).tiny)


@pytest.mark.parametrize(
    "name, want",
    [
        ("exp", [np.inf, 0.0, 1.0, 1.0]),
        ("sigmoid", [1.0, 0.0, 0.5, 0.5]),
        ("tanh", [1.0, -1.0, 0.0, -0.0]),
    ],
)
def test_saturation_and_nan(name, want):
    x = np.array([np.inf, -np.inf, 0.0, -0.0, np.nan], dtype=np.float32)
    got = engine.activation(name, x)
    np.testing.assert_array_equal(got[:4], np.array(want, dtype=np.float32))
    assert np.isnan(got[4])
    if name == "tanh":
        assert np.signbit(got[3])


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_monotonic_and_bounded(name):
    """Non-decreasing over every float32 where tanh's forms err most and over every 61st
    from 1e-3 to 12, and never past its limits."""
    pos = np.unique(
        np.concatenate([every_float(1e-3, 12.0, 61)] + [every_float(*r) for r in TANH_WORST])
    )
    x = np.concatenate([-pos[::-1], pos])
    got = engine.activation(name, x)
    assert np.all(np.diff(got) >= 0)
    lo = -1.0 if name == "tanh" else 0.0
    assert got.min() >= lo and got.max() <= 1.0


def test_unknown_activation_is_an_error():
    with pytest.raises(ValueError, match="'exp', 'sigmoid' or 'tanh'"):
        engine.activation("softplus", np.zeros(3, np.float32))
