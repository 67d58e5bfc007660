"""Bad input to pyrnn.engine: every case raises TypeError (wrong type/dtype) or
ValueError (shape, contiguity, lengths, options) with a message that says what
was expected; none crashes the interpreter. NaN/inf values are the user's
business: they must propagate, not crash."""

import re
import subprocess
import sys

import numpy as np
import pytest

from support import TESTS_DIR, subprocess_env

import reference as ref
from pyrnn import engine

T, B, I, H = 4, 3, 2, 5


def problem(cell="lstm", dtype=np.float64):
    """Valid keyword arguments for engine.forward (lengths given, both biases, h0, c0)."""
    arrays, options = ref.random_problem(cell, T, B, I, H, dtype=dtype, variable_length=True)
    if cell != "lstm":
        del arrays["c0"]
    return {**arrays, **options}


def fortran(a):
    return np.asfortranarray(a)


def strided(a):
    """Same shape and values, not C-contiguous (every other element of a bigger array)."""
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    return big[..., ::2]


FORWARD_CASES = [  # (id, changes made to a valid LSTM call, error, fragment of the message)
    ("x_2d", lambda k: {"x": k["x"][0]}, ValueError, "x must have shape (T, B, I), got (3, 2)"),
    ("x_4d", lambda k: {"x": k["x"][None]}, ValueError, "x must have shape (T, B, I)"),
    ("x_T0", lambda k: {"x": np.zeros((0, B, I)), "lengths": None}, ValueError, "T, B, I >= 1"),
    (
        "x_B0",
        lambda k: {"x": np.zeros((T, 0, I)), "lengths": None, "h0": None, "c0": None},
        ValueError,
        "T, B, I >= 1",
    ),
    ("x_I0", lambda k: {"x": np.zeros((T, B, 0))}, ValueError, "T, B, I >= 1"),
    (
        "x_wrong_I",
        lambda k: {"x": np.zeros((T, B, I + 1))},
        ValueError,
        f"weight_ih must have shape ({4 * H}, {I + 1}), got ({4 * H}, {I})",
    ),
    (
        "x_float16",
        lambda k: {"x": k["x"].astype(np.float16)},
        TypeError,
        "x must have dtype float32 or float64, got float16",
    ),
    (
        "x_int",
        lambda k: {"x": k["x"].astype(np.int64)},
        TypeError,
        "x must have dtype float32 or float64",
    ),
    (
        "x_big_endian",
        lambda k: {"x": k["x"].astype(">f8")},
        TypeError,
        "x must have dtype float32 or float64",
    ),
    ("x_list", lambda k: {"x": k["x"].tolist()}, TypeError, "x must be a numpy array"),
    ("x_fortran", lambda k: {"x": fortran(k["x"])}, ValueError, "x must be C-contiguous"),
    ("x_strided", lambda k: {"x": strided(k["x"])}, ValueError, "x must be C-contiguous"),
    (
        "weight_ih_1d",
        lambda k: {"weight_ih": k["weight_ih"].ravel()},
        ValueError,
        f"weight_ih must have shape ({4 * H}, {I})",
    ),
    (
        "weight_ih_rows",
        lambda k: {"weight_ih": k["weight_ih"][:-1]},
        ValueError,
        f"weight_ih must have shape ({4 * H}, {I}), got ({4 * H - 1}, {I})",
    ),
    (
        "weight_ih_float32",
        lambda k: {"weight_ih": k["weight_ih"].astype(np.float32)},
        TypeError,
        "weight_ih must have dtype float64 like x, got float32",
    ),
    (
        "weight_ih_list",
        lambda k: {"weight_ih": k["weight_ih"].tolist()},
        TypeError,
        "weight_ih must be a numpy array",
    ),
    (
        "weight_ih_fortran",
        lambda k: {"weight_ih": fortran(k["weight_ih"])},
        ValueError,
        "weight_ih must be C-contiguous",
    ),
    (
        "weight_hh_not_square",
        lambda k: {"weight_hh": np.zeros((4 * H, H + 1))},
        ValueError,
        "weight_hh must have shape (G*H, H) with G = 4 gates, got (20, 6)",
    ),
    (
        "weight_hh_of_gru",
        lambda k: {"weight_hh": np.zeros((3 * H, H))},
        ValueError,
        "weight_hh must have shape (G*H, H) with G = 4",
    ),
    (
        "weight_hh_3d",
        lambda k: {"weight_hh": k["weight_hh"][None]},
        ValueError,
        "weight_hh must have shape (G*H, H)",
    ),
    (
        "weight_hh_empty",
        lambda k: {"weight_hh": np.zeros((0, 0))},
        ValueError,
        "weight_hh must have shape (G*H, H)",
    ),
    (
        "weight_hh_float32",
        lambda k: {"weight_hh": k["weight_hh"].astype(np.float32)},
        TypeError,
        "weight_hh must have dtype float64 like x, got float32",
    ),
    (
        "weight_hh_fortran",
        lambda k: {"weight_hh": fortran(k["weight_hh"])},
        ValueError,
        "weight_hh must be C-contiguous",
    ),
    (
        "bias_ih_short",
        lambda k: {"bias_ih": k["bias_ih"][:-1]},
        ValueError,
        f"bias_ih must have shape ({4 * H},), got ({4 * H - 1},)",
    ),
    (
        "bias_hh_2d",
        lambda k: {"bias_hh": k["bias_hh"][None]},
        ValueError,
        f"bias_hh must have shape ({4 * H},)",
    ),
    (
        "bias_ih_float32",
        lambda k: {"bias_ih": k["bias_ih"].astype(np.float32)},
        TypeError,
        "bias_ih must have dtype float64",
    ),
    (
        "bias_hh_strided",
        lambda k: {"bias_hh": strided(k["bias_hh"])},
        ValueError,
        "bias_hh must be C-contiguous",
    ),
    (
        "bias_ih_alone",
        lambda k: {"bias_hh": None},
        ValueError,
        "bias_ih and bias_hh must both be given or both be None",
    ),
    (
        "bias_hh_alone",
        lambda k: {"bias_ih": None},
        ValueError,
        "bias_ih and bias_hh must both be given or both be None",
    ),
    (
        "h0_short",
        lambda k: {"h0": k["h0"][:, :-1]},
        ValueError,
        f"h0 must have shape ({B}, {H}), got ({B}, {H - 1})",
    ),
    (
        "h0_transposed",
        lambda k: {"h0": np.ascontiguousarray(k["h0"].T)},
        ValueError,
        f"h0 must have shape ({B}, {H})",
    ),
    ("h0_3d", lambda k: {"h0": k["h0"][None]}, ValueError, f"h0 must have shape ({B}, {H})"),
    (
        "h0_float32",
        lambda k: {"h0": k["h0"].astype(np.float32)},
        TypeError,
        "h0 must have dtype float64",
    ),
    ("h0_fortran", lambda k: {"h0": fortran(k["h0"])}, ValueError, "h0 must be C-contiguous"),
    (
        "c0_short",
        lambda k: {"c0": k["c0"][:-1]},
        ValueError,
        f"c0 must have shape ({B}, {H}), got ({B - 1}, {H})",
    ),
    (
        "c0_float32",
        lambda k: {"c0": k["c0"].astype(np.float32)},
        TypeError,
        "c0 must have dtype float64",
    ),
    (
        "lengths_zero",
        lambda k: {"lengths": np.array([0, 2, 4])},
        ValueError,
        f"lengths must be in [1, T={T}], got lengths[0] = 0",
    ),
    (
        "lengths_above_T",
        lambda k: {"lengths": np.array([1, T + 1, T])},
        ValueError,
        f"lengths must be in [1, T={T}], got lengths[1] = {T + 1}",
    ),
    (
        "lengths_negative",
        lambda k: {"lengths": np.array([2, 3, -1])},
        ValueError,
        "got lengths[2] = -1",
    ),
    (
        "lengths_count",
        lambda k: {"lengths": np.array([2, 3])},
        ValueError,
        f"lengths must have shape ({B},)",
    ),
    (
        "lengths_2d",
        lambda k: {"lengths": np.array([[2, 3, 4]])},
        ValueError,
        f"lengths must have shape ({B},)",
    ),
    (
        "lengths_float",
        lambda k: {"lengths": np.array([2.0, 3.0, 4.0])},
        TypeError,
        "lengths must be integers, got dtype float64",
    ),
    (
        "lengths_bool",
        lambda k: {"lengths": np.array([True, True, True])},
        TypeError,
        "lengths must be integers",
    ),
    (
        "cell_unknown",
        lambda k: {"cell": "transformer"},
        ValueError,
        "cell must be 'rnn', 'lstm' or 'gru', got 'transformer'",
    ),
    (
        "nonlinearity_for_lstm",
        lambda k: {"nonlinearity": "relu"},
        ValueError,
        "nonlinearity applies to cell='rnn' only",
    ),
]


