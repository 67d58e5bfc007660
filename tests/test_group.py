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


def stack_forward(rng, cell, nonlinearity, reset_after, T, B, I, H, L, lengths, dtype):
    """A unidirectional stack's training forward, layer by layer: (calls, results)."""
    x = rng.standard_normal((T, B, I)).astype(dtype)
    calls = [
        dict(
            layer_weights(rng, cell, I if k == 0 else H, H, dtype),
            cell=cell,
            nonlinearity=nonlinearity,
            reset_after=reset_after,
            lengths=lengths,
            training=True,
        )
        for k in range(L)
    ]
    calls[0]["x"] = x
    return calls


def run_stack(calls):
    inp, out = calls[0]["x"], []
    for c in calls:
        out.append(engine.forward(**dict(c, x=inp)))
        inp = out[-1].y
    return out


@pytest.mark.parametrize("cell, nonlinearity, reset_after", CELLS)
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "T, B, I, H, L",
    [
        (41, 3, 5, 19, 3),  # several chunks of 3 steps and a partial one; 3 layers
        (41, 3, 5, 3, 2),  # dx of the upper layer by dot products (N = H = 3 columns)
        (9, 2, 4, 129, 2),  # G*H rows past a k-block of the dx product (LSTM: 516)
    ],
    ids=["3layers", "narrow", "wide"],
)
@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_chained_backward_is_the_layers_one_by_one(
    nthreads, T, B, I, H, L, cell, nonlinearity, reset_after, input_grad, dtype
):
    # A stack's backward as a wavefront (from the top layer down, each layer's dx published
    # chunk by chunk to the layer below, the layers at once on up to 3 threads): bitwise the
    # layers' backward calls one by one.
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, T + 1, B)
    lengths[0] = T
    calls = stack_forward(rng, cell, nonlinearity, reset_after, T, B, I, H, L, lengths, dtype)
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    dhs = [rng.standard_normal((B, H)).astype(dtype) if k != 1 else None for k in range(L)]
    dcs = [rng.standard_normal((B, H)).astype(dtype) if cell == "lstm" else None for k in range(L)]
    G = engine.num_gates(cell)
    acc = [  # gradients added into given arrays for layer 1, returned for the others
        (
            tuple(
                rng.standard_normal(s).astype(dtype) for s in ((G * H, H), (G * H, H), G * H, G * H)
            )
            if k == 1
            else None
        )
        for k in range(L)
    ]
    acc_want = [None if a is None else tuple(v.copy() for v in a) for a in acc]
    top_down = list(reversed(range(L)))
    with engine.using_threads(nthreads):
        got = engine.backward_group(
            [r.workspace for r in reversed(run_stack(calls))],
            [dy] + [None] * (L - 1),
            [dhs[k] for k in top_down],
            [dcs[k] for k in top_down],
            input_grad=input_grad,
            grads=[acc[k] for k in top_down],
            chained=True,
        )
    want, d = run_stack(calls), dy
    for g, k in zip(got, top_down):
        w = engine.backward(want[k].workspace, d, dhs[k], dcs[k], k > 0 or input_grad, acc_want[k])
        for f in ("dx", "dh0", "dc0", "dweight_ih", "dweight_hh", "dbias_ih", "dbias_hh"):
            assert same(getattr(g, f), getattr(w, f)), (k, f)
        assert np.array_equal(g.grad_norm_h, w.grad_norm_h)
        assert same(g.grad_norm_c, w.grad_norm_c)
        d = w.dx
    assert got[-1].dx is None if not input_grad else got[-1].dx.shape == (T, B, I)
    for a, b in zip(acc[1], acc_want[1]):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_network_backward_chained_is_layer_by_layer(cell):
    # The network's chained branch against the same network run layer by layer, with every
    # backward option: final-state gradients, no input gradient, batch_first, dout None.
    cls = {"lstm": pyrnn.LSTM, "gru": pyrnn.GRU, "rnn": pyrnn.RNN}[cell]
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 40, 6)).astype(np.float32)  # batch_first (B, T, I)
    lengths = np.array([40, 17, 2])
    nets = [cls(6, 11, num_layers=3, batch_first=True, random_state=0) for _ in range(2)]
    nets[1]._group_layers = lambda T, B, backward=False: False
    with engine.using_threads(2):
        assert nets[0]._group_layers(40, 3, backward=True)
        for dout_given, input_grad in ((True, True), (False, False)):
            dout = rng.standard_normal((3, 40, 11)).astype(np.float32) if dout_given else None
            results = []
            for net in nets:
                net.zero_grad()
                out, state = net.forward(x, lengths=lengths)
                assert net._cache["chain_backward"] == (net is nets[0])
                dstate = (
                    tuple(np.ones_like(s) for s in state) if cell == "lstm" else np.ones_like(state)
                )
                dx = net.backward(dout, dstate=dstate, input_grad=input_grad)
                results.append(
                    (dx, net.grad.copy(), net.state_grad, net.grad_norms, net.cell_grad_norms)
                )
            (dx0, g0, s0, n0, c0), (dx1, g1, s1, n1, c1) = results
            assert same(dx0, dx1) and np.array_equal(g0, g1)
            if cell == "lstm":
                assert np.array_equal(s0[0], s1[0]) and np.array_equal(s0[1], s1[1])
            else:
                assert np.array_equal(s0, s1)
            assert n0.keys() == n1.keys() and c0.keys() == c1.keys()
            for key in n0:
                assert np.array_equal(n0[key], n1[key])
            for key in c0:
                assert np.array_equal(c0[key], c1[key])


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
            assert net._group_layers(30, 2, backward=True) == (n == 2)  # chained if a stack
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


