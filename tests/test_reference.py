"""The numpy reference (tests/reference.py) is itself proven here.

- Backward: central differences in float64 on every parameter, input and
  initial state, for every cell, with and without lengths, both directions.
- Per-timestep gradient norms: against a direct finite-difference computation
  of dL/dh_t and dL/dc_t, splitting the sequence at t.
- Forward semantics: variable lengths equal running each sequence alone,
  reverse equals running the time-flipped input, PyTorch cell formulas.
"""

import numpy as np
import pytest

import reference as ref

CELLS = [pytest.param(*args, id=name) for name, args in ref.CELLS.items()]
SHAPES = [  # (T, B, I, H)
    pytest.param((4, 3, 3, 5), id="T4B3I3H5"),
    pytest.param((1, 1, 2, 3), id="T1B1I2H3"),
    pytest.param((3, 2, 4, 17), id="T3B2I4H17"),
]
TOL = 1e-6


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("variable_length", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_reference_gradients(cell, kw, variable_length, reverse, shape):
    arrays, options = ref.random_problem(
        cell, *shape, variable_length=variable_length, reverse=reverse, **kw
    )
    errors = ref.gradient_check(ref.forward, ref.backward, arrays, options)
    assert set(errors) == {name for name, a in arrays.items() if a is not None}
    assert max(errors.values()) <= TOL, errors


@pytest.mark.parametrize("cell, kw", CELLS)
def test_reference_gradients_without_bias_or_initial_state(cell, kw):
    arrays, options = ref.random_problem(
        cell, 3, 2, 3, 4, bias=False, initial_state=False, variable_length=True, **kw
    )
    errors = ref.gradient_check(ref.forward, ref.backward, arrays, options)
    assert set(errors) == {"x", "weight_ih", "weight_hh"}
    assert max(errors.values()) <= TOL, errors
    res = ref.forward(**arrays, **options)
    grads = ref.backward(res.workspace, *ref.loss_weights(3, 2, 4, cell))
    assert grads.dbias_ih is None and grads.dbias_hh is None
    assert grads.dh0.shape == (2, 4)  # the gradient of the zero initial state


def split_at(arrays, options, t):
    """The problem cut after processing step t: (prefix arrays/options, suffix x, lengths, Wy slice).

    Forward direction processes 0..t then t+1..T-1; reverse T-1..t then t-1..0.
    """
    x, lengths = arrays["x"], options["lengths"]
    T, B, _ = x.shape
    lengths = np.full(B, T) if lengths is None else lengths
    if options["reverse"]:
        prefix_x, suffix_x = x[t:], x[:t]
        prefix_len, suffix_len = np.clip(lengths - t, 0, None), np.minimum(lengths, t)
        suffix_slice = slice(0, t)
    else:
        prefix_x, suffix_x = x[: t + 1], x[t + 1 :]
        prefix_len, suffix_len = np.minimum(lengths, t + 1), np.clip(lengths - t - 1, 0, None)
        suffix_slice = slice(t + 1, T)
    prefix = dict(arrays, x=prefix_x)
    return prefix, dict(options, lengths=prefix_len), suffix_x, suffix_len, suffix_slice


def central_difference(f, array, eps=1e-6):
    """Gradient of the scalar f() w.r.t. every entry of ``array`` (perturbed in place)."""
    grad = np.zeros_like(array)
    for j in np.ndindex(array.shape):
        saved = array[j]
        array[j] = saved + eps
        plus = f()
        array[j] = saved - eps
        minus = f()
        array[j] = saved
        grad[j] = (plus - minus) / (2 * eps)
    return grad


def direct_grad_norms(arrays, options):
    """||dL/dh_t|| and ||dL/dc_t|| over active rows, by finite differences on the state at t."""
    x = arrays["x"]
    T, B, _ = x.shape
    cell = options["cell"]
    H = arrays["weight_hh"].shape[1]
    wy, wh, wc = ref.loss_weights(T, B, H, cell)
    lengths = options["lengths"] if options["lengths"] is not None else np.full(B, T)
    norm_h, norm_c = np.zeros(T), np.zeros(T)
    for t in range(T):
        active = (t < lengths)[:, None]
        prefix, prefix_opt, suffix_x, suffix_len, sl = split_at(arrays, options, t)
        before = ref.forward(**prefix, **prefix_opt)
        h_t = before.h_n.copy()
        c_t = before.c_n.copy() if cell == "lstm" else None
        suffix = dict(arrays, x=suffix_x, h0=h_t, c0=c_t)
        suffix_opt = dict(options, lengths=suffix_len)

        def loss_from_state():
            after = ref.forward(**suffix, **suffix_opt)
            return np.sum(wy[t] * suffix["h0"] * active) + ref.linear_loss(after, wy[sl], wh, wc)

        dh = central_difference(loss_from_state, h_t)
        norm_h[t] = np.linalg.norm(dh[active[:, 0]])
        if cell == "lstm":
            # Perturb c_t and let h_t = o_t * tanh(c_t) follow it on the active rows.
            last = 0 if options["reverse"] else t  # step t within the prefix
            o_t = before.workspace.steps[last]["o"]

            def loss_from_cell():
                suffix["h0"] = np.where(active, o_t * np.tanh(c_t), h_t)
                return loss_from_state()

            dc = central_difference(loss_from_cell, c_t)
            norm_c[t] = np.linalg.norm(dc[active[:, 0]])
    return norm_h, norm_c


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("variable_length", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_reference_grad_norms(cell, kw, variable_length, reverse):
    T, B, I, H = 4, 3, 2, 3
    arrays, options = ref.random_problem(
        cell, T, B, I, H, variable_length=variable_length, reverse=reverse, seed=5, **kw
    )
    res = ref.forward(**arrays, **options)
    grads = ref.backward(res.workspace, *ref.loss_weights(T, B, H, cell))
    norm_h, norm_c = direct_grad_norms(arrays, options)
    assert grads.grad_norm_h.shape == (T,)
    assert np.all(norm_h > 0)
    np.testing.assert_allclose(grads.grad_norm_h, norm_h, rtol=1e-7)
    if cell == "lstm":
        assert grads.grad_norm_c.shape == (T,)
        np.testing.assert_allclose(grads.grad_norm_c, norm_c, rtol=1e-7)
    else:
        assert grads.grad_norm_c is None


def test_grad_norms_count_only_active_rows():
    # One sequence of length 1 next to one of length T: at t >= 1 only row 1 counts.
    arrays, options = ref.random_problem("gru", 3, 2, 2, 4, seed=3)
    options["lengths"] = np.array([1, 3])
    res = ref.forward(**arrays, **options)
    wy, wh, _ = ref.loss_weights(3, 2, 4, "gru")
    grads = ref.backward(res.workspace, wy, wh)
    alone = ref.forward(
        **dict(arrays, x=arrays["x"][:, 1:], h0=arrays["h0"][1:]), **dict(options, lengths=None)
    )
    grads_alone = ref.backward(alone.workspace, wy[:, 1:], wh[1:])
    np.testing.assert_allclose(grads.grad_norm_h[1:], grads_alone.grad_norm_h[1:], rtol=1e-12)
    assert grads.grad_norm_h[0] > grads_alone.grad_norm_h[0]


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_variable_length_equals_each_sequence_alone(cell, kw, reverse):
    T, B, I, H = 5, 4, 3, 4
    arrays, options = ref.random_problem(
        cell, T, B, I, H, variable_length=True, reverse=reverse, **kw
    )
    lengths = options["lengths"]
    wy, wh, wc = ref.loss_weights(T, B, H, cell)
    res = ref.forward(**arrays, **options)
    grads = ref.backward(res.workspace, wy, wh, wc)
    for b, n in enumerate(lengths):
        one = {
            k: (
                None
                if a is None
                else a[:n, b : b + 1]
                if k == "x"
                else a[b : b + 1]
                if k in ("h0", "c0")
                else a
            )
            for k, a in arrays.items()
        }
        alone = ref.forward(**one, **dict(options, lengths=None))
        close = {"rtol": 1e-13, "atol": 1e-15}  # BLAS rounding differs with the batch size
        np.testing.assert_allclose(res.y[:n, b], alone.y[:, 0], **close)
        np.testing.assert_array_equal(res.y[n:, b], 0)
        np.testing.assert_allclose(res.h_n[b], alone.h_n[0], **close)
        if cell == "lstm":
            np.testing.assert_allclose(res.c_n[b], alone.c_n[0], **close)
        g = ref.backward(
            alone.workspace, wy[:n, b : b + 1], wh[b : b + 1], None if wc is None else wc[b : b + 1]
        )
        np.testing.assert_allclose(grads.dx[:n, b], g.dx[:, 0], **close)
        np.testing.assert_array_equal(grads.dx[n:, b], 0)
        np.testing.assert_allclose(grads.dh0[b], g.dh0[0], **close)


@pytest.mark.parametrize("cell, kw", CELLS)
def test_reverse_equals_flipped_input(cell, kw):
    arrays, options = ref.random_problem(cell, 4, 2, 3, 5, **kw)
    rev = ref.forward(**arrays, **dict(options, reverse=True))
    flipped = ref.forward(**dict(arrays, x=arrays["x"][::-1].copy()), **options)
    np.testing.assert_allclose(rev.y, flipped.y[::-1], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(rev.h_n, flipped.h_n, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("cell, kw", CELLS)
def test_float32_follows_float64(cell, kw):
    arrays, options = ref.random_problem(cell, 4, 3, 3, 5, variable_length=True, **kw)
    single = {k: None if a is None else a.astype(np.float32) for k, a in arrays.items()}
    res64, res32 = ref.forward(**arrays, **options), ref.forward(**single, **options)
    assert res32.y.dtype == np.float32 and res32.h_n.dtype == np.float32
    np.testing.assert_allclose(res32.y, res64.y, rtol=1e-4, atol=1e-5)
    w64 = ref.loss_weights(4, 3, 5, cell)
    w32 = ref.loss_weights(4, 3, 5, cell, dtype=np.float32)
    g64, g32 = ref.backward(res64.workspace, *w64), ref.backward(res32.workspace, *w32)
    assert g32.dweight_hh.dtype == np.float32
    np.testing.assert_allclose(g32.dweight_hh, g64.dweight_hh, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell, kw", [p for p in CELLS if p.id != "gru_reset_before"])
def test_reference_forward_matches_torch(cell, kw):
    torch = pytest.importorskip("torch")
    T, B, I, H = 4, 3, 3, 5
    arrays, options = ref.random_problem(cell, T, B, I, H, **kw)
    modules = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    extra = {"nonlinearity": kw["nonlinearity"]} if cell == "rnn" else {}
    module = modules[cell](I, H, **extra).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(module, name + "_l0").copy_(torch.from_numpy(arrays[name]))
        h0 = torch.from_numpy(arrays["h0"])[None]
        state = (h0, torch.from_numpy(arrays["c0"])[None]) if cell == "lstm" else h0
        y, final = module(torch.from_numpy(arrays["x"]), state)
    res = ref.forward(**arrays, **options)
    np.testing.assert_allclose(res.y, y.numpy(), rtol=1e-12, atol=1e-14)
    h_n = final[0] if cell == "lstm" else final
    np.testing.assert_allclose(res.h_n, h_n[0].numpy(), rtol=1e-12, atol=1e-14)
    if cell == "lstm":
        np.testing.assert_allclose(res.c_n, final[1][0].numpy(), rtol=1e-12, atol=1e-14)
