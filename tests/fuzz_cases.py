"""Property-based fuzz cases over pyrnn's public entry points (no pytest here: run by
fuzz_driver.py in child processes, so that a crash or a hang is counted, not fatal).

Each entry point is a function ``case(data)`` that draws its inputs from a hypothesis
``data`` object, calls pyrnn and returns the outcome:

- ``"ok"``: it returned, and what it returned is right (checked against the float64 numpy
  reference, numpy's matmul, repeat and thread-count invariance, or finiteness);
- ``"error"``: a clean error: TypeError / ValueError / MemoryError with a message, where the
  input was invalid;
- ``"wrong"`` (raised as :class:`Wrong`): a wrong result, an error for valid input, no error
  for invalid input, or any other exception.

A crash (the child dies by a signal) and a hang are counted by the driver.
"""

import sys

import numpy as np
from hypothesis import strategies as st

import reference as ref
from pyrnn import engine, losses, optim, clip, _core
import pyrnn

CLEAN = (TypeError, ValueError, MemoryError)
CELLS = [
    ("rnn", {"nonlinearity": "tanh"}),
    ("rnn", {"nonlinearity": "relu"}),
    ("lstm", {}),
    ("gru", {"reset_after": True}),
    ("gru", {"reset_after": False}),
]


class Wrong(AssertionError):
    """The case found a wrong result or an unclean error."""


def expect_error(fn):
    """Call fn, which was given invalid input: a clean error is right, anything else wrong."""
    try:
        fn()
    except CLEAN as e:
        if not str(e):
            raise Wrong(f"{type(e).__name__} without a message") from e
        return "error"
    except Exception as e:  # noqa: BLE001 - any other exception type is the finding
        raise Wrong(f"{type(e).__name__} instead of TypeError/ValueError: {e}") from e
    raise Wrong("invalid input accepted")


def close(got, want, dtype, what, scale=1.0):
    """float32: relative to the float64 reference's magnitude; float64: tight."""
    tol = (2e-3 if dtype == np.float32 else 1e-9) * scale
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise Wrong(f"{what}: shape {got.shape}, expected {want.shape}")
    err = np.max(np.abs(got - want), initial=0.0) / (1.0 + np.max(np.abs(want), initial=0.0))
    if not err <= tol:
        raise Wrong(f"{what}: relative error {err:.3g} > {tol:.1g}")


def misaligned(a):
    """The same values in a C-contiguous array one byte off alignment."""
    buf = np.zeros(a.nbytes + a.itemsize, np.uint8)
    out = buf[1 : 1 + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


GARBAGE = st.sampled_from(
    [
        None,
        3,
        -1,
        2.5,
        float("nan"),
        "x",
        [1, 2],
        {},
        (),
        object(),
        np.float32(1),
        np.zeros((2, 2), np.int32),
        np.zeros(0, np.float32),
        np.zeros((2, 3, 4, 5), np.float64),
        np.zeros((1,), np.bool_),
    ]
)


def problem(data, small=12):
    cell, kw = data.draw(st.sampled_from(CELLS), "cell")
    T, B, I, H = (data.draw(st.integers(1, small), n) for n in "TBIH")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), "dtype")
    arrays, opts = ref.random_problem(
        cell,
        T,
        B,
        I,
        H,
        dtype=dtype,
        seed=data.draw(st.integers(0, 2**16), "seed"),
        bias=data.draw(st.booleans(), "bias"),
        initial_state=data.draw(st.booleans(), "state"),
        variable_length=data.draw(st.booleans(), "ragged"),
        reverse=data.draw(st.booleans(), "reverse"),
        **kw,
    )
    if cell != "lstm":
        arrays.pop("c0")
    return arrays, opts, dtype


# ---- engine.forward / engine.backward against the float64 numpy reference -------------------


