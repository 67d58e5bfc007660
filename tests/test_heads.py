"""Linear head: float64 finite differences, PyTorch parity, flat buffers, errors."""

import pickle

import numpy as np
import pytest

from pyrnn import heads, losses
from test_losses import numerical_grad


@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients_finite_differences(bias):
    rng = np.random.default_rng(0)
    head = heads.Linear(4, 3, dtype=np.float64, random_state=0, bias=bias)
    x = rng.standard_normal((5, 2, 4))
    y = rng.integers(0, 3, size=(5, 2))

    def loss_of_x(x_):
        return losses.softmax_cross_entropy(head.forward(x_, training=False), y)[0]

    def loss_of_params(p):
        head.params[...] = p
        return loss_of_x(x)

    _, dlogits = losses.softmax_cross_entropy(head.forward(x), y)
    head.zero_grad()
    dx = head.backward(dlogits)
    np.testing.assert_allclose(dx, numerical_grad(loss_of_x, x.copy()), rtol=1e-6, atol=1e-9)
    p0 = head.params.copy()
    num = numerical_grad(loss_of_params, p0.copy())
    head.params[...] = p0
    np.testing.assert_allclose(head.grad, num, rtol=1e-6, atol=1e-9)


def test_linear_matches_torch_and_accumulates():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Linear(6, 2).double()
    head = heads.Linear(6, 2, dtype=np.float64)
    head.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((3, 6))
    xt = torch.tensor(x, requires_grad=True)
    out = ref(xt)
    dy = np.arange(6.0).reshape(3, 2)
    out.backward(torch.tensor(dy))
    np.testing.assert_allclose(head.forward(x), out.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(head.backward(dy), xt.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(head.weight, ref.weight.detach().numpy())
    np.testing.assert_allclose(head.dweight, ref.weight.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(head.dbias, ref.bias.grad.numpy(), rtol=1e-13)
    head.backward(dy)  # gradients accumulate until zero_grad
    np.testing.assert_allclose(head.dbias, 2 * ref.bias.grad.numpy(), rtol=1e-13)


def test_linear_init_seeded_and_views_share_flat_buffer():
    a = heads.Linear(8, 3, random_state=5)
    b = heads.Linear(8, 3, random_state=5)
    np.testing.assert_array_equal(a.params, b.params)
    assert a.params.dtype == np.float32 and a.params.shape == (8 * 3 + 3,)
    assert np.all(np.abs(a.params) <= 1 / np.sqrt(8))
    a.params[:] = 0
    assert np.all(a.weight == 0) and np.all(a.bias == 0)
    assert not np.array_equal(heads.Linear(8, 3, random_state=6).params, b.params)


def test_linear_pickle_keeps_views_linked():
    head = heads.Linear(3, 2, random_state=0)
    clone = pickle.loads(pickle.dumps(head))
    np.testing.assert_array_equal(clone.params, head.params)
    clone.params[:] = 1
    assert np.all(clone.weight == 1) and np.all(clone.bias == 1)
    clone.forward(np.ones((1, 3)))
    clone.backward(np.ones((1, 2)))
    assert np.all(clone.dbias == 1)


def test_linear_bad_input():
    head = heads.Linear(3, 2, random_state=0)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        head.forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="preceding forward"):
        heads.Linear(3, 2).backward(np.ones((1, 2)))
    head.forward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"dy must have shape \(4, 2\)"):
        head.backward(np.ones((4, 3)))
    with pytest.raises(ValueError, match="positive int"):
        heads.Linear(0, 2)
    with pytest.raises(TypeError, match="float32 or float64"):
        heads.Linear(2, 2, dtype=np.int32)
    with pytest.raises(ValueError, match="unknown names"):
        head.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(2), "extra": 1})
    with pytest.raises(ValueError, match="missing names"):
        head.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"bias: expected shape \(2,\)"):
        head.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(3)})


def test_softmax_and_sigmoid_are_stable_and_match_the_losses():
    logits = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]], np.float32)
    p = heads.softmax(logits)
    assert p.dtype == np.float32 and np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[1], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum(), rtol=1e-6)
    # the cross-entropy gradient is (softmax - onehot) / n
    _, d = losses.softmax_cross_entropy(logits[1:].astype(np.float64), np.array([2]))
    np.testing.assert_allclose(d[0], heads.softmax(logits[1:].astype(np.float64))[0] - [0, 0, 1])
    s = heads.sigmoid(np.array([-800.0, 0.0, 800.0, 2.0]))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0, 1 / (1 + np.exp(-2.0))], rtol=1e-12, atol=1e-300)
    assert heads.sigmoid(np.array([1], np.int64)).dtype == np.float64
