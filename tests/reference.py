"""Readable pure-numpy reference of one recurrent layer in one direction.

This is the oracle the C++ engine is checked against: forward and backprop
through time (BPTT) for the vanilla RNN (tanh / relu), the LSTM (gates i, f, g,
o) and the GRU (gates r, z, n; ``reset_after`` True = PyTorch, False =
textbook). It mirrors ``pyrnn.engine.forward`` / ``pyrnn.engine.backward``:
same argument names, same result field names, PyTorch parameter layout.

It computes in the dtype of ``x`` (use float64 for gradient checks) and is
written for clarity, not speed: one Python step per timestep.

Shapes (G = 1 for rnn, 4 for lstm, 3 for gru):
    x (T, B, I), weight_ih (G*H, I), weight_hh (G*H, H), bias_ih / bias_hh (G*H,),
    lengths (B,) int with 1 <= L <= T, h0 / c0 (B, H), y (T, B, H).

Variable length: at time t, sequence b is active iff t < lengths[b]. An
inactive step leaves the state unchanged and outputs zeros. The forward
direction runs t = 0..T-1 and the reverse direction t = T-1..0, so a reversed
sequence of length L starts at its own last step L-1. The final state is the
state after the last processed step.
"""

from types import SimpleNamespace

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}

# Every cell variant, id -> (cell, extra options), shared by the test files (which make
# pytest parameters of them: this module stays free of pytest).
CELLS = {
    "rnn_tanh": ("rnn", {"nonlinearity": "tanh"}),
    "rnn_relu": ("rnn", {"nonlinearity": "relu"}),
    "lstm": ("lstm", {}),
    "gru_reset_after": ("gru", {"reset_after": True}),
    "gru_reset_before": ("gru", {"reset_after": False}),
}


def sigmoid(a):
    """Logistic function, elementwise."""
    return 1.0 / (1.0 + np.exp(-a))


def time_order(T, reverse):
    """Timesteps in the order the layer processes them."""
    return range(T - 1, -1, -1) if reverse else range(T)


def forward(
    x,
    weight_ih,
    weight_hh,
    bias_ih=None,
    bias_hh=None,
    *,
    cell="lstm",
    nonlinearity="tanh",
    reset_after=True,
    lengths=None,
    h0=None,
    c0=None,
    reverse=False,
):
    """Run one layer over x (T, B, I).

    Returns a namespace with y (T, B, H), h_n (B, H), c_n (B, H) or None (LSTM
    only) and ``workspace``: everything ``backward`` needs.
    """
    T, B, _ = x.shape
    H = weight_hh.shape[1]
    G = GATES[cell]
    assert weight_ih.shape[0] == G * H and weight_hh.shape == (G * H, H)
    dtype = x.dtype
    b_ih = np.zeros(G * H, dtype) if bias_ih is None else bias_ih
    b_hh = np.zeros(G * H, dtype) if bias_hh is None else bias_hh
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    h = np.zeros((B, H), dtype) if h0 is None else h0.copy()
    c = None
    if cell == "lstm":
        c = np.zeros((B, H), dtype) if c0 is None else c0.copy()

    y = np.zeros((T, B, H), dtype)
    steps = {}  # t -> what the backward pass of step t needs
    for t in time_order(T, reverse):
        active = (t < lengths)[:, None]  # (B, 1)
        gi = x[t] @ weight_ih.T + b_ih  # (B, G*H)
        if cell == "rnn":
            h_new, saved = rnn_step(gi, h, weight_hh, b_hh, nonlinearity)
            c_new = None
        elif cell == "lstm":
            h_new, c_new, saved = lstm_step(gi, h, c, weight_hh, b_hh)
        else:
            h_new, saved = gru_step(gi, h, weight_hh, b_hh, reset_after)
            c_new = None
        saved.update(x=x[t], h_prev=h, c_prev=c, h=h_new, active=active)
        steps[t] = saved
        y[t] = np.where(active, h_new, 0)
        h = np.where(active, h_new, h)
        if cell == "lstm":
            c = np.where(active, c_new, c)

    workspace = SimpleNamespace(
        steps=steps,
        cell=cell,
        nonlinearity=nonlinearity,
        reset_after=reset_after,
        reverse=reverse,
        weight_ih=weight_ih,
        weight_hh=weight_hh,
        has_bias_ih=bias_ih is not None,
        has_bias_hh=bias_hh is not None,
        shape=(T, B, x.shape[2], H),
        dtype=dtype,
    )
    return SimpleNamespace(y=y, h_n=h, c_n=c, workspace=workspace)