def engine_forward_backward(data):
    arrays, opts, dtype = problem(data)
    mutation = data.draw(
        st.sampled_from(
            [
                "none",
                "none",
                "misaligned",
                "nan_padding",
                "dtype",
                "shape",
                "fortran",
                "garbage",
                "lengths",
            ]
        ),
        "mutation",
    )
    slot = data.draw(st.sampled_from(sorted(k for k, v in arrays.items() if v is not None)), "slot")
    T, B, _ = arrays["x"].shape
    H = arrays["weight_hh"].shape[1]
    if mutation in ("dtype", "shape", "fortran", "garbage", "lengths"):
        bad = dict(arrays)
        a = arrays[slot]
        if mutation == "dtype":
            bad[slot] = (
                a.astype(np.float64 if dtype == np.float32 else np.float32)
                if slot != "x"
                else a.astype(np.int64)
            )
        elif mutation == "shape":
            bad[slot] = np.zeros(a.shape[:-1] + (a.shape[-1] + 1,), a.dtype)
        elif mutation == "fortran":
            if a.ndim < 2 or min(a.shape) < 2:
                bad[slot] = data.draw(GARBAGE, "garbage")
            else:
                bad[slot] = np.asfortranarray(a)
        elif mutation == "garbage":
            bad[slot] = data.draw(GARBAGE, "garbage")
        else:
            bad_len = data.draw(st.sampled_from([0, -1, T + 1, 2**40]), "bad_length")
            lengths = np.full(B, T, np.int64)
            lengths[data.draw(st.integers(0, B - 1), "row")] = bad_len
            opts = dict(opts, lengths=lengths)
        return expect_error(lambda: engine.forward(**bad, **opts))
    dy = np.random.default_rng(T * B).standard_normal((T, B, H)).astype(dtype)
    call = dict(arrays)
    if mutation == "misaligned":
        call = {k: (misaligned(v) if v is not None else v) for k, v in arrays.items()}
    if mutation == "nan_padding" and opts["lengths"] is not None:
        call["x"] = arrays["x"].copy()
        for b, L in enumerate(opts["lengths"]):
            call["x"][L:, b] = np.nan
            arrays["x"][L:, b] = 0
    f64 = {k: (None if v is None else v.astype(np.float64)) for k, v in arrays.items()}
    want = ref.forward(**f64, **opts)
    threads = data.draw(st.sampled_from([None, 1, 2, 3]), "threads")
    with engine.using_threads(threads):
        res = engine.forward(**call, **opts, training=True)
        g = engine.backward(res.workspace, dy=dy)
    close(res.y, want.y, dtype, "y")
    close(res.h_n, want.h_n, dtype, "h_n")
    gw = ref.backward(want.workspace, dy=dy.astype(np.float64))
    for name in ("dx", "dh0", "dweight_ih", "dweight_hh", "dbias_ih", "grad_norm_h"):
        if getattr(gw, name) is not None:
            close(getattr(g, name), getattr(gw, name), dtype, name, scale=10)
    return "ok"


# ---- engine.pack and forward(packed=...): bitwise the forward that packs for itself --------


def same(got, want, what):
    """Bitwise equality (None matches None): the engine's own results, other paths."""
    if (got is None) != (want is None) or (
        got is not None and not (got.shape == want.shape and np.array_equal(got, want))
    ):
        raise Wrong(f"{what}: not bitwise equal to the one-by-one result")


def same_forward(got, want, what):
    for name in ("y", "h_n", "c_n"):
        same(getattr(got, name), getattr(want, name), f"{what}: {name}")


def same_gradients(got, want, what):
    for name in ("dx", "dh0", "dc0", "dweight_ih", "dweight_hh", "dbias_ih", "dbias_hh"):
        same(getattr(got, name), getattr(want, name), f"{what}: {name}")