@pytest.mark.parametrize(
    "change, error, fragment", [pytest.param(*case[1:], id=case[0]) for case in FORWARD_CASES]
)
def test_forward_rejects(change, error, fragment):
    kwargs = problem()
    kwargs.update(change(kwargs))
    for training in (True, False):
        with pytest.raises(error, match=re.escape(fragment)):
            engine.forward(**kwargs, training=training)


def test_float32_call_rejects_float64_parts():
    kwargs = problem(dtype=np.float32)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "h0", "c0"):
        bad = dict(kwargs, **{name: kwargs[name].astype(np.float64)})
        with pytest.raises(TypeError, match=f"{name} must have dtype float32 like x, got float64"):
            engine.forward(**bad)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_c0_is_for_lstm_only(cell):
    kwargs = problem(cell)
    with pytest.raises(ValueError, match="c0 is only for LSTM"):
        engine.forward(**kwargs, c0=np.zeros((B, H)))
    res = engine.forward(**kwargs)
    with pytest.raises(ValueError, match="dc_n is only for LSTM"):
        engine.backward(res.workspace, dc_n=np.zeros((B, H)))


def test_nonlinearity_unknown():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        engine.forward(**dict(problem("rnn"), nonlinearity="sigmoid"))


def test_integer_lengths_of_any_width_are_accepted():
    kwargs = problem()
    want = engine.forward(**kwargs).y
    for lengths in (kwargs["lengths"].astype(np.int32), kwargs["lengths"].tolist()):
        np.testing.assert_array_equal(engine.forward(**dict(kwargs, lengths=lengths)).y, want)


