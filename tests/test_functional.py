"""pyrnn.functional (softmax, log-softmax, sigmoid, dropout masks) and engine.check_lengths."""

import numpy as np
import pytest

from pyrnn import engine, functional


def test_log_softmax_and_softmax_agree_and_are_stable():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0], [-np.inf, 0.0, 1.0]])
    p = functional.softmax(logits)
    logp = functional.log_softmax(logits)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(np.exp(logp), p, rtol=1e-15, atol=1e-300)
    z = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(logp[1], z - np.log(np.exp(z).sum()), rtol=1e-15)
    assert p[2, 0] == 0 and logp[2, 0] == -np.inf  # a -inf score is never drawn
    both = functional.softmax_and_log_softmax(logits[1:2])
    np.testing.assert_array_equal(both[0], p[1:2])
    np.testing.assert_array_equal(both[1], logp[1:2])
    np.testing.assert_allclose(functional.softmax(logits.T, axis=0), p.T, rtol=1e-15)
    assert functional.log_softmax(np.array([1, 2])).dtype == np.float64
    assert functional.softmax(logits.astype(np.float32)).dtype == np.float32


def test_log_softmax_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((4, 5, 6))
    np.testing.assert_allclose(
        functional.log_softmax(x, axis=1),
        torch.log_softmax(torch.tensor(x), dim=1).numpy(),
        rtol=1e-13,
    )


def test_dropout_mask():
    assert functional.dropout_mask((3, 4), 0.0, np.float32, 0) is None
    m = functional.dropout_mask((200, 100), 0.25, np.float32, 0)
    assert m.dtype == np.float32
    assert set(np.unique(m).tolist()) == {0.0, np.float32(1 / 0.75)}
    assert abs(np.mean(m == 0) - 0.25) < 0.01
    # seeded: the same mask from the same seed, Generator or RandomState
    np.testing.assert_array_equal(m, functional.dropout_mask((200, 100), 0.25, np.float32, 0))
    a = functional.dropout_mask((5, 5), 0.5, np.float64, np.random.RandomState(3))
    b = functional.dropout_mask((5, 5), 0.5, np.float64, np.random.RandomState(3))
    np.testing.assert_array_equal(a, b)


def test_check_lengths():
    out = engine.check_lengths([3, 1, 2], T=3, B=3)
    assert out.dtype == np.int64 and out.flags.c_contiguous
    assert engine.check_lengths(None, 3, 3) is None
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T=3\], got lengths\[1\] = 4"):
        engine.check_lengths(np.array([1, 4, 2]), 3, 3)
    with pytest.raises(ValueError, match=r"lengths must have shape \(3,\)"):
        engine.check_lengths(np.array([1, 2]), 3, 3)
    with pytest.raises(TypeError, match="lengths must be integers, got dtype float64"):
        engine.check_lengths(np.array([1.0, 2.0, 3.0]), 3, 3)
    with pytest.raises(TypeError, match="lengths must be integers"):
        engine.check_lengths(np.array([True, True, True]), 3, 3)