def weights(arrays):
    return {k: arrays[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}


def cell_options(opts):
    return {k: opts[k] for k in ("cell", "nonlinearity", "reset_after") if k in opts}


def foreign_packed(data, arrays, opts, dtype):
    """A packed array that does not belong to these weights: another cell, shape, dtype,
    bias presence, a cut or strided copy, or garbage."""
    kind = data.draw(
        st.sampled_from(["cell", "shape", "dtype", "bias", "cut", "strided", "garbage"]), "foreign"
    )
    w, cell = weights(arrays), cell_options(opts)
    if kind == "cell":
        others = [c for c in CELLS if dict(c[1], cell=c[0]) != cell]
        other, kw = data.draw(st.sampled_from(others), "other_cell")
        I, H = arrays["x"].shape[2], arrays["weight_hh"].shape[1]
        o, _ = ref.random_problem(
            other, 1, 1, I, H, dtype=dtype, bias=w["bias_ih"] is not None, **kw
        )
        return engine.pack(**weights(o), cell=other, **kw)
    if kind == "shape":
        I, H = arrays["x"].shape[2], arrays["weight_hh"].shape[1]
        dI, dH = data.draw(
            st.sampled_from([(1, 0), (0, 1), (1, 1), (-1, 0)] if I > 1 else [(1, 0), (0, 1)]), "dIH"
        )
        o, _ = ref.random_problem(
            opts["cell"],
            1,
            1,
            I + dI,
            H + dH,
            dtype=dtype,
            bias=w["bias_ih"] is not None,
            **{k: v for k, v in cell.items() if k != "cell"},
        )
        return engine.pack(**weights(o), **cell)
    if kind == "dtype":
        other = np.float64 if dtype == np.float32 else np.float32
        return engine.pack(
            **{k: None if v is None else v.astype(other) for k, v in w.items()}, **cell
        )
    if kind == "bias":
        if w["bias_ih"] is None:
            G = w["weight_hh"].shape[0]
            w = dict(w, bias_ih=np.zeros(G, dtype), bias_hh=np.zeros(G, dtype))
        else:
            w = dict(w, bias_ih=None, bias_hh=None)
        return engine.pack(**w, **cell)
    good = engine.pack(**w, **cell)
    if kind == "cut":
        return good[: data.draw(st.integers(0, good.size - 1), "keep")]
    if kind == "strided":
        return np.repeat(good, 2)[::2]
    return data.draw(GARBAGE, "garbage")


def engine_pack(data):
    arrays, opts, dtype = problem(data)
    w, cell = weights(arrays), cell_options(opts)
    use = data.draw(
        st.sampled_from(["own", "own", "misaligned", "stale", "foreign", "bad_pack"]), "use"
    )
    if use == "bad_pack":  # pack() itself given a wrong argument
        slot = data.draw(st.sampled_from(["weight_ih", "weight_hh", "bias_ih", "bias_hh"]), "slot")
        bad = data.draw(st.one_of(GARBAGE, st.just("transposed"), st.just("other_dtype")), "bad")
        a = w[slot] if w[slot] is not None else w["weight_hh"][:, 0].copy()
        if isinstance(bad, str) and bad == "transposed":
            bad = (
                np.ascontiguousarray(a.T)
                if a.ndim == 2 and a.shape[0] != a.shape[1]
                else np.zeros(a.size + 1, dtype)
            )
        elif isinstance(bad, str) and bad == "other_dtype":
            bad = a.astype(np.float64 if dtype == np.float32 else np.float32)
        if bad is None and slot.startswith("bias"):
            bad = "x"  # (both biases None is valid)
        return expect_error(lambda: engine.pack(**dict(w, **{slot: bad}), **cell))
    threads = data.draw(st.sampled_from([None, 1, 2, 3]), "threads")
    training = data.draw(st.booleans(), "training")
    if use == "foreign":
        packed = foreign_packed(data, arrays, opts, dtype)
        with engine.using_threads(threads):
            return expect_error(
                lambda: engine.forward(**arrays, **opts, training=training, packed=packed)
            )
    packed = engine.pack(**w, **cell)
    if use == "misaligned":
        packed = misaligned(packed)
    if use == "stale":  # packed before the weights changed: it computes with the old ones
        old = {k: None if v is None else v.copy() for k, v in w.items()}
        arrays["weight_hh"][...] *= 0.5
        with engine.using_threads(threads):
            got = engine.forward(**arrays, **opts, training=training, packed=packed)
            want = engine.forward(**dict(arrays, **old), **opts, training=training)
        same_forward(got, want, "stale packed")
        return "ok"
    with engine.using_threads(threads):
        got = engine.forward(**arrays, **opts, training=training, packed=packed)
        want = engine.forward(**arrays, **opts, training=training)
    same_forward(got, want, "packed")
    if training:
        dy = np.random.default_rng(1).standard_normal(want.y.shape).astype(dtype)
        same_gradients(
            engine.backward(got.workspace, dy),
            engine.backward(want.workspace, dy),
            "packed backward",
        )
    return "ok"


# ---- forward(reuse=...): bitwise the forward that allocates -------------------------------


def engine_reuse(data):
    """A consumed workspace of any other problem (cell, dtype, size) is taken over or left
    alone, the results bitwise a fresh buffer's either way; a pending workspace or anything
    else is a clean error, and the refused call takes nothing. With outputs=False too: no y,
    the same final state and gradients; with input_grad=False: no dx, the same others."""
    arrays, opts, dtype = problem(data)
    other_arrays, other_opts, _ = problem(data)
    threads = data.draw(st.sampled_from([None, 1, 2, 3]), "threads")
    outputs = data.draw(st.booleans(), "outputs")
    input_grad = data.draw(st.booleans(), "input_grad")
    kind = data.draw(st.sampled_from(["consumed", "twice", "pending", "garbage"]), "kind")
    with engine.using_threads(threads):
        other = engine.forward(**other_arrays, **other_opts).workspace
        if kind == "garbage":
            bad = data.draw(GARBAGE.filter(lambda v: v is not None), "bad")
            return expect_error(lambda: engine.forward(**arrays, **opts, reuse=bad))
        if kind == "pending":
            outcome = expect_error(lambda: engine.forward(**arrays, **opts, reuse=other))
            engine.backward(other)  # still whole: the refused call took nothing
            return outcome
        engine.backward(other)
        want = engine.forward(**arrays, **opts)
        dy = np.random.default_rng(1).standard_normal(want.y.shape).astype(dtype)
        grads = engine.backward(want.workspace, dy)
        for _ in range(2 if kind == "twice" else 1):  # a 2nd time finds `other` emptied
            before = other.nbytes
            got = engine.forward(**arrays, **opts, reuse=other, outputs=outputs)
            if not outputs:
                if got.y is not None:
                    raise Wrong("outputs=False returned y")
                got.y = want.y  # (compared below: the state and gradients)
            taken = (other.nbytes, got.workspace.nbytes) == (0, before)
            if not (taken or other.nbytes == before):
                raise Wrong(f"reuse: {before} bytes became {other.nbytes}, not 0 or kept")
            same_forward(got, want, "reused workspace")
            g = engine.backward(got.workspace, dy, input_grad=input_grad)
            if not input_grad:
                if g.dx is not None:
                    raise Wrong("input_grad=False returned dx")
                g.dx = grads.dx
            same_gradients(g, grads, "reused workspace backward")
    return "ok"


# ---- engine.forward_group / backward_group: bitwise the calls one by one -------------------


def group_problem(data):
    """1-3 forward calls (dicts of forward's arguments): independent, or a chain."""
    chained = data.draw(st.booleans(), "chained")
    n = data.draw(st.integers(1, 3), "n_calls")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), "dtype")
    T, B = data.draw(st.integers(1, 10), "T"), data.draw(st.integers(1, 6), "B")
    lengths = None
    if data.draw(st.booleans(), "ragged"):
        lengths = np.random.default_rng(T * B).integers(1, T + 1, B)
    calls, I = [], data.draw(st.integers(1, 8), "I")
    for k in range(n):
        cell, kw = data.draw(st.sampled_from(CELLS), f"cell{k}")
        H = data.draw(st.integers(1, 8), f"H{k}")
        arrays, opts = ref.random_problem(
            cell,
            T,
            B,
            I,
            H,
            dtype=dtype,
            seed=k,
            bias=data.draw(st.booleans(), f"bias{k}"),
            initial_state=data.draw(st.booleans(), f"state{k}"),
            reverse=not chained and data.draw(st.booleans(), f"reverse{k}"),
            **kw,
        )
        if cell != "lstm":
            arrays.pop("c0")
        call = dict(arrays, **dict(opts, lengths=lengths))
        if data.draw(st.booleans(), f"packed{k}"):
            call["packed"] = engine.pack(**weights(arrays), **cell_options(opts))
        if chained and k > 0:
            call.pop("x")
        calls.append(call)
        if chained:
            I = H
    return calls, chained, dtype


