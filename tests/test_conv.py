"""Conv1d (+ReLU, +max pooling): numpy reference, finite differences (float64), PyTorch
parity (float64 and float32), thread-count invariance, variable lengths, bad input."""

import pickle

import numpy as np
import pytest

from pyrnn import engine
from pyrnn.conv import Conv1d

from conv_reference import conv1d as conv1d_ref
from reference import relative_error

# (T, B, C_in, C_out, K, stride, dilation, padding, pool, relu)
CASES = [
    pytest.param(23, 3, 2, 5, 4, 2, 1, 1, 1, True, id="stride2_pad1"),
    pytest.param(31, 4, 3, 17, 3, 1, 2, 2, 3, True, id="dilation2_pool3"),
    pytest.param(40, 2, 1, 9, 8, 4, 1, 0, 2, False, id="univariate_linear_pool2"),
    pytest.param(12, 5, 4, 3, 1, 1, 1, 0, 1, True, id="pointwise"),
]


def problem(T, B, C_in, C_out, K, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, C_in)).astype(dtype)
    w = rng.standard_normal((C_out, C_in, K)).astype(dtype)
    b = rng.standard_normal(C_out).astype(dtype)
    return x, w, b


def options(stride, dilation, padding, pool, relu):
    return dict(stride=stride, dilation=dilation, padding=padding, pool=pool, relu=relu)


@pytest.mark.parametrize("T,B,C_in,C_out,K,stride,dilation,padding,pool,relu", CASES)
def test_forward_matches_numpy_reference(
    T, B, C_in, C_out, K, stride, dilation, padding, pool, relu
):
    x, w, b = problem(T, B, C_in, C_out, K)
    opts = options(stride, dilation, padding, pool, relu)
    lengths = np.linspace(T, max(T // 2, K * dilation + pool * stride), B).astype(np.int64)
    for lens in (None, lengths):
        y, _ = engine.conv1d_forward(x, w, b, lengths=lens, **opts)
        np.testing.assert_allclose(
            y, conv1d_ref(x, w, b, lengths=lens, **opts), rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("T,B,C_in,C_out,K,stride,dilation,padding,pool,relu", CASES)
def test_backward_matches_finite_differences(
    T, B, C_in, C_out, K, stride, dilation, padding, pool, relu
):
    x, w, b = problem(T, B, C_in, C_out, K, seed=1)
    opts = options(stride, dilation, padding, pool, relu)
    lengths = np.full(B, T, np.int64)
    lengths[0] = T - 3
    y, ws = engine.conv1d_forward(x, w, b, lengths=lengths, **opts)
    dy = np.random.default_rng(2).standard_normal(y.shape)
    dx, dw, db = engine.conv1d_backward(ws, dy)

    def loss():
        return float(
            np.sum(engine.conv1d_forward(x, w, b, lengths=lengths, training=False, **opts)[0] * dy)
        )

    rng = np.random.default_rng(3)
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        flat = arr.reshape(-1)
        picks = rng.choice(flat.size, size=min(flat.size, 40), replace=False)
        numeric = []
        for j in picks:
            saved = flat[j]
            flat[j] = saved + 1e-6
            lp = loss()
            flat[j] = saved - 1e-6
            lm = loss()
            flat[j] = saved
            numeric.append((lp - lm) / 2e-6)
        assert relative_error(grad.reshape(-1)[picks], numeric) < 1e-6


def torch_conv(torch, x, w, b, stride, dilation, padding, pool, relu):
    """The same layer in PyTorch on (B, C, T) tensors; returns (y (T_out, B, C_out), xt, wt, bt)."""
    xt = torch.tensor(x.transpose(1, 2, 0).copy(), requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    z = torch.nn.functional.conv1d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation)
    if relu:
        z = torch.relu(z)
    if pool > 1:
        z = torch.nn.functional.max_pool1d(z, pool)
    return z.permute(2, 0, 1), xt, wt, bt


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("T,B,C_in,C_out,K,stride,dilation,padding,pool,relu", CASES)
def test_parity_with_torch(T, B, C_in, C_out, K, stride, dilation, padding, pool, relu, dtype, tol):
    torch = pytest.importorskip("torch")
    x, w, b = problem(T, B, C_in, C_out, K, dtype=dtype, seed=4)
    y, ws = engine.conv1d_forward(x, w, b, **options(stride, dilation, padding, pool, relu))
    yt, xt, wt, bt = torch_conv(torch, x, w, b, stride, dilation, padding, pool, relu)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=tol, atol=tol)
    dy = np.random.default_rng(5).standard_normal(y.shape).astype(dtype)
    yt.backward(torch.tensor(dy))
    dx, dw, db = engine.conv1d_backward(ws, dy)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(2, 0, 1), rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=tol, atol=tol * 10 * T)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=tol, atol=tol * 10 * T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_for_any_thread_count(dtype, restore_num_threads):
    x, w, b = problem(700, 8, 6, 40, 5, dtype=dtype, seed=6)
    lengths = np.arange(700 - 7 * 50, 701, 50)
    opts = options(2, 2, 3, 2, True)
    runs = []
    for n in (1, 2, 3):
        engine.set_num_threads(n)
        y, ws = engine.conv1d_forward(x, w, b, lengths=lengths, **opts)
        dy = np.cos(np.arange(y.size)).reshape(y.shape).astype(dtype)
        runs.append((y,) + tuple(engine.conv1d_backward(ws, dy)))
    for other in runs[1:]:
        for a, o in zip(runs[0], other):
            assert np.array_equal(a, o)


@pytest.mark.parametrize("threads", [1, 2])
def test_without_input_grad_the_weight_gradients_are_the_same(threads, restore_num_threads):
    """input_grad=False: dx None (not computed), dweight and dbias bitwise the same; the module
    returns None and adds the same grad."""
    engine.set_num_threads(threads)
    x, w, b = problem(300, 5, 3, 24, 5, dtype=np.float32, seed=8)
    lengths = np.array([300, 120, 7, 300, 64])
    opts = options(2, 1, 2, 2, True)
    dy = None
    results = []
    for input_grad in (True, False):
        y, ws = engine.conv1d_forward(x, w, b, lengths=lengths, **opts)
        dy = np.sin(np.arange(y.size)).reshape(y.shape).astype(np.float32) if dy is None else dy
        results.append(engine.conv1d_backward(ws, dy, input_grad=input_grad))
    assert results[0][0] is not None and results[1][0] is None
    for a, o in zip(results[0][1:], results[1][1:]):
        np.testing.assert_array_equal(a, o)
    grads = []
    for input_grad in (True, False):
        layer = Conv1d(3, 24, 5, 2, padding=2, pool=2, batch_first=True, dtype=np.float32)
        layer.load_state_dict({"weight": w, "bias": b})
        out, _ = layer.forward(x.transpose(1, 0, 2), lengths)
        dx = layer.backward(np.ones_like(out), input_grad=input_grad)
        assert (dx is None) == (not input_grad)
        grads.append(layer.grad.copy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_variable_lengths_equal_separate_sequences():
    x, w, b = problem(30, 3, 2, 4, 3, seed=7)
    lengths = np.array([30, 17, 9])
    layer = Conv1d(2, 4, 3, 2, padding=1, pool=2, dtype=np.float64)
    layer.load_state_dict({"weight": w, "bias": b})
    y, out_lengths = layer.forward(x, lengths)
    assert list(out_lengths) == [layer.output_length(L) for L in lengths]
    for j, L in enumerate(lengths):
        alone, _ = layer.forward(x[:L, j : j + 1], training=False)
        np.testing.assert_array_equal(y[: out_lengths[j], j], alone[:, 0])
        assert not y[out_lengths[j] :, j].any()


def test_module_batch_first_grad_and_pickle():
    torch = pytest.importorskip("torch")
    layer = Conv1d(
        3,
        6,
        5,
        2,
        dilation=1,
        padding=2,
        pool=2,
        batch_first=True,
        dtype=np.float64,
        random_state=0,
    )
    ref = torch.nn.Sequential(
        torch.nn.Conv1d(3, 6, 5, 2, padding=2), torch.nn.ReLU(), torch.nn.MaxPool1d(2)
    ).double()
    ref[0].load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(8).standard_normal((4, 41, 3))  # (B, T, C_in)
    y, _ = layer.forward(x)
    yt = ref(torch.tensor(x.transpose(0, 2, 1)))
    np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    yt.sum().backward()
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape
    np.testing.assert_allclose(layer.dweight, ref[0].weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.dbias, ref[0].bias.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert layer.grad.shape == layer.params.shape
    clone = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(clone.forward(x, training=False)[0], y)
    assert np.shares_memory(clone.weight, clone.params)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(stride=0), ValueError, "stride must be >= 1"),
        (dict(padding=-1), ValueError, "padding must be >= 0"),
        (dict(pool=0), ValueError, "pool must be >= 1"),
        (dict(stride=1.5), TypeError, "stride must be an int"),
        (dict(lengths=np.array([5, 0])), ValueError, "lengths must be in"),
        (dict(lengths=np.array([5, 2])), ValueError, "too short"),
    ],
)
def test_engine_bad_arguments(kwargs, error, match):
    x, w, b = problem(5, 2, 2, 3, 3)
    with pytest.raises(error, match=match):
        engine.conv1d_forward(x, w, b, **kwargs)