BACKWARD_CASES = [  # (id, backward keyword arguments, error, fragment)
    (
        "dy_short",
        {"dy": np.zeros((T - 1, B, H))},
        ValueError,
        f"dy must have shape ({T}, {B}, {H}), got ({T - 1}, {B}, {H})",
    ),
    ("dy_2d", {"dy": np.zeros((T, B * H))}, ValueError, f"dy must have shape ({T}, {B}, {H})"),
    (
        "dy_float32",
        {"dy": np.zeros((T, B, H), np.float32)},
        TypeError,
        "dy must have dtype float64",
    ),
    ("dy_int", {"dy": np.zeros((T, B, H), np.int64)}, TypeError, "dy must have dtype float64"),
    ("dy_fortran", {"dy": fortran(np.ones((T, B, H)))}, ValueError, "dy must be C-contiguous"),
    ("dy_list", {"dy": np.zeros((T, B, H)).tolist()}, TypeError, "dy must be a numpy array"),
    (
        "dh_n_wide",
        {"dh_n": np.zeros((B, H + 1))},
        ValueError,
        f"dh_n must have shape ({B}, {H}), got ({B}, {H + 1})",
    ),
    (
        "dh_n_float32",
        {"dh_n": np.zeros((B, H), np.float32)},
        TypeError,
        "dh_n must have dtype float64",
    ),
    ("dc_n_1d", {"dc_n": np.zeros(B * H)}, ValueError, f"dc_n must have shape ({B}, {H})"),
]