def rnn_step(gi, h, weight_hh, b_hh, nonlinearity):
    """h' = act(gi + h W_hh^T + b_hh)."""
    pre = gi + h @ weight_hh.T + b_hh
    h_new = np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)
    return h_new, {"pre": pre}


def lstm_step(gi, h, c, weight_hh, b_hh):
    """Gates i, f, g, o; c' = f*c + i*g; h' = o*tanh(c')."""
    a = gi + h @ weight_hh.T + b_hh
    ai, af, ag, ao = np.split(a, 4, axis=1)
    i, f, g, o = sigmoid(ai), sigmoid(af), np.tanh(ag), sigmoid(ao)
    c_new = f * c + i * g
    tc = np.tanh(c_new)
    return o * tc, c_new, {"i": i, "f": f, "g": g, "o": o, "tc": tc}


def gru_step(gi, h, weight_hh, b_hh, reset_after):
    """Gates r, z, n; h' = (1-z)*n + z*h.

    reset_after=True:  n = tanh(W_in x + b_in + r*(W_hn h + b_hn))
    reset_after=False: n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)
    """
    H = h.shape[1]
    gi_r, gi_z, gi_n = np.split(gi, 3, axis=1)
    w_rz, w_n = weight_hh[: 2 * H], weight_hh[2 * H :]
    gh_rz = h @ w_rz.T + b_hh[: 2 * H]
    r = sigmoid(gi_r + gh_rz[:, :H])
    z = sigmoid(gi_z + gh_rz[:, H:])
    if reset_after:
        gh_n = h @ w_n.T + b_hh[2 * H :]
        n = np.tanh(gi_n + r * gh_n)
    else:
        gh_n = (r * h) @ w_n.T + b_hh[2 * H :]
        n = np.tanh(gi_n + gh_n)
    h_new = (1 - z) * n + z * h
    return h_new, {"r": r, "z": z, "n": n, "gh_n": gh_n}


def backward(workspace, dy=None, dh_n=None, dc_n=None):
    """Backprop through time from dy (T, B, H), dh_n (B, H) and dc_n (B, H).

    None means zeros; dy at padded steps is ignored. Returns a namespace with
    dx (T, B, I), dh0 (B, H), dc0 (B, H) or None, dweight_ih, dweight_hh,
    dbias_ih, dbias_hh (None where the bias was None), and the per-timestep
    norms grad_norm_h (T,) / grad_norm_c (T,) or None: at time t, the Frobenius
    norm over the active rows of the total gradient dL/dh_t (dy[t] plus what
    flows back from later steps), resp. dL/dc_t (including the path via h_t).
    """
    ws = workspace
    T, B, I, H = ws.shape
    dtype = ws.dtype
    lstm = ws.cell == "lstm"
    dy = np.zeros((T, B, H), dtype) if dy is None else dy
    dh = np.zeros((B, H), dtype) if dh_n is None else dh_n.copy()
    dc = np.zeros((B, H), dtype) if lstm else None
    if lstm and dc_n is not None:
        dc = dc_n.copy()

    dx = np.zeros((T, B, I), dtype)
    dw_ih = np.zeros_like(ws.weight_ih)
    dw_hh = np.zeros_like(ws.weight_hh)
    db_ih = np.zeros(ws.weight_ih.shape[0], dtype)
    db_hh = np.zeros(ws.weight_hh.shape[0], dtype)
    norm_h = np.zeros(T, dtype)
    norm_c = np.zeros(T, dtype) if lstm else None

    # Walk the steps in the opposite order from forward.
    for t in reversed(list(time_order(T, ws.reverse))):
        s = ws.steps[t]
        active = s["active"]
        dh_t = np.where(active, dh + dy[t], 0)  # total dL/dh_t on active rows
        norm_h[t] = np.sqrt(np.sum(dh_t * dh_t))
        if ws.cell == "rnn":
            d_gi, d_gh, dh_prev = rnn_step_backward(s, dh_t, ws.weight_hh, ws.nonlinearity)
        elif ws.cell == "lstm":
            dc_t = np.where(active, dc + dh_t * s["o"] * (1 - s["tc"] ** 2), 0)
            norm_c[t] = np.sqrt(np.sum(dc_t * dc_t))
            d_gi, dh_prev, dc_prev = lstm_step_backward(s, dh_t, dc_t, ws.weight_hh)
            d_gh = d_gi
            dc = np.where(active, dc_prev, dc)
        else:
            d_gi, d_gh, dh_prev = gru_step_backward(s, dh_t, ws.weight_hh, ws.reset_after)
        # d_gi / d_gh are zero on inactive rows, so they add nothing below.
        dx[t] = d_gi @ ws.weight_ih
        dw_ih += d_gi.T @ s["x"]
        db_ih += d_gi.sum(axis=0)
        db_hh += d_gh.sum(axis=0)
        if ws.cell == "gru" and not ws.reset_after:
            # The n rows of W_hh multiply r*h_prev, the r and z rows multiply h_prev.
            dw_hh[: 2 * H] += d_gh[:, : 2 * H].T @ s["h_prev"]
            dw_hh[2 * H :] += d_gh[:, 2 * H :].T @ (s["r"] * s["h_prev"])
        else:
            dw_hh += d_gh.T @ s["h_prev"]
        dh = np.where(active, dh_prev, dh)

    return SimpleNamespace(
        dx=dx,
        dh0=dh,
        dc0=dc,
        dweight_ih=dw_ih,
        dweight_hh=dw_hh,
        dbias_ih=db_ih if ws.has_bias_ih else None,
        dbias_hh=db_hh if ws.has_bias_hh else None,
        grad_norm_h=norm_h,
        grad_norm_c=norm_c,
    )