def test_engine_bad_arrays():
    x, w, b = problem(5, 2, 2, 3, 3)
    with pytest.raises(ValueError, match=r"weight must have shape \(C_out, C_in, K\)"):
        engine.conv1d_forward(x, w[:, :1], b)
    with pytest.raises(ValueError, match="too few"):
        engine.conv1d_forward(x[:2], w, b)
    with pytest.raises(TypeError, match="dtype"):
        engine.conv1d_forward(x, w.astype(np.float32), b)
    with pytest.raises(ValueError, match="bias must have shape"):
        engine.conv1d_forward(x, w, b[:2])
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, C_in\)"):
        engine.conv1d_forward(x[0], w, b)
    y, ws = engine.conv1d_forward(x, w, b)
    with pytest.raises(ValueError, match="dy must have shape"):
        engine.conv1d_backward(ws, y[:1])
    with pytest.raises(TypeError, match="workspace"):
        engine.conv1d_backward(None, y)


def test_module_bad_input():
    with pytest.raises(ValueError, match="kernel_size"):
        Conv1d(2, 3, 0)
    layer = Conv1d(2, 3, 3)
    with pytest.raises(ValueError, match="C_in = 2"):
        layer.forward(np.zeros((5, 1, 3)))
    with pytest.raises(TypeError, match="real numbers"):
        layer.forward(np.array([[["a", "b"]]]))
    with pytest.raises(ValueError, match="preceding forward"):
        layer.backward(np.zeros((3, 1, 3)))