def one_by_one(calls, chained):
    results, prev = [], None
    for c in calls:
        r = engine.forward(**dict(c, x=prev.y) if "x" not in c else c)
        results.append(r)
        prev = r
    return results


def break_group(data, calls, chained, dtype):
    """A group with one thing wrong in it; returns the call to make."""
    k = data.draw(st.integers(0, len(calls) - 1), "broken_call")
    kind = data.draw(
        st.sampled_from(
            ["garbage", "dtype", "not_a_dict", "unknown_key", "chain_x", "chain_reverse", "empty"]
        ),
        "break",
    )
    bad = [dict(c) for c in calls]
    if kind == "garbage":
        # (reverse, training, reset_after take any value as bool(); lengths any int sequence)
        valid_anyway = ("reverse", "training", "reset_after", "lengths")
        slot = data.draw(st.sampled_from(sorted(set(bad[k]) - set(valid_anyway))), "slot")
        bad[k][slot] = data.draw(GARBAGE, "value")
        if (
            bad[k][slot] is None
            and slot in ("bias_ih", "bias_hh", "lengths", "h0", "c0", "packed", "x")
            and not (slot == "x" and (k == 0 or not chained))
        ):
            bad[k][slot] = "x"
    elif kind == "dtype":
        other = np.float64 if dtype == np.float32 else np.float32
        names = [n for n in ("x", "weight_ih", "weight_hh", "h0") if bad[k].get(n) is not None]
        name = data.draw(st.sampled_from(names), "slot")
        bad[k][name] = bad[k][name].astype(other)
    elif kind == "not_a_dict":
        bad[k] = data.draw(st.sampled_from([None, 3, "x", (1, 2), []]), "value")
    elif kind == "unknown_key":
        bad[k]["weight"] = bad[k]["weight_ih"]
    elif kind == "chain_x":  # a later call of a chain with its own x of another T
        if not chained or k == 0:
            return lambda: (
                engine.forward_group(bad[:k] + [dict(bad[k], x=None)], True)
                if k
                else engine.forward_group([dict(bad[0], x=None)], chained)
            )
        T, B, _ = calls[0]["x"].shape
        I = bad[k]["weight_ih"].shape[1]
        dT = data.draw(st.sampled_from([1, 5] + ([-1] if T > 1 else [])), "dT")
        bad[k]["x"] = np.zeros((T + dT, B, I), dtype)
        bad[k]["lengths"] = None
    elif kind == "chain_reverse" and chained:  # a chain runs forward in time
        bad[k]["reverse"] = True
    else:
        return lambda: engine.forward_group([], chained)
    return lambda: engine.forward_group(bad, chained)