def rnn_step_backward(s, dh_t, weight_hh, nonlinearity):
    """Returns (d input-side pre-activation, d hidden-side pre-activation, dh_prev)."""
    if nonlinearity == "tanh":
        d_pre = dh_t * (1 - s["h"] ** 2)
    else:
        d_pre = dh_t * (s["pre"] > 0)
    return d_pre, d_pre, d_pre @ weight_hh


def lstm_step_backward(s, dh_t, dc_t, weight_hh):
    """dh_t and dc_t are the total gradients of h_t and c_t.

    Returns (d gate pre-activations (B, 4H), dh_prev, dc_prev).
    """
    i, f, g, o = s["i"], s["f"], s["g"], s["o"]
    d_i = dc_t * g * i * (1 - i)
    d_f = dc_t * s["c_prev"] * f * (1 - f)
    d_g = dc_t * i * (1 - g * g)
    d_o = dh_t * s["tc"] * o * (1 - o)
    d_gates = np.concatenate([d_i, d_f, d_g, d_o], axis=1)
    return d_gates, d_gates @ weight_hh, dc_t * f


def gru_step_backward(s, dh_t, weight_hh, reset_after):
    """Returns (d input-side gates (B, 3H), d hidden-side gates (B, 3H), dh_prev).

    The hidden-side gradient of the n gate is taken w.r.t. gh_n, the term that
    W_hn and b_hn feed: W_hn h + b_hn (reset_after) or W_hn (r*h) + b_hn.
    """
    H = dh_t.shape[1]
    r, z, n, gh_n, h_prev = s["r"], s["z"], s["n"], s["gh_n"], s["h_prev"]
    d_npre = dh_t * (1 - z) * (1 - n * n)
    d_zpre = dh_t * (h_prev - n) * z * (1 - z)
    w_rz, w_n = weight_hh[: 2 * H], weight_hh[2 * H :]
    if reset_after:
        d_rpre = d_npre * gh_n * r * (1 - r)
        d_ghn = d_npre * r
        dh_prev = dh_t * z + d_ghn @ w_n
    else:
        d_rh = d_npre @ w_n  # gradient w.r.t. r*h_prev
        d_rpre = d_rh * h_prev * r * (1 - r)
        d_ghn = d_npre
        dh_prev = dh_t * z + d_rh * r
    d_rz = np.concatenate([d_rpre, d_zpre], axis=1)
    dh_prev = dh_prev + d_rz @ w_rz
    d_gi = np.concatenate([d_rz, d_npre], axis=1)
    d_gh = np.concatenate([d_rz, d_ghn], axis=1)
    return d_gi, d_gh, dh_prev


# ---------------------------------------------------------------------------
# Test utilities shared by the engine tests: random problems, the linear test
# loss, and central-difference gradient checks.
# ---------------------------------------------------------------------------

ARRAY_NAMES = ("x", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "h0", "c0")


