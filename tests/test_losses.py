"""Losses: float64 finite differences, masks, PyTorch parity, bad input."""

import numpy as np
import pytest

from pyrnn import losses


def numerical_grad(f, x, eps=1e-6):
    """Central finite differences of the scalar f at x (float64)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def make_case(rng, lead=(5, 3), C=4):
    logits = rng.standard_normal(lead + (C,)) * 2
    y = rng.integers(0, C, size=lead)
    mask = rng.random(lead) < 0.7
    mask.flat[0] = True
    return logits, y, mask


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("use_weight", [False, True])
def test_softmax_cross_entropy_finite_differences(use_mask, use_weight):
    rng = np.random.default_rng(0)
    logits, y, mask = make_case(rng)
    mask = mask if use_mask else None
    cw = rng.uniform(0.2, 2.0, size=4) if use_weight else None
    loss, d = losses.softmax_cross_entropy(logits, y, mask, cw)
    num = numerical_grad(lambda z: losses.softmax_cross_entropy(z, y, mask, cw)[0], logits.copy())
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)
    assert d.dtype == np.float64 and d.shape == logits.shape


def test_softmax_cross_entropy_mask_equals_subset():
    rng = np.random.default_rng(1)
    logits, y, mask = make_case(rng)
    y_padded = np.where(mask, y, -1)  # padding labels are ignored where masked
    loss, d = losses.softmax_cross_entropy(logits, y_padded, mask)
    loss_sub, d_sub = losses.softmax_cross_entropy(logits[mask], y[mask])
    assert loss == pytest.approx(loss_sub, rel=1e-12)
    np.testing.assert_allclose(d[mask] * mask.sum(), d_sub * mask.sum(), rtol=1e-12)
    assert np.all(d[~mask] == 0)


def test_softmax_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    logits, y, _ = make_case(rng, lead=(7,), C=5)
    cw = rng.uniform(0.5, 2.0, size=5)
    for weight in (None, cw):
        z = torch.tensor(logits, requires_grad=True)
        w = None if weight is None else torch.tensor(weight)
        ref = torch.nn.functional.cross_entropy(z, torch.tensor(y), weight=w)
        ref.backward()
        loss, d = losses.softmax_cross_entropy(logits, y, class_weight=weight)
        assert loss == pytest.approx(ref.item(), rel=1e-12)
        np.testing.assert_allclose(d, z.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_softmax_cross_entropy_float32_and_extreme_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [-50.0, 50.0, 3.0]], np.float32)
    loss, d = losses.softmax_cross_entropy(logits, np.array([0, 2]))
    assert d.dtype == np.float32 and np.isfinite(loss) and np.all(np.isfinite(d))
    assert loss == pytest.approx(47.0 / 2, rel=1e-5)  # second item: -log softmax = 50 - 3


@pytest.mark.parametrize("mask_kind", [None, "full", "leading"])
def test_binary_cross_entropy_finite_differences_and_torch(mask_kind):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 2, 3)) * 3
    y = rng.random((6, 2, 3))
    y[0] = np.round(y[0])
    mask = {None: None, "full": rng.random((6, 2, 3)) < 0.6, "leading": rng.random((6, 2)) < 0.6}[
        mask_kind
    ]
    loss, d = losses.binary_cross_entropy(x, y, mask)
    num = numerical_grad(lambda z: losses.binary_cross_entropy(z, y, mask)[0], x.copy())
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)
    torch = pytest.importorskip("torch")
    m = (
        np.ones(x.shape, bool)
        if mask is None
        else np.broadcast_to(mask if mask.ndim == 3 else mask[..., None], x.shape)
    )
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(x[m]), torch.tensor(y[m])
    )
    assert loss == pytest.approx(ref.item(), rel=1e-12)


def test_binary_cross_entropy_extreme_logits_are_finite():
    x = np.array([800.0, -800.0, 0.0], np.float32)
    loss, d = losses.binary_cross_entropy(x, np.array([1.0, 0.0, 1.0]))
    assert np.isfinite(loss) and np.all(np.isfinite(d)) and d.dtype == np.float32
    assert loss == pytest.approx(np.log(2) / 3, rel=1e-6)


@pytest.mark.parametrize("mask_kind", [None, "full", "leading"])
def test_mse_finite_differences_and_torch(mask_kind):
    rng = np.random.default_rng(4)
    p = rng.standard_normal((4, 3, 2))
    y = rng.standard_normal((4, 3, 2))
    mask = {
        None: None,
        "full": rng.random((4, 3, 2)) < 0.5,
        "leading": (rng.random((4, 3)) < 0.5).astype(int),
    }[mask_kind]
    loss, d = losses.mse(p, y, mask)
    num = numerical_grad(lambda z: losses.mse(z, y, mask)[0], p.copy())
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)
    torch = pytest.importorskip("torch")
    m = (
        np.ones(p.shape, bool)
        if mask is None
        else np.broadcast_to(
            np.asarray(mask, bool) if np.ndim(mask) == 3 else np.asarray(mask, bool)[..., None],
            p.shape,
        )
    )
    ref = torch.nn.functional.mse_loss(torch.tensor(p[m]), torch.tensor(y[m]))
    assert loss == pytest.approx(ref.item(), rel=1e-12)


def test_all_masked_gives_zero_not_nan():
    rng = np.random.default_rng(5)
    logits, y, _ = make_case(rng)
    none = np.zeros(y.shape, bool)
    for loss, d in (
        losses.softmax_cross_entropy(logits, y, none),
        losses.binary_cross_entropy(logits, np.zeros_like(logits), none),
        losses.mse(logits, np.zeros_like(logits), none),
    ):
        assert loss == 0.0 and np.all(d == 0)


def test_masked_nan_padding_does_not_leak():
    logits = np.array([[1.0, 2.0], [np.nan, np.nan]])
    loss, d = losses.softmax_cross_entropy(logits, np.array([1, 0]), np.array([True, False]))
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    loss, d = losses.mse(logits, np.zeros_like(logits), np.array([True, False]))
    assert np.isfinite(loss) and np.all(np.isfinite(d))


def test_bad_input_raises_clear_errors():
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match="leading shape"):
        losses.softmax_cross_entropy(logits, np.zeros(4, int))
    with pytest.raises(TypeError, match="integer class indices"):
        losses.softmax_cross_entropy(logits, np.zeros(3))
    with pytest.raises(ValueError, match=r"outside \[0, 4\)"):
        losses.softmax_cross_entropy(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="mask must have shape"):
        losses.softmax_cross_entropy(logits, np.zeros(3, int), mask=np.ones(4, bool))
    with pytest.raises(ValueError, match="only 0 and 1"):
        losses.softmax_cross_entropy(logits, np.zeros(3, int), mask=np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="class_weight must have shape"):
        losses.softmax_cross_entropy(logits, np.zeros(3, int), class_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"targets in \[0, 1\]"):
        losses.binary_cross_entropy(logits, np.full((3, 4), 2.0))
    with pytest.raises(ValueError, match="shape of pred"):
        losses.mse(logits, np.zeros((4, 3)))
    with pytest.raises(TypeError, match="real numbers"):
        losses.mse(np.array(["a"]), np.array(["b"]))
    with pytest.raises(ValueError, match="leading shape"):
        losses.mse(logits, logits, mask=np.ones(5, bool))


# ---------------------------------------------------------------- sample weights


def test_softmax_cross_entropy_sample_weight_finite_differences():
    rng = np.random.default_rng(10)
    logits, y, mask = make_case(rng)
    sw = rng.uniform(0.0, 3.0, size=y.shape)
    cw = rng.uniform(0.2, 2.0, size=4)
    loss, d = losses.softmax_cross_entropy(logits, y, mask, cw, sample_weight=sw)
    num = numerical_grad(
        lambda z: losses.softmax_cross_entropy(z, y, mask, cw, sw)[0], logits.copy()
    )
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)
    # the weighted mean, written out
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    w = mask * cw[y] * sw
    expected = -np.sum(w * np.take_along_axis(logp, y[..., None], -1)[..., 0]) / w.sum()
    assert loss == pytest.approx(expected, rel=1e-12)


def test_integer_sample_weight_equals_repeating_items():
    rng = np.random.default_rng(11)
    logits, y, _ = make_case(rng, lead=(6,))
    sw = np.array([1, 2, 0, 3, 1, 1])
    loss, d = losses.softmax_cross_entropy(logits, y, sample_weight=sw)
    rep = np.repeat(np.arange(6), sw)
    loss_rep, _ = losses.softmax_cross_entropy(logits[rep], y[rep])
    assert loss == pytest.approx(loss_rep, rel=1e-12)
    p, t = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    assert losses.mse(p, t, sample_weight=sw)[0] == pytest.approx(
        losses.mse(p[rep], t[rep])[0], rel=1e-12
    )


def test_mse_sample_weight_finite_differences():
    rng = np.random.default_rng(12)
    p, t = rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5, 3))
    mask = rng.random((4, 5)) < 0.8
    sw = rng.uniform(0.0, 2.0, size=(4, 5))
    loss, d = losses.mse(p, t, mask, sample_weight=sw)
    num = numerical_grad(lambda z: losses.mse(z, t, mask, sw)[0], p.copy())
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)
    assert losses.mse(p, t, mask, sample_weight=np.ones((4, 5)))[0] == pytest.approx(
        losses.mse(p, t, mask)[0]
    )


@pytest.mark.parametrize(
    "sw,match",
    [
        (np.ones(3), "sample_weight must have shape"),
        (-np.ones((5, 3)), "non-negative"),
        (np.full((5, 3), np.nan), "finite"),
    ],
)
def test_sample_weight_bad_input(sw, match):
    logits, y, _ = make_case(np.random.default_rng(13))
    with pytest.raises(ValueError, match=match):
        losses.softmax_cross_entropy(logits, y, sample_weight=sw)


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("use_weight", [False, True])
def test_pinball_finite_differences(use_mask, use_weight):
    rng = np.random.default_rng(14)
    p, t = rng.standard_normal((4, 5, 3)), rng.standard_normal((4, 5, 3))  # no ties
    levels = np.array([0.1, 0.5, 0.9])
    mask = (rng.random((4, 5)) < 0.8) if use_mask else None
    sw = rng.uniform(0.0, 2.0, size=(4, 5)) if use_weight else None
    loss, d = losses.pinball(p, t, levels, mask, sw)
    num = numerical_grad(lambda z: losses.pinball(z, t, levels, mask, sw)[0], p.copy())
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)
    assert d.dtype == np.float64 and loss > 0


def test_pinball_hand_computed():
    # residuals u = y - pred = [2, -1] at levels 0.9, 0.1: rho = [0.9 * 2, -1 * (0.1 - 1)]
    loss, d = losses.pinball([[1.0, 1.0]], [[3.0, 0.0]], [0.9, 0.1])
    assert loss == pytest.approx((1.8 + 0.9) / 2)
    np.testing.assert_allclose(d, [[-0.9 / 2, 0.9 / 2]])
    # weighted: item weights 1 and 3 -> sum w rho / (K sum w)
    loss, _ = losses.pinball(
        [[0.0], [0.0]], [[1.0], [-1.0]], [0.25], sample_weight=np.array([1.0, 3.0])
    )
    assert loss == pytest.approx((1 * 0.25 + 3 * 0.75) / 4)


def test_pinball_minimizer_is_the_quantile():
    """The constant minimizing the mean pinball loss of a sample is its tau-quantile: the
    gradient changes sign there."""
    y = np.random.default_rng(15).standard_normal(401)
    for tau in (0.1, 0.5, 0.9):
        q = np.quantile(y, tau, method="inverted_cdf")
        grad = [
            losses.pinball(np.full((401, 1), c), y[:, None], [tau])[1].sum()
            for c in (q - 1e-9, q + 1e-9)
        ]
        assert grad[0] < 0 < grad[1]


def test_pinball_bad_levels():
    with pytest.raises(ValueError, match="quantiles must be 2 levels in"):
        losses.pinball(np.zeros((3, 2)), np.zeros((3, 2)), [0.5, 1.0])
    with pytest.raises(ValueError, match="quantiles must be 2 levels in"):
        losses.pinball(np.zeros((3, 2)), np.zeros((3, 2)), [0.5])
