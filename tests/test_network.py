"""Deep / bidirectional networks: PyTorch parity (outputs, states, every gradient, packed
variable-length sequences, float32 and float64), float64 finite differences where PyTorch
has no equivalent (GRU reset_after=False, merge_mode="sum", dropout), streaming, buffers."""

import copy
import pickle

import numpy as np
import pytest

import pyrnn.network as network

TORCH_CLASS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
OURS = {"rnn": network.RNN, "lstm": network.LSTM, "gru": network.GRU}
TOL = {np.float64: 1e-10, np.float32: 2e-4}  # relative to each array's largest entry


def assert_close(got, want, dtype, name):
    scale = max(1.0, float(np.max(np.abs(want))))
    err = float(np.max(np.abs(np.asarray(got, np.float64) - want))) if want.size else 0.0
    assert err <= TOL[dtype] * scale, f"{name}: max abs error {err:.3g} (scale {scale:.3g})"


def make_pair(cell, dtype, seed=0, **kwargs):
    """A torch module and our network with the same weights."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    opts = dict(kwargs)
    ours_opts = dict(kwargs)
    if cell == "rnn":
        opts.setdefault("nonlinearity", "tanh")
    tmod = getattr(torch.nn, TORCH_CLASS[cell])(**opts)
    tmod = tmod.double() if dtype == np.float64 else tmod.float()
    net = OURS[cell](dtype=dtype, random_state=seed, **ours_opts)
    net.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    return torch, tmod, net


def run_torch(torch, tmod, cell, x, lengths, h0, c0, dout, dh, dc, batch_first):
    """Torch forward over packed sequences + backward of sum(out*dout) + sum(h_n*dh) (+ c)."""
    xt = torch.tensor(x, requires_grad=True)
    state = None
    if h0 is not None:
        h0t = torch.tensor(h0, requires_grad=True)
        c0t = torch.tensor(c0, requires_grad=True) if cell == "lstm" else None
        state = (h0t, c0t) if cell == "lstm" else h0t
    T = x.shape[1] if batch_first else x.shape[0]
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False
    )
    out_p, st = tmod(packed, state)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=batch_first, total_length=T)
    h_n, c_n = st if cell == "lstm" else (st, None)
    loss = (out * torch.tensor(dout)).sum() + (h_n * torch.tensor(dh)).sum()
    if cell == "lstm":
        loss = loss + (c_n * torch.tensor(dc)).sum()
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in tmod.named_parameters()}
    result = {
        "out": out.detach().numpy(),
        "h_n": h_n.detach().numpy(),
        "dx": xt.grad.numpy(),
        "grads": grads,
    }
    if cell == "lstm":
        result["c_n"] = c_n.detach().numpy()
    if h0 is not None:
        result["dh0"] = h0t.grad.numpy()
        if cell == "lstm":
            result["dc0"] = c0t.grad.numpy()
    return result


def compare_with_torch(
    cell,
    dtype,
    *,
    T=7,
    B=4,
    I=3,
    H=5,
    num_layers=2,
    bidirectional=True,
    batch_first=False,
    lengths=(7, 3, 5, 1),
    with_state=True,
    seed=0,
    **kw,
):
    torch, tmod, net = make_pair(
        cell,
        dtype,
        seed=seed,
        input_size=I,
        hidden_size=H,
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        **kw,
    )
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    shape = (B, T, I) if batch_first else (T, B, I)
    x = rng.standard_normal(shape).astype(dtype)
    lengths = np.array(lengths if lengths is not None else [T] * B)
    h0 = rng.standard_normal((num_layers * D, B, H)).astype(dtype) if with_state else None
    c0 = rng.standard_normal((num_layers * D, B, H)).astype(dtype) if with_state else None
    out_shape = (B, T, D * H) if batch_first else (T, B, D * H)
    dout = rng.standard_normal(out_shape).astype(dtype)
    dh = rng.standard_normal((num_layers * D, B, H)).astype(dtype)
    dc = rng.standard_normal((num_layers * D, B, H)).astype(dtype)
    want = run_torch(torch, tmod, cell, x, lengths, h0, c0, dout, dh, dc, batch_first)

    state = None if h0 is None else ((h0, c0) if cell == "lstm" else h0)
    out, st = net.forward(x, lengths=lengths, state=state)
    h_n, c_n = st if cell == "lstm" else (st, None)
    net.zero_grad()
    dx = net.backward(dout, (dh, dc) if cell == "lstm" else dh)

    assert out.dtype == dtype and out.shape == out_shape
    assert_close(out, want["out"], dtype, "out")
    assert_close(h_n, want["h_n"], dtype, "h_n")
    assert_close(dx, want["dx"], dtype, "dx")
    if cell == "lstm":
        assert_close(c_n, want["c_n"], dtype, "c_n")
    if with_state:
        sg = net.state_grad
        assert_close(sg[0] if cell == "lstm" else sg, want["dh0"], dtype, "dh0")
        if cell == "lstm":
            assert_close(sg[1], want["dc0"], dtype, "dc0")
    ours = net.named_grads()
    assert list(ours) == list(want["grads"])
    for name, g in want["grads"].items():
        assert_close(ours[name], g, dtype, "grad " + name)
    return net


CELLS = [
    pytest.param("rnn", {"nonlinearity": "tanh"}, id="rnn_tanh"),
    pytest.param("rnn", {"nonlinearity": "relu"}, id="rnn_relu"),
    pytest.param("lstm", {}, id="lstm"),
    pytest.param("gru", {}, id="gru"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cell,kw", CELLS)
def test_deep_bidirectional_variable_lengths_matches_torch(cell, kw, dtype):
    compare_with_torch(cell, dtype, **kw)


@pytest.mark.parametrize("cell,kw", CELLS)
def test_three_layers_unidirectional_batch_first_no_state_matches_torch(cell, kw):
    compare_with_torch(
        cell,
        np.float64,
        num_layers=3,
        bidirectional=False,
        batch_first=True,
        with_state=False,
        lengths=(2, 7, 6, 7),
        seed=1,
        **kw,
    )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_no_bias_and_full_lengths_match_torch(cell):
    compare_with_torch(cell, np.float64, bias=False, lengths=None, seed=2)


def test_loaded_torch_weights_reproduce_torch_without_packing():
    torch, tmod, net = make_pair(
        "lstm",
        np.float32,
        input_size=4,
        hidden_size=6,
        num_layers=2,
        bidirectional=True,
        batch_first=True,
    )
    x = np.random.default_rng(3).standard_normal((5, 9, 4)).astype(np.float32)
    with torch.no_grad():
        want, (h, c) = tmod(torch.tensor(x))
    out, (h_n, c_n) = net.forward(x, training=False)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h_n, h.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c_n, c.numpy(), rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- finite differences


def loss_and_grads(net, x, lengths, state, wout, wstate):
    """L = sum(out * wout) + sum(state * wstate); returns (L, dx, flat grad, state_grad)."""
    out, st = net.forward(x, lengths=lengths, state=state)
    sts = st if isinstance(st, tuple) else (st,)
    loss = float(np.sum(out * wout)) + sum(float(np.sum(s * w)) for s, w in zip(sts, wstate))
    net.zero_grad()
    dstate = tuple(wstate) if isinstance(st, tuple) else wstate[0]
    dx = net.backward(wout, dstate)
    return loss, dx, net.grad.copy(), net.state_grad


def check_finite_differences(net, T=5, B=3, lengths=(5, 2, 4), n_checks=25, seed=0):
    """Central differences of the float64 network for a sample of parameters, x and h0."""
    rng = np.random.default_rng(seed)
    L, D, H = net.num_layers, net.num_directions, net.hidden_size
    x = rng.standard_normal((B, T, net.input_size) if net.batch_first else (T, B, net.input_size))
    lstm = net.cell == "lstm"
    state = tuple(rng.standard_normal((L * D, B, H)) for _ in range(2 if lstm else 1))
    wout = rng.standard_normal(net.forward(x, lengths=lengths, training=False)[0].shape)
    wstate = [rng.standard_normal((L * D, B, H)) for _ in state]
    arg_state = state if lstm else state[0]
    base = copy.deepcopy(net)  # same dropout stream for every evaluation

    def loss_at(params=None, x_=None, s_=None):
        n = copy.deepcopy(base)
        if params is not None:
            n.params[...] = params
        st = arg_state if s_ is None else s_
        out, st_n = n.forward(x if x_ is None else x_, lengths=lengths, state=st)
        sts = st_n if lstm else (st_n,)
        return float(np.sum(out * wout)) + sum(float(np.sum(s * w)) for s, w in zip(sts, wstate))

    _, dx, grad, sgrad = loss_and_grads(copy.deepcopy(base), x, lengths, arg_state, wout, wstate)
    eps = 1e-6
    p0 = base.params.copy()
    for i in rng.choice(p0.size, size=min(n_checks, p0.size), replace=False):
        p = p0.copy()
        p[i] += eps
        fp = loss_at(params=p)
        p[i] -= 2 * eps
        fm = loss_at(params=p)
        assert (fp - fm) / (2 * eps) == pytest.approx(grad[i], rel=1e-5, abs=1e-7), f"param {i}"
    for _ in range(8):
        idx = tuple(rng.integers(0, s) for s in x.shape)
        xp = x.copy()
        xp[idx] += eps
        xm = x.copy()
        xm[idx] -= eps
        num = (loss_at(x_=xp) - loss_at(x_=xm)) / (2 * eps)
        assert num == pytest.approx(dx[idx], rel=1e-5, abs=1e-7), f"x{idx}"
    sg = sgrad if lstm else (sgrad,)
    for k in range(len(state)):
        idx = tuple(rng.integers(0, s) for s in state[k].shape)
        sp = [s.copy() for s in state]
        sp[k][idx] += eps
        sm = [s.copy() for s in state]
        sm[k][idx] -= eps
        num = (
            loss_at(s_=tuple(sp) if lstm else sp[0]) - loss_at(s_=tuple(sm) if lstm else sm[0])
        ) / (2 * eps)
        assert num == pytest.approx(sg[k][idx], rel=1e-5, abs=1e-7), f"state {k}{idx}"


def test_gru_reset_before_finite_differences():
    net = network.GRU(
        3, 4, num_layers=2, bidirectional=True, dtype=np.float64, random_state=0, reset_after=False
    )
    check_finite_differences(net)


@pytest.mark.parametrize("cls", [network.LSTM, network.GRU, network.RNN])
def test_merge_mode_sum_finite_differences(cls):
    net = cls(
        3,
        4,
        num_layers=2,
        bidirectional=True,
        merge_mode="sum",
        dtype=np.float64,
        random_state=1,
        batch_first=True,
    )
    assert net.named_parameters()["weight_ih_l1"].shape[1] == 4
    check_finite_differences(net, seed=1)


def test_dropout_between_layers_finite_differences():
    net = network.LSTM(
        3, 4, num_layers=3, bidirectional=True, dropout=0.4, dtype=np.float64, random_state=2
    )
    check_finite_differences(net, seed=2)


def test_dropout_only_in_training_and_seeded():
    x = np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32)
    a = network.GRU(3, 5, num_layers=2, dropout=0.5, random_state=7)
    b = network.GRU(3, 5, num_layers=2, dropout=0.5, random_state=7)
    nodrop = network.GRU(3, 5, num_layers=2, random_state=7)
    np.testing.assert_array_equal(a.params, nodrop.params)
    out_a, _ = a.forward(x)
    out_b, _ = b.forward(x)
    np.testing.assert_array_equal(out_a, out_b)  # same seed, same masks
    ref, _ = nodrop.forward(x, training=False)
    assert not np.allclose(out_a, ref)  # dropout acted in training
    np.testing.assert_array_equal(a.forward(x, training=False)[0], ref)  # and not in inference
    one_layer = network.GRU(3, 5, dropout=0.5, random_state=7)  # nothing between layers
    np.testing.assert_array_equal(
        one_layer.forward(x)[0], network.GRU(3, 5, random_state=7).forward(x)[0]
    )


# ----------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("cls", [network.LSTM, network.GRU, network.RNN])
def test_step_matches_full_forward(cls):
    net = cls(3, 6, num_layers=2, random_state=3, batch_first=True)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 8, 3)).astype(np.float32)
    out, state = net.forward(x, training=False)
    st = None
    for t in range(8):
        out_t, st = net.step(x[:, t], st)
        np.testing.assert_allclose(out_t, out[:, t], rtol=1e-5, atol=1e-6)
    for a, b in zip(
        st if cls is network.LSTM else (st,), state if cls is network.LSTM else (state,)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_step_reset_starts_a_new_sequence_per_row():
    net = network.LSTM(2, 4, num_layers=2, random_state=5)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 3, 2))
    st = None
    for t in range(6):
        reset = np.array([False, t == 3, False])
        out_t, st = net.step(x[t], st, reset=reset)
    fresh, (h, c) = net.forward(x[3:, 1:2], training=False)
    np.testing.assert_allclose(out_t[1], fresh[-1, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(st[1][:, 1], c[:, 0], rtol=1e-5, atol=1e-6)
    full, _ = net.forward(x, training=False)
    np.testing.assert_allclose(out_t[[0, 2]], full[-1, [0, 2]], rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- buffers, diagnostics


def test_flat_buffer_names_and_order_follow_torch():
    torch = pytest.importorskip("torch")
    tmod = torch.nn.GRU(3, 5, num_layers=2, bidirectional=True)
    net = network.GRU(3, 5, num_layers=2, bidirectional=True)
    names = list(net.named_parameters())
    assert names == [k for k, _ in tmod.named_parameters()]
    assert net.params.size == sum(p.numel() for p in tmod.parameters())
    offset = 0
    for view in net.named_parameters().values():
        assert np.shares_memory(view, net.params)
        np.testing.assert_array_equal(view.ravel(), net.params[offset : offset + view.size])
        offset += view.size
    for view in net.named_grads().values():
        assert np.shares_memory(view, net.grad)


def test_seeded_init_is_deterministic_and_pytorch_like():
    a, b = (
        network.LSTM(4, 8, num_layers=2, random_state=1),
        network.LSTM(4, 8, num_layers=2, random_state=1),
    )
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, network.LSTM(4, 8, num_layers=2, random_state=2).params)
    bound = 1 / np.sqrt(8)
    assert np.all(np.abs(a.params) <= bound) and np.abs(a.params).max() > 0.9 * bound
    assert a.params.dtype == np.float32


def test_grad_norms_per_layer_and_direction():
    net = network.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, random_state=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2, 3))
    out, _ = net.forward(x)
    dout = rng.standard_normal(out.shape)
    dh = rng.standard_normal((4, 2, 4))
    net.backward(dout, (dh, None))
    assert set(net.grad_norms) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert set(net.cell_grad_norms) == set(net.grad_norms)
    for v in net.grad_norms.values():
        assert v.shape == (6,) and np.all(np.isfinite(v)) and np.all(v >= 0)
    # Top layer: at its last processed step, dL/dh is dout there plus dL/dh_n.
    fwd_last = np.linalg.norm(dout[5, :, :4] + dh[2])
    rev_last = np.linalg.norm(dout[0, :, 4:] + dh[3])
    assert net.grad_norms[(1, 0)][5] == pytest.approx(fwd_last, rel=1e-10)
    assert net.grad_norms[(1, 1)][0] == pytest.approx(rev_last, rel=1e-10)


def test_gradients_accumulate_until_zero_grad():
    net = network.RNN(2, 3, random_state=0, dtype=np.float64)
    x = np.ones((4, 1, 2))
    out, _ = net.forward(x)
    net.backward(np.ones_like(out))
    g1 = net.grad.copy()
    out, _ = net.forward(x)
    net.backward(np.ones_like(out))
    np.testing.assert_allclose(net.grad, 2 * g1)
    net.zero_grad()
    assert not net.grad.any()


@pytest.mark.parametrize("threads", [1, 2])
def test_training_steps_reuse_workspaces_with_the_same_results(threads, restore_num_threads):
    """Each training forward takes over the buffers of the last backward's workspaces (one per
    layer-direction); the gradients are bitwise those of fresh buffers, as batches change size,
    on one thread and with the directions grouped on two."""
    network.engine.set_num_threads(threads)
    rng = np.random.default_rng(0)
    nets = [network.LSTM(3, 5, num_layers=2, bidirectional=True, random_state=0) for _ in "ab"]
    for T, B in [(7, 4), (7, 4), (5, 2), (9, 4)]:
        x = rng.standard_normal((T, B, 3)).astype(np.float32)
        dout = rng.standard_normal((T, B, 10)).astype(np.float32)
        lengths = rng.integers(1, T + 1, B)
        for i, net in enumerate(nets):
            if i == 1:
                net.release_buffers()  # the second network allocates every step
            net.zero_grad()
            net.forward(x, lengths=lengths)
            net.backward(dout)
        np.testing.assert_array_equal(nets[0].grad, nets[1].grad)
        np.testing.assert_array_equal(nets[0].state_grad[0], nets[1].state_grad[0])
        assert sorted(nets[0]._spare) == [0, 1, 2, 3]  # kept for the next step
    nets[0].release_buffers()
    assert nets[0]._spare is None
    nets[0].forward(x)
    nets[0].backward(dout)  # allocates again
    assert pickle.loads(pickle.dumps(nets[0]))._spare is None  # not pickled


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "make",
    [
        lambda: network.LSTM(3, 6, num_layers=2, bidirectional=True, random_state=0),
        lambda: network.GRU(3, 6, num_layers=3, random_state=0),  # a chain on 2 threads
        lambda: network.RNN(3, 6, num_layers=2, bidirectional=True, merge_mode="sum"),
    ],
    ids=["lstm-bidir", "gru-stack", "rnn-sum"],
)
def test_forward_without_outputs(make, threads, restore_num_threads):
    """outputs=False: out is None; the final state and the gradients of a loss on it are
    bitwise those of the full forward."""
    network.engine.set_num_threads(threads)
    net = make()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 2, 3)).astype(np.float32)
    lengths = [9, 4]
    for training in (False, True):
        out, state = net.forward(x, lengths=lengths, training=training)
        none, state2 = net.forward(x, lengths=lengths, training=training, outputs=False)
        assert out is not None and none is None
        pairs = zip(state, state2) if isinstance(state, tuple) else [(state, state2)]
        for a, b in pairs:
            np.testing.assert_array_equal(a, b)
    dh = rng.standard_normal(np.shape(state[0] if isinstance(state, tuple) else state))
    dstate = (dh.astype(np.float32), None) if net.cell == "lstm" else dh.astype(np.float32)
    grads = []
    for outputs in (True, False):
        net.zero_grad()
        net.forward(x, lengths=lengths, outputs=outputs)
        net.backward(None, dstate)
        grads.append(net.grad.copy())
    np.testing.assert_array_equal(grads[0], grads[1])


@pytest.mark.parametrize("threads", [1, 2])
def test_backward_without_input_grad(threads, restore_num_threads):
    """input_grad=False: backward returns None; the parameter and state gradients are bitwise
    those of the full backward (dropout between the layers, both directions grouped)."""
    network.engine.set_num_threads(threads)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 3, 4)).astype(np.float32)
    dout = rng.standard_normal((8, 3, 10)).astype(np.float32)
    results = []
    for input_grad in (True, False):
        net = network.GRU(4, 5, num_layers=2, bidirectional=True, dropout=0.3, random_state=0)
        net.forward(x, lengths=[8, 2, 5])
        dx = net.backward(dout, input_grad=input_grad)
        assert (dx is None) == (not input_grad)
        results.append((net.grad.copy(), net.state_grad.copy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_pickle_and_state_dict_round_trip():
    net = network.GRU(3, 4, num_layers=2, bidirectional=True, random_state=0, dropout=0.2)
    clone = pickle.loads(pickle.dumps(net))
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    np.testing.assert_array_equal(
        clone.forward(x, training=False)[0], net.forward(x, training=False)[0]
    )
    clone.params[:] = 0  # views are re-linked to the new flat buffer
    assert not clone.named_parameters()["weight_hh_l1_reverse"].any()
    other = network.GRU(3, 4, num_layers=2, bidirectional=True, random_state=9)
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other.params, net.params)
    assert "GRU(3, 4, num_layers=2, bidirectional=True, dropout=0.2)" == repr(net)


def test_float64_end_to_end():
    net = network.LSTM(2, 3, dtype=np.float64, random_state=0)
    out, (h, c) = net.forward(np.ones((3, 1, 2), np.float32))
    assert out.dtype == h.dtype == c.dtype == net.params.dtype == np.float64
    assert net.backward(np.ones_like(out)).dtype == np.float64


# ----------------------------------------------------------------------------- errors


def test_bad_input_raises_clear_errors():
    net = network.LSTM(3, 4, num_layers=2, random_state=0)
    x = np.zeros((5, 2, 3), np.float32)
    with pytest.raises(ValueError, match="has 4 features .* expected 3"):
        net.forward(np.zeros((5, 2, 4)))
    with pytest.raises(ValueError, match="must be 3-D"):
        net.forward(np.zeros((5, 3)))
    with pytest.raises(TypeError, match="real numbers"):
        net.forward(np.full((5, 2, 3), "a"))
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T=5\]"):
        net.forward(x, lengths=[6, 2])
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T=5\]"):
        net.forward(x, lengths=[0, 2])
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        net.forward(x, lengths=[3, 2, 1])
    with pytest.raises(TypeError, match="lengths must be integers"):
        net.forward(x, lengths=[3.0, 2.0])
    with pytest.raises(ValueError, match=r"\(2, 2, 4\)"):
        net.forward(x, state=(np.zeros((1, 2, 4)), np.zeros((2, 2, 4))))
    with pytest.raises(ValueError, match="tuple"):
        net.forward(x, state=np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="not a tuple"):
        network.GRU(3, 4).forward(x, state=(np.zeros((1, 2, 4)),))
    with pytest.raises(ValueError, match="preceding forward"):
        net.backward(np.zeros((5, 2, 4)))
    net.forward(x, training=False)
    with pytest.raises(ValueError, match="preceding forward"):
        net.backward(np.zeros((5, 2, 4)))
    out, _ = net.forward(x)
    with pytest.raises(ValueError, match="dout has 3 features"):
        net.backward(np.zeros((5, 2, 3)))
    with pytest.raises(ValueError, match="shape of forward's output"):
        net.backward(np.zeros((4, 2, 4)))
    net.backward(np.zeros_like(out))
    with pytest.raises(ValueError, match="one backward"):
        net.backward(np.zeros_like(out))
    with pytest.raises(ValueError, match="bidirectional"):
        network.GRU(3, 4, bidirectional=True).step(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 3\)"):
        net.step(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="reset must be"):
        net.step(np.zeros((2, 3)), reset=np.ones(3, bool))


def test_bad_constructor_arguments_and_state_dicts():
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        network.LSTM(3, 0)
    with pytest.raises(ValueError, match="dropout"):
        network.LSTM(3, 4, dropout=1.0)
    with pytest.raises(ValueError, match="merge_mode"):
        network.LSTM(3, 4, merge_mode="mul")
    with pytest.raises(ValueError, match="nonlinearity"):
        network.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="float32 or float64"):
        network.GRU(3, 4, dtype=np.float16)
    net = network.GRU(3, 4, num_layers=2)
    sd = net.state_dict()
    with pytest.raises(ValueError, match=r"unknown names \['weight_ih_l2'\]"):
        net.load_state_dict({**sd, "weight_ih_l2": np.zeros((12, 4))})
    missing = dict(sd)
    del missing["bias_hh_l1"]
    before = net.params.copy()
    with pytest.raises(ValueError, match=r"missing names \['bias_hh_l1'\]"):
        net.load_state_dict(missing)
    with pytest.raises(ValueError, match=r"weight_hh_l0: expected shape \(12, 4\), got \(4, 12\)"):
        net.load_state_dict({**sd, "weight_hh_l0": np.zeros((4, 12))})
    np.testing.assert_array_equal(net.params, before)  # failed loads write nothing


def test_one_engine_call_per_layer_direction(monkeypatch):
    """No Python loop over time: forward and backward call the engine L*D times each."""
    calls = {"forward": 0, "backward": 0}
    for name in calls:
        real = getattr(network.engine, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(network.engine, name, counted)
        # a group (small steps on several threads) is one engine call per layer-direction
        real_group = getattr(network.engine, name + "_group")

        def counted_group(group, *args, _real=real_group, _name=name, **kwargs):
            calls[_name] += len(group)
            return _real(group, *args, **kwargs)

        monkeypatch.setattr(network.engine, name + "_group", counted_group)
    net = network.LSTM(3, 4, num_layers=3, bidirectional=True, random_state=0)
    out, _ = net.forward(np.zeros((50, 2, 3)), lengths=[50, 20])
    net.backward(np.ones_like(out))
    assert calls == {"forward": 6, "backward": 6}