def random_problem(
    cell,
    T,
    B,
    I,
    H,
    *,
    dtype=np.float64,
    seed=0,
    bias=True,
    initial_state=True,
    variable_length=False,
    nonlinearity="tanh",
    reset_after=True,
    reverse=False,
):
    """A random single-layer problem.

    Returns (arrays, options): ``arrays`` maps each name of ARRAY_NAMES to an
    array of ``dtype`` or None (biases when bias=False, h0/c0 when
    initial_state=False, c0 always for non-LSTM cells); ``options`` holds the
    keyword arguments (cell, nonlinearity / reset_after where they apply,
    reverse, lengths). With variable_length, lengths (B,) lie in [1, T] and,
    where T > 1, at least one sequence is shorter than T (and, for B > 1, one
    has length T).
    """
    rng = np.random.default_rng(seed)
    G = GATES[cell]

    def uniform(scale, *shape):
        return rng.uniform(-scale, scale, shape).astype(dtype)

    # Scaled so pre-activations stay O(1): saturated gates would make the
    # float32 comparisons measure cancellation in 1 - tanh^2, not the engine.
    arrays = {
        "x": rng.standard_normal((T, B, I)).astype(dtype),
        "weight_ih": uniform(1.5 / np.sqrt(I), G * H, I),
        "weight_hh": uniform(1.5 / np.sqrt(H), G * H, H),
        "bias_ih": uniform(0.5, G * H) if bias else None,
        "bias_hh": uniform(0.5, G * H) if bias else None,
        "h0": (0.5 * rng.standard_normal((B, H))).astype(dtype) if initial_state else None,
        "c0": None,
    }
    if cell == "lstm" and initial_state:
        arrays["c0"] = (0.5 * rng.standard_normal((B, H))).astype(dtype)

    options = {"cell": cell, "reverse": reverse, "lengths": None}
    if cell == "rnn":
        options["nonlinearity"] = nonlinearity
    if cell == "gru":
        options["reset_after"] = reset_after
    if variable_length:
        lengths = rng.integers(1, T + 1, size=B)
        if T > 1:
            lengths[0] = rng.integers(1, T)
        if B > 1:
            lengths[-1] = T
        options["lengths"] = lengths.astype(np.int64)
    return arrays, options


def loss_weights(T, B, H, cell, *, dtype=np.float64, seed=1):
    """Random Wy (T, B, H), Wh (B, H), Wc (B, H) or None for the linear test loss."""
    rng = np.random.default_rng(seed)
    wy = rng.standard_normal((T, B, H)).astype(dtype)
    wh = rng.standard_normal((B, H)).astype(dtype)
    wc = rng.standard_normal((B, H)).astype(dtype) if cell == "lstm" else None
    return wy, wh, wc


def linear_loss(res, wy, wh, wc):
    """L = sum(y*Wy) + sum(h_n*Wh) (+ sum(c_n*Wc)); its gradients are dy=Wy, dh_n=Wh, dc_n=Wc."""
    loss = np.sum(res.y * wy) + np.sum(res.h_n * wh)
    if wc is not None:
        loss += np.sum(res.c_n * wc)
    return float(loss)


def relative_error(analytic, numeric):
    """max |a - n| / max(max |a|, max |n|), 0 when both are exactly zero."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    scale = max(np.max(np.abs(analytic), initial=0.0), np.max(np.abs(numeric), initial=0.0))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(analytic - numeric)) / scale)


def gradient_check(forward_fn, backward_fn, arrays, options, *, eps=1e-6, max_entries=60, seed=2):
    """Central differences against ``backward_fn`` for every array in ``arrays``.

    forward_fn(**arrays, **options) must return y/h_n/c_n and a workspace;
    backward_fn(workspace, dy, dh_n, dc_n) the gradients named "d" + array
    name. Arrays with more than ``max_entries`` entries are checked on a
    random sample of that many entries. Works in place on ``arrays`` (every
    entry is restored). Returns {name: relative error}.
    """
    x, weight_hh = arrays["x"], arrays["weight_hh"]
    T, B, _ = x.shape
    H = weight_hh.shape[1]
    wy, wh, wc = loss_weights(T, B, H, options["cell"], dtype=x.dtype)

    def loss():
        return linear_loss(forward_fn(**arrays, **options), wy, wh, wc)

    res = forward_fn(**arrays, **options)
    grads = backward_fn(res.workspace, wy, wh, wc)
    rng = np.random.default_rng(seed)
    errors = {}
    for name, array in arrays.items():
        if array is None:
            continue
        analytic = getattr(grads, "d" + name)
        flat = array.reshape(-1)  # a view: writes go to ``array``
        picks = np.arange(flat.size)
        if flat.size > max_entries:
            picks = rng.choice(flat.size, size=max_entries, replace=False)
        numeric = np.empty(picks.size)
        for k, j in enumerate(picks):
            saved = flat[j]
            flat[j] = saved + eps
            loss_plus = loss()
            flat[j] = saved - eps
            loss_minus = loss()
            flat[j] = saved
            numeric[k] = (loss_plus - loss_minus) / (2 * eps)
        errors[name] = relative_error(analytic.reshape(-1)[picks], numeric)
    return errors
