"""Layer-directions at once (engine.forward_group / backward_group): the two directions of a
bidirectional layer concurrently, a stack of layers as a wavefront. Bitwise the results of
the calls one by one, at any thread count; and networks use them where the plan says so."""

import numpy as np
import pytest

import pyrnn
from pyrnn import engine

CELLS = [
    ("lstm", "tanh", True),
    ("gru", "tanh", True),
    ("gru", "tanh", False),
    ("rnn", "tanh", True),
    ("rnn", "relu", True),
]


@pytest.fixture(params=[1, 2], ids=["1t", "2t"])
def threads(request):
    old = pyrnn.get_num_threads()
    pyrnn.set_num_threads(request.param)
    yield request.param
    pyrnn.set_num_threads(old)


def layer_weights(rng, cell, I, H, dtype):
    G = engine.num_gates(cell)
    return dict(
        weight_ih=rng.uniform(-0.4, 0.4, (G * H, I)).astype(dtype),
        weight_hh=rng.uniform(-0.4, 0.4, (G * H, H)).astype(dtype),
        bias_ih=rng.uniform(-0.1, 0.1, G * H).astype(dtype),
        bias_hh=rng.uniform(-0.1, 0.1, G * H).astype(dtype),
    )


def same(a, b):
    return a is None and b is None or np.array_equal(a, b)


@pytest.mark.parametrize("cell, nonlinearity, reset_after", CELLS)
@pytest.mark.parametrize("training", [False, True])
def test_chained_group_is_the_layers_one_by_one(threads, cell, nonlinearity, reset_after, training):
    rng = np.random.default_rng(1)
    T, B, I, H, L = 37, 3, 5, 19, 3  # H: whole vectors and a tail; T: several chunks
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    lengths = np.array([37, 11, 1])
    common = dict(
        cell=cell,
        nonlinearity=nonlinearity,
        reset_after=reset_after,
        lengths=lengths,
        training=training,
    )
    calls = [
        dict(
            layer_weights(rng, cell, I if k == 0 else H, H, np.float32),
            h0=rng.standard_normal((B, H)).astype(np.float32),
            **common,
        )
        for k in range(L)
    ]
    if cell == "lstm":
        for c in calls:
            c["c0"] = rng.standard_normal((B, H)).astype(np.float32)
    calls[0]["x"] = x
    got = engine.forward_group(calls, chained=True)
    inp, want = x, []
    for c in calls:
        want.append(engine.forward(**dict(c, x=inp)))
        inp = want[-1].y
    for g, w in zip(got, want):
        assert np.array_equal(g.y, w.y) and np.array_equal(g.h_n, w.h_n) and same(g.c_n, w.c_n)
    if training:  # backward through the group's workspaces equals backward through the others
        for g, w in zip(got, want):
            dy = np.ones_like(w.y)
            gg, gw = engine.backward(g.workspace, dy), engine.backward(w.workspace, dy)
            for f in ("dx", "dh0", "dweight_ih", "dweight_hh", "dbias_ih", "grad_norm_h"):
                assert np.array_equal(getattr(gg, f), getattr(gw, f)), f


@pytest.mark.parametrize("cell, nonlinearity, reset_after", CELLS)
def test_directions_at_once_forward_and_backward(threads, cell, nonlinearity, reset_after):
    rng = np.random.default_rng(2)
    T, B, I, H = 23, 4, 6, 10
    x = rng.standard_normal((T, B, I))  # float64 too
    lengths = np.array([23, 5, 9, 1])
    calls = [
        dict(
            layer_weights(rng, cell, I, H, np.float64),
            x=x,
            cell=cell,
            nonlinearity=nonlinearity,
            reset_after=reset_after,
            lengths=lengths,
            reverse=bool(d),
            training=True,
        )
        for d in (0, 1)
    ]
    got = engine.forward_group(calls)
    want = [engine.forward(**c) for c in calls]
    for g, w in zip(got, want):
        assert np.array_equal(g.y, w.y) and np.array_equal(g.h_n, w.h_n)
    dys = [rng.standard_normal((T, B, H)) for _ in range(2)]
    dhs = [rng.standard_normal((B, H)), None]
    gg = engine.backward_group([g.workspace for g in got], dys, dhs)
    gw = [engine.backward(w.workspace, dy, dh_n=dh) for w, dy, dh in zip(want, dys, dhs)]
    for a, b in zip(gg, gw):
        for f in ("dx", "dh0", "dweight_ih", "dweight_hh", "dbias_hh", "grad_norm_h"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
    assert all(g.workspace.consumed for g in got)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_networks_group_small_batches_bitwise(cell, bidirectional):
    cls = {"lstm": pyrnn.LSTM, "gru": pyrnn.GRU, "rnn": pyrnn.RNN}[cell]
    net = cls(7, 24, num_layers=2, bidirectional=bidirectional, random_state=0)
    x = np.random.default_rng(3).standard_normal((30, 2, 7)).astype(np.float32)
    lengths = np.array([30, 12])
    old = pyrnn.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            pyrnn.set_num_threads(n)
            assert net._group_layers(30, 2) == (n == 2)
            net.zero_grad()
            out, state = net.forward(x, lengths=lengths)
            dx = net.backward(np.ones_like(out))
            runs.append((out, dx, net.grad.copy()))
            inf, _ = net.forward(x, lengths=lengths, training=False)
            assert np.array_equal(inf, out)
    finally:
        pyrnn.set_num_threads(old)
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


def test_group_errors():
    rng = np.random.default_rng(0)
    w = layer_weights(rng, "gru", 3, 4, np.float32)
    with pytest.raises(TypeError, match="x is required"):
        engine.forward_group([dict(w, cell="gru")], chained=True)
    x32 = np.zeros((2, 1, 3), np.float32)
    with pytest.raises(TypeError, match="one dtype"):
        engine.forward_group(
            [dict(w, x=x32, cell="gru"), dict(w, x=x32.astype(np.float64), cell="gru")]
        )
    with pytest.raises(ValueError, match="weight_ih must have shape"):  # layer 2 reads H=4, not 3
        engine.forward_group([dict(w, x=x32, cell="gru"), dict(w, cell="gru")], chained=True)
    res = engine.forward_group([dict(w, x=x32, cell="gru")])
    with pytest.raises(ValueError, match="one entry per call"):
        engine.backward_group([res[0].workspace], [])