def engine_group(data):
    calls, chained, dtype = group_problem(data)
    threads = data.draw(st.sampled_from([None, 1, 2, 3]), "threads")
    use = data.draw(st.sampled_from(["run", "run", "run", "broken", "broken_backward"]), "use")
    with engine.using_threads(threads):
        if use == "broken":
            return expect_error(break_group(data, calls, chained, dtype))
        got = engine.forward_group(calls, chained)
        want = one_by_one(calls, chained)
        if use == "broken_backward":
            return expect_error(break_backward_group(data, got, want, calls))
        for k, (g, w) in enumerate(zip(got, want)):
            same_forward(g, w, f"forward_group call {k}")
        rng = np.random.default_rng(len(calls))
        dys = [rng.standard_normal(w.y.shape).astype(dtype) for w in want]
        dhs = [
            rng.standard_normal(w.h_n.shape).astype(dtype)
            if data.draw(st.booleans(), f"dh{k}")
            else None
            for k, w in enumerate(want)
        ]
        dcs = [
            None
            if w.c_n is None or not data.draw(st.booleans(), f"dc{k}")
            else rng.standard_normal(w.c_n.shape).astype(dtype)
            for k, w in enumerate(want)
        ]
        got_g = engine.backward_group([g.workspace for g in got], dys, dhs, dcs)
        for k, (w, dy, dh, dc) in enumerate(zip(want, dys, dhs, dcs)):
            same_gradients(
                got_g[k], engine.backward(w.workspace, dy, dh, dc), f"backward_group call {k}"
            )
        if chained:  # the stack's backward as a wavefront, from the top layer down
            input_grad = data.draw(st.booleans(), "input_grad")
            top_down = list(reversed(range(len(calls))))
            again = engine.forward_group(calls, chained)  # fresh workspaces
            got_c = engine.backward_group(
                [again[k].workspace for k in top_down],
                [dys[-1]] + [None] * (len(calls) - 1),
                [dhs[k] for k in top_down],
                [dcs[k] for k in top_down],
                input_grad=input_grad,
                chained=True,
            )
            fresh, dy = one_by_one(calls, chained), dys[-1]
            for g, k in zip(got_c, top_down):
                w = engine.backward(fresh[k].workspace, dy, dhs[k], dcs[k], k > 0 or input_grad)
                same_gradients(g, w, f"chained backward_group, layer {k}")
                dy = w.dx
    return "ok"


def break_backward_group(data, got, want, calls):
    """backward_group with one wrong argument (its workspaces are fresh otherwise)."""
    kind = data.draw(
        st.sampled_from(["consumed", "twice", "foreign", "count", "dy", "garbage_ws"]), "break"
    )
    wss = [g.workspace for g in got]
    dys = [np.zeros(w.y.shape, w.y.dtype) for w in want]
    k = data.draw(st.integers(0, len(wss) - 1), "which")
    if kind == "consumed":
        engine.backward(wss[k])
    elif kind == "twice":
        wss.append(wss[k])
        dys.append(dys[k])
    elif kind == "foreign":  # the workspace of a longer sequence, under this call's arguments
        c = calls[k] if "x" in calls[k] else dict(calls[k], x=want[k - 1].y)
        longer = dict(c, x=np.concatenate([c["x"], c["x"][-1:]]), lengths=None)
        wss[k] = engine.Workspace(engine.forward(**longer).workspace._buf, wss[k]._args)
    elif kind == "count":
        dys = dys[:-1]
    elif kind == "dy":
        dys[k] = data.draw(st.one_of(GARBAGE, st.just(np.zeros((1, 1, 1), dys[k].dtype))), "dy")
        if dys[k] is None:
            dys[k] = "x"
    else:
        wss[k] = data.draw(GARBAGE, "ws")
    return lambda: engine.backward_group(wss, dys)


# ---- every _core function with arguments of any type --------------------------------------

CORE_FUNCTIONS = [
    "forward",
    "forward",
    "backward",
    "backward",
    "pack",
    "forward_group",
    "forward_group",
    "backward_group",
    "backward_group",
    "conv1d_forward",
    "conv1d_backward",
    "plan",
    "gemm",
    "activation",
    "set_num_threads",
    "get_num_threads",
    "workspace_size",
    "check_memory",
    "max_threads",
    "config",
    "available_memory",
    "fma_peak_gflops",
]
ANY = st.one_of(
    GARBAGE,
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.text(max_size=4),
    st.sampled_from(["lstm", "gru", "rnn", "tanh", "relu", "exp", "sigmoid"]),
    st.builds(
        lambda s, d: np.ones(s, d),
        st.lists(st.integers(1, 3), min_size=0, max_size=3).map(tuple),
        st.sampled_from([np.float32, np.float64, np.int64, np.complex64]),
    ),
)


