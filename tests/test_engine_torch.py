"""Parity of the engine with torch.nn.RNN / LSTM / GRU.

A single-layer bidirectional torch module is one forward-direction layer
(weight_*_l0) plus one reverse-direction layer (weight_*_l0_reverse, our
reverse=True). Variable lengths go through pack_padded_sequence with
enforce_sorted=False. Compared: outputs, final states and every gradient
(input, initial states, all eight parameter tensors), float64 and float32.
torch's GRU is the reset_after=True formulation.
"""

import numpy as np
import pytest

import reference as ref
from pyrnn import engine

torch = pytest.importorskip("torch")

CELLS = [
    pytest.param("rnn", "tanh", id="rnn_tanh"),
    pytest.param("rnn", "relu", id="rnn_relu"),
    pytest.param("lstm", None, id="lstm"),
    pytest.param("gru", None, id="gru"),
]
TOL = {np.float64: 1e-12, np.float32: 1e-5}
PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def torch_module(cell, nonlinearity, I, H, bias, dtype, directions):
    """A bidirectional single-layer torch module holding our weights."""
    kinds = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
    extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    module = kinds[cell](I, H, num_layers=1, bias=bias, bidirectional=True, **extra)
    module = module.to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for suffix, arrays in zip(("_l0", "_l0_reverse"), directions):
            for name in PARAMS:
                if arrays[name] is not None:
                    getattr(module, name + suffix).copy_(torch.from_numpy(arrays[name]))
    return module


def run_torch(module, cell, x, h0, c0, lengths, wy, wh, wc):
    """Forward and backward of L = sum(y*Wy) + sum(h_n*Wh) (+ sum(c_n*Wc)) in torch."""
    T = x.shape[0]
    x_t = torch.from_numpy(x).requires_grad_()
    h0_t = torch.from_numpy(h0).requires_grad_()
    c0_t = torch.from_numpy(c0).requires_grad_() if cell == "lstm" else None
    state = (h0_t, c0_t) if cell == "lstm" else h0_t
    if lengths is None:
        y, final = module(x_t, state)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x_t, torch.from_numpy(lengths), enforce_sorted=False
        )
        y_packed, final = module(packed, state)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, total_length=T)
    h_n, c_n = final if cell == "lstm" else (final, None)
    loss = (y * torch.from_numpy(wy)).sum() + (h_n * torch.from_numpy(wh)).sum()
    if cell == "lstm":
        loss = loss + (c_n * torch.from_numpy(wc)).sum()
    loss.backward()
    out = {
        "y": y,
        "h_n": h_n,
        "c_n": c_n,
        "dx": x_t.grad,
        "dh0": h0_t.grad,
        "dc0": None if c0_t is None else c0_t.grad,
    }
    for suffix in ("_l0", "_l0_reverse"):
        for name in PARAMS:
            param = getattr(module, name + suffix, None)
            out["d" + name + suffix] = None if param is None else param.grad
    return {k: None if v is None else v.detach().numpy() for k, v in out.items()}


def run_engine(cell, nonlinearity, directions, x, h0, c0, lengths, wy, wh, wc):
    """Both directions with the engine, assembled the way torch reports them."""
    H = h0.shape[2]
    options = {"cell": cell, "lengths": lengths}
    if cell == "rnn":
        options["nonlinearity"] = nonlinearity
    out = {}
    parts = []
    for d, (suffix, arrays) in enumerate(zip(("_l0", "_l0_reverse"), directions)):
        res = engine.forward(
            x,
            *(arrays[name] for name in PARAMS),
            **options,
            h0=h0[d],
            c0=None if c0 is None else c0[d],
            reverse=d == 1,
        )
        grads = engine.backward(
            res.workspace,
            np.ascontiguousarray(wy[..., d * H : (d + 1) * H]),
            wh[d],
            None if wc is None else wc[d],
        )
        parts.append((res, grads))
        for name in PARAMS:
            out["d" + name + suffix] = getattr(grads, "d" + name)
    (res_f, g_f), (res_r, g_r) = parts
    out["y"] = np.concatenate([res_f.y, res_r.y], axis=2)
    out["h_n"] = np.stack([res_f.h_n, res_r.h_n])
    out["c_n"] = None if cell != "lstm" else np.stack([res_f.c_n, res_r.c_n])
    out["dx"] = g_f.dx + g_r.dx
    out["dh0"] = np.stack([g_f.dh0, g_r.dh0])
    out["dc0"] = None if cell != "lstm" else np.stack([g_f.dc0, g_r.dc0])
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("variable_length", [False, True], ids=["full", "packed"])
@pytest.mark.parametrize("cell, nonlinearity", CELLS)
def test_matches_torch(cell, nonlinearity, variable_length, bias, dtype):
    T, B, I, H = 6, 5, 4, 7
    kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    problems = [
        ref.random_problem(
            cell,
            T,
            B,
            I,
            H,
            dtype=dtype,
            bias=bias,
            seed=seed,
            variable_length=variable_length,
            **kw,
        )
        for seed in (10, 11)
    ]
    directions = [arrays for arrays, _ in problems]
    lengths = problems[0][1]["lengths"]
    x = directions[0]["x"]
    h0 = np.stack([d["h0"] for d in directions])
    c0 = np.stack([d["c0"] for d in directions]) if cell == "lstm" else None
    rng = np.random.default_rng(12)
    wy = rng.standard_normal((T, B, 2 * H)).astype(dtype)
    wh = rng.standard_normal((2, B, H)).astype(dtype)
    wc = rng.standard_normal((2, B, H)).astype(dtype) if cell == "lstm" else None

    module = torch_module(cell, nonlinearity, I, H, bias, dtype, directions)
    want = run_torch(module, cell, x, h0, c0, lengths, wy, wh, wc)
    got = run_engine(cell, nonlinearity, directions, x, h0, c0, lengths, wy, wh, wc)

    assert set(got) == set(want)
    for name, expected in want.items():
        if expected is None:
            assert got[name] is None, name
            continue
        assert got[name].shape == expected.shape, name
        assert got[name].dtype == dtype, name
        error = ref.relative_error(got[name], expected)
        assert error <= TOL[dtype], f"{name}: relative error {error:.3g}"
