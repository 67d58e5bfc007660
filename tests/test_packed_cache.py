"""Packed weights kept across inference calls (engine.pack, networks' cache): bitwise the
same results as packing in every call, and never stale after any kind of weight update."""

import pickle

import numpy as np
import pytest

import pyrnn
from pyrnn import engine, init, optim

CELLS = [
    ("lstm", "tanh", True),
    ("gru", "tanh", True),
    ("gru", "tanh", False),
    ("rnn", "tanh", True),
    ("rnn", "relu", True),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell, nonlinearity, reset_after", CELLS)
def test_forward_with_packed_is_bitwise_forward(cell, nonlinearity, reset_after, dtype):
    rng = np.random.default_rng(0)
    G, T, B, I, H = engine.num_gates(cell), 9, 3, 5, 21
    w = dict(
        weight_ih=rng.uniform(-0.5, 0.5, (G * H, I)).astype(dtype),
        weight_hh=rng.uniform(-0.5, 0.5, (G * H, H)).astype(dtype),
        bias_ih=rng.uniform(-0.5, 0.5, G * H).astype(dtype),
        bias_hh=rng.uniform(-0.5, 0.5, G * H).astype(dtype),
    )
    kw = dict(cell=cell, nonlinearity=nonlinearity, reset_after=reset_after)
    packed = engine.pack(**w, **kw)
    assert packed.dtype == dtype and packed.ndim == 1
    x = rng.standard_normal((T, B, I)).astype(dtype)
    for reverse in (False, True):  # one packing serves both directions
        a = engine.forward(x, **w, **kw, reverse=reverse, lengths=[9, 4, 1], training=False)
        b = engine.forward(
            x, **w, **kw, reverse=reverse, lengths=[9, 4, 1], training=False, packed=packed
        )
        assert np.array_equal(a.y, b.y) and np.array_equal(a.h_n, b.h_n)


def test_packed_of_the_wrong_size_or_dtype_is_an_error():
    rng = np.random.default_rng(0)
    w_ih, w_hh = rng.random((12, 3)).astype(np.float32), rng.random((12, 4)).astype(np.float32)
    packed = engine.pack(w_ih, w_hh, cell="gru")
    x = np.zeros((2, 1, 3), np.float32)
    with pytest.raises(ValueError, match="packed must have shape"):
        engine.forward(x, w_ih, w_hh, cell="gru", packed=packed[:-1])
    with pytest.raises(TypeError, match="packed must have dtype"):
        engine.forward(x, w_ih, w_hh, cell="gru", packed=packed.astype(np.float64))
    with pytest.raises(ValueError, match="packed must have shape"):  # packed for another cell
        engine.forward(x, w_ih[:4], w_hh[:4], cell="rnn", packed=packed)


def fresh_copy(net):
    """The same network without any cache: its output is the truth."""
    clone = type(net)(
        net.input_size,
        net.hidden_size,
        num_layers=net.num_layers,
        bidirectional=net.bidirectional,
        random_state=0,
    )
    clone.load_state_dict(net.state_dict())
    return clone


def infer(net, x):
    return net.forward(x, training=False)[0]


def train_step(net, opt, x):
    opt.zero_grad()
    out, _ = net.forward(x)
    net.backward(np.ones_like(out))
    opt.step()


UPDATES = {
    "sgd": lambda net, x: train_step(net, optim.SGD(net, lr=0.1, momentum=0.9), x),
    "adam-pairs": lambda net, x: train_step(net, optim.Adam([(net.params, net.grad)], lr=0.1), x),
    "adamw": lambda net, x: train_step(net, optim.AdamW(net, lr=0.1), x),
    "rmsprop": lambda net, x: train_step(net, optim.RMSprop(net, lr=0.1), x),
    "adagrad": lambda net, x: train_step(net, optim.Adagrad(net, lr=0.1), x),
    "load_state_dict": lambda net, x: net.load_state_dict(
        {k: v * 0.5 for k, v in net.state_dict().items()}
    ),
    "init.orthogonal": lambda net, x: init.orthogonal(net, random_state=1),
    "init.xavier": lambda net, x: init.xavier_uniform(net, random_state=1),
    "by hand + weights_changed": lambda net, x: (net.params.__imul__(0.5), net.weights_changed()),
}


@pytest.mark.parametrize("update", list(UPDATES))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_networks_never_return_stale_results(update, bidirectional):
    net = pyrnn.GRU(4, 8, num_layers=2, bidirectional=bidirectional, random_state=0)
    x = np.random.default_rng(1).standard_normal((6, 2, 4)).astype(np.float32)
    before = infer(net, x)  # fills the cache
    assert np.array_equal(infer(net, x), before)
    UPDATES[update](net, x)
    after = infer(net, x)
    assert not np.array_equal(after, before)
    assert np.array_equal(after, infer(fresh_copy(net), x))


def test_step_uses_current_weights():
    net = pyrnn.LSTM(3, 5, random_state=0)
    x = np.random.default_rng(2).standard_normal((4, 1, 3)).astype(np.float32)
    out1, state = net.step(x[0])
    net.grad[...] = 1.0
    optim.SGD(net, lr=0.1).step()
    out2, _ = net.step(x[1], state)
    want, _ = fresh_copy(net).step(x[1], state)
    assert np.array_equal(out2, want)


def test_pickled_network_updates_through_an_unpickled_optimizer():
    net = pyrnn.RNN(3, 4, random_state=0)
    opt = optim.SGD(net, lr=0.5)
    x = np.ones((3, 1, 3), np.float32)
    infer(net, x)
    net2, opt2 = pickle.loads(pickle.dumps((net, opt)))
    before = infer(net2, x)
    train_step(net2, opt2, x)
    after = infer(net2, x)
    assert not np.array_equal(before, after)
    assert np.array_equal(after, infer(fresh_copy(net2), x))


def test_estimator_predictions_follow_partial_fit():
    from pyrnn.datasets import load_digits_sequences

    X, y = load_digits_sequences()
    X, y = X[:200], y[:200]
    clf = pyrnn.RNNClassifier(cell="gru", hidden_size=16, max_epochs=1, random_state=0).fit(X, y)
    p1 = clf.predict_proba(X)
    clf.partial_fit(X, y)
    p2 = clf.predict_proba(X)
    assert not np.array_equal(p1, p2)
    fresh = pickle.loads(pickle.dumps(clf))  # no cache survives pickling
    assert np.array_equal(p2, fresh.predict_proba(X))