def valid_core_call(name, data):
    """A valid argument list for _core.name (to be broken in a few places), or []."""
    if name in ("forward", "backward"):
        arrays, opts, _ = problem(data, small=5)
        a = dict(arrays, c0=arrays.get("c0"))
        head = [
            opts["cell"],
            opts.get("nonlinearity", "tanh"),
            opts.get("reset_after", True),
            opts["reverse"],
            a["x"],
            a["weight_ih"],
            a["weight_hh"],
        ]
        if name == "forward":
            return head + [
                a["bias_ih"],
                a["bias_hh"],
                opts["lengths"],
                a["h0"],
                a["c0"],
                True,
                None,
                0,
            ]
        ws = _core.forward(
            *head, a["bias_ih"], a["bias_hh"], opts["lengths"], a["h0"], a["c0"], True
        )[3]
        return head + [opts["lengths"], ws, None, None, None, a["bias_ih"] is not None, 0]
    if name == "pack":
        arrays, opts, _ = problem(data, small=5)
        return [opts["cell"], opts.get("nonlinearity", "tanh"), opts.get("reset_after", True)] + [
            arrays[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        ]
    if name in ("forward_group", "backward_group"):
        calls, chained, _ = group_problem(data)
        prepared = [engine._forward_call(**({"x": None} | c)) for c in calls]
        if name == "forward_group":
            return [prepared, chained, 0]
        outs = _core.forward_group(prepared, chained, 0)
        back, prev_y = [], None
        for call, (y, _, _, ws) in zip(prepared, outs):
            x = prev_y if call[4] is None else call[4]
            back.append(call[:4] + (x, call[5], call[6], call[9], ws, y, None, None, True))
            prev_y = y
        return [back, 0]
    if name in ("conv1d_forward", "conv1d_backward"):
        x = np.ones((6, 2, 3), np.float32)
        w = np.ones((4, 3, 2), np.float32)
        if name == "conv1d_forward":
            return [x, w, np.ones(4, np.float32), None, 1, 1, 0, 1, True, True]
        ws = _core.conv1d_forward(x, w, None, None, 1, 1, 0, 1, True, True)[1]
        return [x, w, None, 1, 1, 0, 1, True, ws, np.ones((5, 2, 4), np.float32), False]
    if name == "plan":
        return ["lstm", "tanh", 5, 2, 3, 4, 2, 4, -1.0, -1]
    if name == "gemm":
        return [np.ones((3, 2), np.float32), np.ones((2, 4), np.float32), 0]
    if name == "activation":
        return ["tanh", np.linspace(-2, 2, 7, dtype=np.float32)]
    if name == "workspace_size":
        return ["gru", False, 3, 2, 4, 5]
    if name == "check_memory":
        return [10, "a call"]
    return []


def break_nested(data, calls):
    """A group's list of call tuples with one element of one call replaced (or cut)."""
    calls = list(calls)
    k = data.draw(st.integers(0, len(calls) - 1), "call")
    c = list(calls[k])
    if data.draw(st.booleans(), "cut_call"):
        c = c[: data.draw(st.integers(0, len(c)), "keep")]
    elif c:
        c[data.draw(st.integers(0, len(c) - 1), "element")] = data.draw(ANY, "value")
    calls[k] = tuple(c) if data.draw(st.booleans(), "as_tuple") else c
    return calls


def short_repr(v):
    if isinstance(v, np.ndarray):
        return f"array{v.shape}:{v.dtype}"
    if isinstance(v, (list, tuple)):
        return type(v)(map(short_repr, v))
    return repr(v)[:40]


def core_any_arguments(data):
    name = data.draw(st.sampled_from(CORE_FUNCTIONS), "function")
    args = valid_core_call(name, data)
    if args and data.draw(st.booleans(), "break_valid"):
        for _ in range(data.draw(st.integers(1, 3), "n_broken")):
            at = data.draw(st.integers(0, len(args) - 1), "position")
            if isinstance(args[at], list) and args[at] and data.draw(st.booleans(), "nested"):
                args[at] = break_nested(data, args[at])  # inside one call of a group
            else:
                args[at] = data.draw(ANY, "value")
        if data.draw(st.booleans(), "cut"):
            args = args[: data.draw(st.integers(0, len(args)), "keep")]
    elif not args or data.draw(st.booleans(), "random_args"):
        args = data.draw(st.lists(ANY, max_size=15), "args")
    if name == "fma_peak_gflops":  # a valid count would run a 1 s benchmark: keep it invalid
        args = [-1 if isinstance(v, (bool, int, np.integer)) else v for v in args]
    sys.stderr.write(f"_core.{name}{tuple(map(short_repr, args))}\n")  # (a hang's last case)
    try:
        getattr(_core, name)(*args)
    except CLEAN:
        return "error"
    except Exception as e:  # noqa: BLE001
        raise Wrong(f"_core.{name}: {type(e).__name__}: {e}") from e
    finally:
        _core.set_num_threads(None)
    return "ok"


# ---- engine.gemm against numpy -------------------------------------------------------------


def engine_gemm(data):
    M, K, N = (data.draw(st.integers(1, 70), n) for n in "MKN")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), "dtype")
    rng = np.random.default_rng(M * K * N)
    a, b = rng.standard_normal((M, K)).astype(dtype), rng.standard_normal((K, N)).astype(dtype)
    layout = data.draw(
        st.sampled_from(["c", "misaligned", "fortran", "strided", "mismatch"]), "layout"
    )
    if layout == "fortran" and min(M, K) > 1:
        return expect_error(lambda: engine.gemm(np.asfortranarray(a), b))
    if layout == "strided" and N > 1:
        return expect_error(lambda: engine.gemm(a, np.repeat(b, 2, axis=1)[:, ::2]))
    if layout == "mismatch":
        return expect_error(lambda: engine.gemm(a, np.ones((K + 1, N), dtype)))
    pa, pb = (misaligned(a), misaligned(b)) if layout == "misaligned" else (a, b)
    with engine.using_threads(data.draw(st.sampled_from([None, 1, 2]), "threads")):
        got = engine.gemm(pa, pb)
    close(got, a.astype(np.float64) @ b.astype(np.float64), dtype, "gemm", scale=max(1, K / 8))
    return "ok"


