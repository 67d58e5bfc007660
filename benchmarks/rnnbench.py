"""Shared pieces of the benchmarks: configurations, FLOP model, and the three implementations.

Everything is time-major ``(T, B, features)`` and float32. One *case* is a cell
(``lstm``, ``gru``, ``rnn_tanh``) x a configuration (``CONFIGS``) x a mode (``infer``:
forward only, no state kept for BPTT; ``train``: forward, then backward of ``out.sum()``,
i.e. ``dy = ones``, down to the input gradient ``dX``). The three implementations compute
the same network with the same weights:

* ``pyrnn``: :mod:`pyrnn.engine`, one ``forward``/``backward`` call per layer-direction;
  layer 2's input is layer 1's ``y``, a bidirectional layer concatenates the forward and
  the reverse direction along features (as ``torch.nn.LSTM`` does).
* ``torch``: ``torch.nn.LSTM/GRU/RNN`` with the same sizes; inference under
  ``torch.no_grad()``, training ``out.sum().backward()`` with ``x.requires_grad``.
* ``numpy``: a plain per-timestep loop. The input projection of all steps is one matmul
  before the loop and the weight gradients are matmuls after it (the obvious way to write
  it in numpy), the recurrent part is one small matmul plus elementwise gate math per step.

:func:`make_case` returns a zero-argument callable that runs one step and returns
``(out, dx)`` (``dx`` is None for inference), so the same callables are timed and checked
against each other (``test_rnn.py::test_implementations_agree``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

CELLS = ("lstm", "gru", "rnn_tanh")
MODES = ("infer", "train")
IMPLS = ("pyrnn", "torch", "numpy", "onnxruntime")  # onnxruntime: inference only
THREADS = (1, 2)


@dataclass(frozen=True)
class Config:
    """One standard configuration of the benchmarks (see benchmarks/README.md)."""

    name: str
    T: int
    B: int
    I: int
    H: int
    layers: int
    bidir: bool

    @property
    def directions(self) -> int:
        return 2 if self.bidir else 1

    def layer_input(self, layer: int) -> int:
        """Input features of ``layer`` (0-based): I for the first, H * directions after."""
        return self.I if layer == 0 else self.H * self.directions


CONFIGS = {
    c.name: c
    for c in (
        Config("small-latency", 50, 1, 64, 128, 1, False),
        Config("medium", 100, 64, 128, 256, 1, False),
        Config("large", 100, 64, 256, 512, 2, False),
        Config("bidir", 200, 32, 64, 128, 1, True),
    )
}

# numpy's training loop is only timed on these unless asked (the large one takes seconds a round).
NUMPY_TRAIN_CONFIGS = ("small-latency", "medium", "bidir")

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1}
_ENGINE_CELL = {"lstm": "lstm", "gru": "gru", "rnn_tanh": "rnn"}


def num_gates(cell: str) -> int:
    """G of a benchmark cell name: 4 (lstm), 3 (gru), 1 (rnn_tanh)."""
    return _GATES[cell]


def flops(cfg: Config, cell: str, mode: str) -> float:
    """FLOP model (docs/design.md): forward ``2*T*B*(I+H)*G*H`` per layer-direction, training 3x."""
    G = num_gates(cell)
    total = 0.0
    for layer in range(cfg.layers):
        total += cfg.directions * 2.0 * cfg.T * cfg.B * (cfg.layer_input(layer) + cfg.H) * G * cfg.H
    return 3.0 * total if mode == "train" else total


def gemm_equivalent(cfg: Config, cell: str):
    """The GEMMs with the FLOPs of one forward: one ``(T*B, I+H) x (I+H, G*H)`` product per
    layer-direction, as ``[(M, K, N), ...]`` (2*M*K*N summed over them equals
    ``flops(cfg, cell, "infer")``; training counts 3x)."""
    G = num_gates(cell)
    return [
        (cfg.T * cfg.B, cfg.layer_input(layer) + cfg.H, G * cfg.H)
        for layer in range(cfg.layers)
        for _ in range(cfg.directions)
    ]


# --------------------------------------------------------------------------- data and weights


def make_problem(cfg: Config, cell: str, seed: int = 0):
    """Input ``x (T, B, I)`` and weights ``params[layer][direction] = (w_ih, w_hh, b_ih, b_hh)``.

    float32, C-contiguous, PyTorch layout and PyTorch's default init
    ``U(-1/sqrt(H), 1/sqrt(H))``; ``x`` is standard normal.
    """
    rng = np.random.default_rng(seed)
    G, H = num_gates(cell), cfg.H
    k = 1.0 / np.sqrt(H)
    x = rng.standard_normal((cfg.T, cfg.B, cfg.I), dtype=np.float32)
    params = []
    for layer in range(cfg.layers):
        I = cfg.layer_input(layer)
        dirs = []
        for _ in range(cfg.directions):
            dirs.append(
                tuple(
                    np.ascontiguousarray(rng.uniform(-k, k, shape).astype(np.float32))
                    for shape in ((G * H, I), (G * H, H), (G * H,), (G * H,))
                )
            )
        params.append(dirs)
    return x, params


# --------------------------------------------------------------------------- network plumbing


def _stack_forward(layer_forward, params, x):
    """Run every layer-direction; returns the network output and the per-layer caches."""
    caches = []
    inp = x
    for dirs in params:
        outs, layer_caches = [], []
        for d, p in enumerate(dirs):
            y, cache = layer_forward(inp, p, d == 1)
            outs.append(y)
            layer_caches.append(cache)
        inp = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=2)
        caches.append(layer_caches)
    return inp, caches


def _stack_backward(layer_backward, caches, dy):
    """Backward through the layers in reverse; returns ``dX`` of the network input."""
    for layer_caches in reversed(caches):
        ndir = len(layer_caches)
        H = dy.shape[2] // ndir
        dx = None
        for d, cache in enumerate(layer_caches):
            dy_d = dy if ndir == 1 else np.ascontiguousarray(dy[:, :, d * H : (d + 1) * H])
            g = layer_backward(cache, dy_d)
            dx = g if dx is None else dx + g
        dy = dx
    return dy


# --------------------------------------------------------------------------- pyrnn


def pyrnn_network(cfg, cell, params):
    """A ``pyrnn.LSTM/GRU/RNN`` (time-major, float32) holding ``params``: what a user runs."""
    import pyrnn

    cls = {"lstm": pyrnn.LSTM, "gru": pyrnn.GRU, "rnn_tanh": pyrnn.RNN}[cell]
    net = cls(cfg.I, cfg.H, num_layers=cfg.layers, bidirectional=cfg.bidir, random_state=0)
    state = {}
    for layer, dirs in enumerate(params):
        for d, p in enumerate(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
            for name, arr in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), p):
                state[name + sfx] = arr
    net.load_state_dict(state)
    return net


def _pyrnn_case(cfg, cell, mode, x, params):
    """The network as a user runs it (like torch.nn.LSTM for torch): inference keeps its packed
    weights across calls, small batches run layers/directions at once where the plan says so;
    training is forward + backward of out.sum() down to dX, gradients accumulated."""
    net = pyrnn_network(cfg, cell, params)
    if mode == "infer":

        def run():
            out, _ = net.forward(x, training=False)
            return out, None

        return run

    def run():
        out, _ = net.forward(x)
        dx = net.backward(np.ones_like(out))
        return out, dx

    return run


# --------------------------------------------------------------------------- torch


def torch_module(cfg, cell, params):
    """A ``torch.nn.LSTM/GRU/RNN`` (time-major, float32) holding ``params``."""
    import torch

    if cell == "lstm":
        cls, kw = torch.nn.LSTM, {}
    elif cell == "gru":
        cls, kw = torch.nn.GRU, {}
    else:
        cls, kw = torch.nn.RNN, {"nonlinearity": "tanh"}
    m = cls(
        cfg.I,
        cfg.H,
        num_layers=cfg.layers,
        bidirectional=cfg.bidir,
        batch_first=False,
        dtype=torch.float32,
        **kw,
    )
    with torch.no_grad():
        for layer, dirs in enumerate(params):
            for d, p in enumerate(dirs):
                sfx = f"l{layer}" + ("_reverse" if d == 1 else "")
                for name, arr in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), p):
                    getattr(m, f"{name}_{sfx}").copy_(torch.from_numpy(arr))
    return m


def _torch_case(cfg, cell, mode, x, params):
    import torch

    m = torch_module(cfg, cell, params)
    xt = torch.from_numpy(x)
    if mode == "infer":

        def run():
            with torch.no_grad():
                out, _ = m(xt)
            return out, None

        return run

    xg = xt.clone().requires_grad_(True)

    def run():
        m.zero_grad(set_to_none=True)
        xg.grad = None
        out, _ = m(xg)
        out.sum().backward()
        return out.detach(), xg.grad

    return run


# --------------------------------------------------------------------------- numpy loop


def _sigmoid(v):
    return 0.5 * np.tanh(0.5 * v) + 0.5


def numpy_layer_forward(cell, x, p, reverse, training):
    """One layer-direction of ``cell`` in plain numpy; returns ``(y, cache)``."""
    w_ih, w_hh, b_ih, b_hh = p
    T, B, _ = x.shape
    H = w_hh.shape[1]
    steps = range(T - 1, -1, -1) if reverse else range(T)
    y = np.empty((T, B, H), np.float32)
    h = np.zeros((B, H), np.float32)
    w_hh_t = w_hh.T
    if cell == "gru":
        xp = (x.reshape(T * B, -1) @ w_ih.T + b_ih).reshape(T, B, 3 * H)
    else:
        xp = (x.reshape(T * B, -1) @ w_ih.T + (b_ih + b_hh)).reshape(T, B, -1)
    saved = []
    if cell == "lstm":
        c = np.zeros((B, H), np.float32)
        for t in steps:
            g = xp[t] + h @ w_hh_t
            i, f = _sigmoid(g[:, :H]), _sigmoid(g[:, H : 2 * H])
            gg, o = np.tanh(g[:, 2 * H : 3 * H]), _sigmoid(g[:, 3 * H :])
            c_prev = c
            c = f * c + i * gg
            tc = np.tanh(c)
            h_prev = h
            h = o * tc
            y[t] = h
            if training:
                saved.append((t, h_prev, c_prev, i, f, gg, o, tc))
    elif cell == "gru":
        for t in steps:
            gh = h @ w_hh_t + b_hh
            gi = xp[t]
            r = _sigmoid(gi[:, :H] + gh[:, :H])
            z = _sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
            n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
            h_prev = h
            h = (1.0 - z) * n + z * h
            y[t] = h
            if training:
                saved.append((t, h_prev, r, z, n, gh[:, 2 * H :]))
    else:
        for t in steps:
            h_prev = h
            h = np.tanh(xp[t] + h @ w_hh_t)
            y[t] = h
            if training:
                saved.append((t, h_prev, h))
    return y, ((cell, x, p, saved) if training else None)


def numpy_layer_backward(cache, dy):
    """BPTT of :func:`numpy_layer_forward`; returns ``dX``. Weight gradients are computed
    (as one matmul each over all T*B rows) and dropped, as a training step would use them."""
    cell, x, (w_ih, w_hh, b_ih, b_hh), saved = cache
    T, B, I = x.shape
    H = w_hh.shape[1]
    G = w_hh.shape[0] // H
    dgi = np.empty((T, B, G * H), np.float32)  # gradient w.r.t. the input projection
    dgh = dgi if cell != "gru" else np.empty((T, B, G * H), np.float32)
    hprev = np.empty((T, B, H), np.float32)
    dh = np.zeros((B, H), np.float32)
    if cell == "lstm":
        dc = np.zeros((B, H), np.float32)
        for t, h_prev, c_prev, i, f, gg, o, tc in reversed(saved):
            dh = dh + dy[t]
            dc = dc + dh * o * (1.0 - tc * tc)
            d = dgi[t]
            d[:, :H] = dc * gg * i * (1.0 - i)
            d[:, H : 2 * H] = dc * c_prev * f * (1.0 - f)
            d[:, 2 * H : 3 * H] = dc * i * (1.0 - gg * gg)
            d[:, 3 * H :] = dh * tc * o * (1.0 - o)
            dc = dc * f
            dh = d @ w_hh
            hprev[t] = h_prev
    elif cell == "gru":
        for t, h_prev, r, z, n, ghn in reversed(saved):
            dh = dh + dy[t]
            dn = dh * (1.0 - z) * (1.0 - n * n)
            dr = dn * ghn * r * (1.0 - r)
            dz = dh * (h_prev - n) * z * (1.0 - z)
            di, dhh = dgi[t], dgh[t]
            di[:, :H] = dr
            di[:, H : 2 * H] = dz
            di[:, 2 * H :] = dn
            dhh[:, : 2 * H] = di[:, : 2 * H]
            dhh[:, 2 * H :] = dn * r
            dh = dh * z + dhh @ w_hh
            hprev[t] = h_prev
    else:
        for t, h_prev, h in reversed(saved):
            dh = dh + dy[t]
            d = dgi[t]
            d[:] = dh * (1.0 - h * h)
            dh = d @ w_hh
            hprev[t] = h_prev
    dgi2 = dgi.reshape(T * B, G * H)
    dgh2 = dgh.reshape(T * B, G * H)
    grads = (
        dgi2.T @ x.reshape(T * B, I),
        dgh2.T @ hprev.reshape(T * B, H),
        dgi2.sum(axis=0),
        dgh2.sum(axis=0),
    )
    del grads
    return (dgi2 @ w_ih).reshape(T, B, I)


def _numpy_case(cfg, cell, mode, x, params):
    kind = _ENGINE_CELL[cell]
    training = mode == "train"

    def layer_forward(inp, p, reverse):
        return numpy_layer_forward(kind, inp, p, reverse, training)

    if not training:

        def run():
            out, _ = _stack_forward(layer_forward, params, x)
            return out, None

        return run

    def run():
        out, caches = _stack_forward(layer_forward, params, x)
        dx = _stack_backward(numpy_layer_backward, caches, np.ones_like(out))
        return out, dx

    return run


# --------------------------------------------------------------------------- ONNX Runtime


def _onnxruntime_case(cfg, cell, mode, x, params):
    """pyrnn's ONNX export of the same network run by ONNX Runtime's CPU provider, with as
    many intra-op threads as pyrnn has now (inference only: ONNX Runtime does not train)."""
    if mode != "infer":
        raise ValueError("ONNX Runtime is timed for inference only")
    import onnxruntime as ort

    from pyrnn import engine
    from pyrnn.export import to_onnx

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = engine.get_num_threads()
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(
        to_onnx(pyrnn_network(cfg, cell, params)).SerializeToString(),
        opts,
        providers=["CPUExecutionProvider"],
    )

    def run():
        return sess.run(["y"], {"x": x})[0], None

    return run


_BUILDERS = {
    "pyrnn": _pyrnn_case,
    "torch": _torch_case,
    "numpy": _numpy_case,
    "onnxruntime": _onnxruntime_case,
}


def make_case(impl, cfg, cell, mode, x=None, params=None):
    """A zero-argument callable running one inference or training step of ``impl``.

    It returns ``(out (T, B, H*directions), dx (T, B, I) or None)``. ``x``/``params`` default
    to :func:`make_problem`'s; the callable reuses them (no allocation outside the step).
    """
    if x is None:
        x, params = make_problem(cfg, cell)
    return _BUILDERS[impl](cfg, cell, mode, x, params)


# --------------------------------------------------------------------------- threads


def set_threads(n: int):
    """Give pyrnn, torch (if installed) and numpy's BLAS ``n`` threads each.

    Returns the threadpoolctl limiter for numpy's BLAS (keep it alive; call
    ``.restore_original_limits()`` when done).
    """
    from threadpoolctl import threadpool_limits

    from pyrnn import engine

    engine.set_num_threads(n)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(n)
    return threadpool_limits(limits=n, user_api="blas")


def blas_info():
    """What numpy's BLAS is: library, version, kernel (OpenBLAS 'architecture'), threads,
    and the OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE environment it was loaded with."""
    from threadpoolctl import threadpool_info

    libs = [
        {
            k: lib.get(k)
            for k in ("internal_api", "version", "architecture", "num_threads", "filepath")
        }
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return {"libraries": libs, "env": env}
