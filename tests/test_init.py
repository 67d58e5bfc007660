"""Initializers: the distributions/structures they promise, on real networks, in place."""

import numpy as np
import pytest

import pyrnn
from pyrnn import init


def test_uniform_default_bounds_and_seed():
    net = pyrnn.GRU(5, 10, num_layers=2, bidirectional=True, random_state=0)
    buf = net.params
    init.uniform_default(net, random_state=3)
    assert net.params is buf  # in place, the flat buffer stays the same object
    bound = 1 / np.sqrt(10)
    assert np.all(np.abs(net.params) <= bound) and np.abs(net.params).max() > 0.95 * bound
    other = pyrnn.GRU(5, 10, num_layers=2, bidirectional=True, random_state=1)
    init.uniform_default(other, random_state=3)
    np.testing.assert_array_equal(net.params, other.params)


def test_xavier_uniform_per_gate_bounds_and_zero_biases():
    net = pyrnn.LSTM(6, 20, num_layers=2, random_state=0)
    init.xavier_uniform(net, random_state=1, gain=2.0)
    for name, v in net.named_parameters().items():
        if name.startswith("bias"):
            assert not v.any()
            continue
        bound = 2.0 * np.sqrt(6.0 / (v.shape[1] + 20))
        assert np.all(np.abs(v) <= bound) and np.abs(v).max() > 0.9 * bound, name
        assert abs(v.std() - bound / np.sqrt(3)) < 0.1 * bound  # U(-a, a) has std a/sqrt(3)


def test_orthogonal_recurrent_blocks():
    net = pyrnn.GRU(3, 8, bidirectional=True, random_state=0)
    w_ih = net.named_parameters()["weight_ih_l0"].copy()
    init.orthogonal(net, random_state=2, gain=1.5)
    for name in ("weight_hh_l0", "weight_hh_l0_reverse"):
        w = net.named_parameters()[name]
        for g in range(3):
            block = w[g * 8 : (g + 1) * 8].astype(np.float64)
            np.testing.assert_allclose(block @ block.T, 2.25 * np.eye(8), atol=1e-5)
    np.testing.assert_array_equal(net.named_parameters()["weight_ih_l0"], w_ih)  # untouched


def test_identity_irnn_and_forget_bias():
    net = pyrnn.RNN(2, 4, nonlinearity="relu", random_state=0)
    init.identity(net, scale=0.5)
    p = net.named_parameters()
    np.testing.assert_array_equal(p["weight_hh_l0"], 0.5 * np.eye(4))
    assert not p["bias_ih_l0"].any() and not p["bias_hh_l0"].any()

    lstm = pyrnn.LSTM(2, 3, num_layers=2, random_state=0)
    before = lstm.named_parameters()["bias_ih_l1"].copy()
    init.forget_bias(lstm, 1.0)
    for layer in range(2):
        b_ih = lstm.named_parameters()[f"bias_ih_l{layer}"]
        b_hh = lstm.named_parameters()[f"bias_hh_l{layer}"]
        np.testing.assert_array_equal(b_ih[3:6] + b_hh[3:6], np.ones(3))
    np.testing.assert_array_equal(
        lstm.named_parameters()["bias_ih_l1"][[0, 1, 2, 6, 7, 8]], before[[0, 1, 2, 6, 7, 8]]
    )  # other gates untouched


def test_forget_bias_makes_lstm_remember_longer():
    """With a large forget bias and zero input after step 0, the cell state decays slowly."""
    x = np.zeros((40, 1, 1))
    x[0] = 1.0
    decays = []
    for value in (0.0, 3.0):
        net = pyrnn.LSTM(1, 4, dtype=np.float64, random_state=0)
        init.forget_bias(net, value)
        out, _ = net.forward(x)
        dout = np.zeros_like(out)
        dout[-1] = 1.0
        net.backward(dout)
        decays.append(net.grad_norms[(0, 0)][0] / net.grad_norms[(0, 0)][-1])
    assert decays[1] > 100 * decays[0]  # the gradient reaching step 0 vanishes far less


def test_initializer_errors():
    with pytest.raises(ValueError, match="LSTM"):
        init.forget_bias(pyrnn.GRU(2, 3), 1.0)
    with pytest.raises(ValueError, match="needs a network with biases"):
        init.forget_bias(pyrnn.LSTM(2, 3, bias=False), 1.0)
    with pytest.raises(TypeError, match="random_state"):
        init.uniform_default(pyrnn.GRU(2, 3), random_state="seed")
    with pytest.raises(ValueError, match="unexpected parameter name"):
        init.orthogonal(pyrnn.heads.Linear(2, 3))


def test_as_generator_accepts_sklearn_conventions():
    a = init.as_generator(np.random.RandomState(0)).random()
    b = init.as_generator(np.random.RandomState(0)).random()
    assert a == b
    g = np.random.default_rng(1)
    assert init.as_generator(g) is g
    assert init.as_generator(5).random() == np.random.default_rng(5).random()