# ---- networks: stacked, bidirectional; determinism, thread invariance, padding ------------


def network(data):
    cell = data.draw(st.sampled_from(["rnn", "lstm", "gru"]), "cell")
    cls = {"rnn": pyrnn.RNN, "lstm": pyrnn.LSTM, "gru": pyrnn.GRU}[cell]
    T, B, I, H = (data.draw(st.integers(1, 8), n) for n in "TBIH")
    L = data.draw(st.integers(1, 3), "layers")
    kw = dict(
        num_layers=L,
        bidirectional=data.draw(st.booleans(), "bidir"),
        batch_first=data.draw(st.booleans(), "batch_first"),
        merge_mode=data.draw(st.sampled_from(["concat", "sum"]), "merge"),
        dtype=data.draw(st.sampled_from([np.float32, np.float64]), "dtype"),
        random_state=0,
    )
    net = cls(I, H, **kw)
    rng = np.random.default_rng(T + B)
    x = rng.standard_normal((B, T, I) if kw["batch_first"] else (T, B, I))
    lengths = rng.integers(1, T + 1, B) if data.draw(st.booleans(), "ragged") else None
    bad = data.draw(
        st.sampled_from(["none", "none", "none", "features", "lengths", "garbage"]), "bad"
    )
    if bad == "features":
        return expect_error(lambda: net.forward(np.zeros(x.shape[:-1] + (I + 1,))))
    if bad == "lengths":
        return expect_error(lambda: net.forward(x, lengths=np.full(B, T + 1)))
    if bad == "garbage":
        return expect_error(lambda: net.forward(data.draw(GARBAGE, "garbage")))
    outs = []
    for threads in (1, 2, 1):
        with engine.using_threads(threads):
            out, _ = net.forward(x, lengths=lengths)
            dout = np.ones_like(out)
            net.zero_grad()
            net.backward(dout)
            outs.append((out.copy(), net.grad.copy()))
    for out, grad in outs[1:]:
        if not (np.array_equal(out, outs[0][0]) and np.array_equal(grad, outs[0][1])):
            raise Wrong("results differ between runs or thread counts")
    if not (np.isfinite(outs[0][0]).all() and np.isfinite(outs[0][1]).all()):
        raise Wrong("non-finite output or gradient from finite input")
    if lengths is not None:
        tm = outs[0][0].transpose(1, 0, 2) if kw["batch_first"] else outs[0][0]
        for b, n in enumerate(lengths):
            if np.any(tm[n:, b] != 0):
                raise Wrong("non-zero output past a sequence's length")
    return "ok"


# ---- losses, clipping and optimizers -------------------------------------------------------