def test_chained_backward_errors():
    # Each is refused before anything runs (a chain that ran would wait for steps that never
    # come, or read a dy that no call writes).
    rng = np.random.default_rng(0)
    w1, w2 = (
        layer_weights(rng, "gru", 3, 4, np.float32),
        layer_weights(rng, "gru", 4, 4, np.float32),
    )
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)

    def stack(reverse=(False, False), x2=None):
        r1 = engine.forward(x, **w1, cell="gru", training=True, reverse=reverse[0])
        y = r1.y if x2 is None else x2
        r2 = engine.forward(y, **w2, cell="gru", training=True, reverse=reverse[1])
        return [r2.workspace, r1.workspace]  # top down

    dy = np.ones((5, 2, 4), np.float32)
    for rev in ((True, False), (False, True)):
        with pytest.raises(ValueError, match="reverse must be False"):
            engine.backward_group(stack(rev), [dy, None], chained=True)
    with pytest.raises(ValueError, match="dy must be None"):
        engine.backward_group(stack(), [dy, dy], chained=True)
    wss = stack()
    longer = engine.forward(np.zeros((6, 2, 3), np.float32), **w1, cell="gru", training=True)
    with pytest.raises(ValueError, match="share T and B"):
        engine.backward_group([wss[0], longer.workspace], [dy, None], chained=True)
    other = engine.forward(
        x, **layer_weights(rng, "gru", 3, 5, np.float32), cell="gru", training=True
    )
    with pytest.raises(ValueError, match="input size I of the call before"):
        engine.backward_group([wss[0], other.workspace], [dy, None], chained=True)
    lower3 = engine.forward(np.zeros((5, 3, 3), np.float32), **w1, cell="gru", training=True)
    with pytest.raises(ValueError, match="share T and B"):
        engine.backward_group([wss[0], lower3.workspace], [dy, None], chained=True)
    w64 = {k: v.astype(np.float64) for k, v in w1.items()}
    lower64 = engine.forward(x.astype(np.float64), **w64, cell="gru", training=True)
    with pytest.raises(TypeError, match="one dtype"):
        engine.backward_group([wss[0], lower64.workspace], [dy, None], chained=True)
    with pytest.raises(ValueError, match="appears twice"):
        engine.backward_group([wss[0], wss[0]], [dy, None], chained=True)

    def core_call(ws, dy, input_grad):  # engine.backward_group's tuple, input_grad per call
        return (*ws._args[:8], ws._buf, dy, None, None, ws._args[8], input_grad, None)

    with pytest.raises(ValueError, match="must compute dx"):  # (engine sets it for the upper)
        engine._core.backward_group(
            [core_call(wss[0], dy, False), core_call(wss[1], None, True)], True
        )
    # nothing was consumed by the refusals: the chain still runs, and equals the calls one by one
    got = engine.backward_group(wss, [dy, None], chained=True)
    ref = stack()
    g2 = engine.backward(ref[0], dy)
    g1 = engine.backward(ref[1], g2.dx)
    assert np.array_equal(got[0].dx, g2.dx) and np.array_equal(got[1].dx, g1.dx)