@pytest.mark.parametrize(
    "grads, error, fragment", [pytest.param(*case[1:], id=case[0]) for case in BACKWARD_CASES]
)
def test_backward_rejects(grads, error, fragment):
    kwargs = problem()
    res = engine.forward(**kwargs)
    with pytest.raises(error, match=re.escape(fragment)):
        engine.backward(res.workspace, **grads)
    # A rejected call leaves the workspace usable: the corrected call gives the right answer.
    wy, wh, wc = ref.loss_weights(T, B, H, "lstm")
    got = engine.backward(res.workspace, wy, wh, wc)
    want = engine.backward(engine.forward(**kwargs).workspace, wy, wh, wc)
    np.testing.assert_array_equal(got.dweight_hh, want.dweight_hh)
    np.testing.assert_array_equal(got.dx, want.dx)


def test_backward_needs_a_training_workspace():
    kwargs = problem()
    inference = engine.forward(**kwargs, training=False)
    assert inference.workspace is None
    with pytest.raises(TypeError, match="workspace must be the .workspace of forward"):
        engine.backward(inference.workspace, dh_n=np.ones((B, H)))
    with pytest.raises(TypeError, match="workspace must be the .workspace of forward"):
        engine.backward(np.zeros(100), dh_n=np.ones((B, H)))
    res = engine.forward(**kwargs)
    engine.backward(res.workspace)
    with pytest.raises(ValueError, match=r"run forward\(training=True\) again"):
        engine.backward(res.workspace)


def test_set_num_threads_rejects_bad_counts(restore_num_threads):
    for bad in (0, -2):
        with pytest.raises(ValueError, match="number of threads must be >= 1"):
            engine.set_num_threads(bad)
    for bad in (1.5, "2", True):
        with pytest.raises(TypeError, match="number of threads must be an int"):
            engine.set_num_threads(bad)
    assert engine.get_num_threads() == restore_num_threads


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_nan_and_inf_propagate_without_crashing(cell, dtype):
    kwargs = problem(cell, dtype)
    kwargs["weight_hh"][0, 0] = np.nan
    res = engine.forward(**kwargs)
    assert res.y.shape == (T, B, H) and np.isnan(res.y).any()
    grads = engine.backward(res.workspace, *ref.loss_weights(T, B, H, cell, dtype=dtype))
    assert np.isnan(grads.dweight_hh).any() and grads.dx.shape == (T, B, I)
    kwargs = problem(cell, dtype)
    kwargs["x"][0, 0, 0] = np.inf
    kwargs["bias_ih"][:] = -np.inf
    res = engine.forward(**kwargs, training=False)
    assert res.h_n.shape == (B, H)


def test_unavailable_isa_is_refused_at_import():
    proc = subprocess.run(
        [sys.executable, "-c", "import pyrnn.engine"],
        env=subprocess_env(PYRNN_ISA="sse1"),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=TESTS_DIR,
    )
    assert proc.returncode != 0
    assert "PYRNN_ISA=sse1 is not available" in proc.stderr


def test_read_only_inputs_are_accepted():
    kwargs = problem()
    want = engine.forward(**kwargs)
    frozen = {k: v for k, v in kwargs.items()}
    for name in ("x", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "h0", "c0", "lengths"):
        frozen[name] = kwargs[name].copy()
        frozen[name].setflags(write=False)
    got = engine.forward(**frozen)
    np.testing.assert_array_equal(got.y, want.y)
    dy = np.ones((T, B, H))
    dy.setflags(write=False)
    grads = engine.backward(got.workspace, dy)
    np.testing.assert_array_equal(grads.dx, engine.backward(want.workspace, dy).dx)