def losses_optimizers(data):
    which = data.draw(st.sampled_from(["softmax", "binary", "mse", "clip", "optim"]), "which")
    rng = np.random.default_rng(data.draw(st.integers(0, 999), "seed"))
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3), "shape"))
    # huge values only where the result stays representable (stable log-sum-exp)
    scale = data.draw(
        st.sampled_from([1.0, 1e3] + ([1e30] if which in ("softmax", "binary") else [])), "scale"
    )
    a = (rng.standard_normal(shape) * scale).astype(
        data.draw(st.sampled_from([np.float32, np.float64]), "dtype")
    )
    invalid = data.draw(st.sampled_from([False, False, True]), "invalid")
    if which == "softmax":
        C = shape[-1]
        y = rng.integers(0, C, shape[:-1])
        if invalid:
            return expect_error(lambda: losses.softmax_cross_entropy(a, y + C))
        out = losses.softmax_cross_entropy(a, y)
    elif which == "binary":
        y = (rng.random(shape) > 0.5).astype(a.dtype)
        if invalid:
            return expect_error(
                lambda: losses.binary_cross_entropy(a, y[..., :0] if shape[-1] > 0 else "x")
            )
        out = losses.binary_cross_entropy(a, y)
    elif which == "mse":
        if invalid:
            return expect_error(lambda: losses.mse(a, np.zeros(shape + (2,))))
        out = losses.mse(a, np.zeros_like(a))
    elif which == "clip":
        if invalid:
            return expect_error(
                lambda: clip.clip_grad_norm(
                    [a], data.draw(st.sampled_from([-1.0, float("nan"), "x"]), "norm")
                )
            )
        clip.clip_grad_norm([a], 1.0)
        if not np.linalg.norm(a.astype(np.float64)) <= 1.0 + 1e-3:
            raise Wrong("clip_grad_norm left a norm above max_norm")
        return "ok"
    else:
        cls = data.draw(
            st.sampled_from([optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop, optim.Adagrad]),
            "opt",
        )
        p = np.zeros_like(a)
        lr = data.draw(st.sampled_from([1e-3, 0.1]), "lr")
        if invalid:
            return expect_error(
                lambda: cls(
                    [(p, a)], lr=data.draw(st.sampled_from([-1.0, float("nan"), "x"]), "badlr")
                )
            )
        opt = cls([(p, a)], lr=lr)
        for _ in range(3):
            opt.step()
        out = p
    parts = out if isinstance(out, tuple) else (out,)
    for part in parts:
        if not np.isfinite(np.asarray(part, np.float64)).all():
            raise Wrong(f"{which}: non-finite result from finite input")
    return "ok"


# ---- estimators: fit, predict, score on small random data and parameters ---------------------


def estimators(data):
    kind = data.draw(st.sampled_from(["classifier", "regressor"]), "kind")
    n = data.draw(st.integers(2, 10), "n")
    F = data.draw(st.integers(1, 3), "features")
    rng = np.random.default_rng(n * F)
    ragged = data.draw(st.booleans(), "ragged")
    X = (
        [rng.standard_normal((int(rng.integers(1, 6)), F)) for _ in range(n)]
        if ragged
        else rng.standard_normal((n, int(rng.integers(1, 6)), F))
    )
    params = dict(
        hidden_size=data.draw(st.integers(1, 6), "H"),
        max_epochs=1,
        random_state=0,
        cell=data.draw(st.sampled_from(["rnn", "lstm", "gru"]), "cell"),
        batch_size=data.draw(st.integers(1, 12), "batch"),
        n_threads=data.draw(st.sampled_from([None, 1, 2]), "threads"),
        layout="NTC",  # (n, T, F) as made here; T < F is ambiguous without it
    )
    bad = data.draw(
        st.sampled_from(
            [None, None, None, "hidden_size", "n_threads", "learning_rate", "nan_X", "y_length"]
        ),
        "bad",
    )
    if bad in ("hidden_size", "n_threads", "learning_rate"):
        values = {
            "hidden_size": [0, -3, "x", 2.5],
            "n_threads": [0, -3, 10**9, "x"],
            "learning_rate": [0, -3.0, "x", float("nan")],
        }[bad]
        params[bad] = data.draw(st.sampled_from(values), "bad_value")
    if kind == "classifier":
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        est = pyrnn.RNNClassifier(**params)
    else:
        y = rng.standard_normal(n)
        est = pyrnn.RNNRegressor(**params)
    if bad == "nan_X":
        X[0][0, 0] = np.nan
    if bad == "y_length":
        y = y[:-1]
    if bad is not None:
        return expect_error(lambda: est.fit(X, y))
    est.fit(X, y)
    pred = est.predict(X)
    score = est.score(X, y)
    if len(pred) != n or not np.isfinite(score):
        raise Wrong(f"predict gave {len(pred)} results for {n} samples, score {score}")
    return "ok"


ENTRY_POINTS = {
    "core_any_arguments": core_any_arguments,
    "engine_forward_backward": engine_forward_backward,
    "engine_gemm": engine_gemm,
    "network": network,
    "losses_optimizers": losses_optimizers,
    "estimators": estimators,
    "engine_pack": engine_pack,
    "engine_group": engine_group,
    "engine_reuse": engine_reuse,
}
