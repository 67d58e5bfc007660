"""The C++ engine (pyrnn.engine over pyrnn._core) against the numpy reference.

- Values: float64 to ~1e-12 and float32 to ~1e-5 of the float64 reference:
  outputs, final states, every gradient, the per-timestep gradient norms.
- Central-difference gradient checks of the engine itself in float64.
- Inference mode equals training mode; thread counts 1 and 2 give bitwise-equal
  results; a workspace is consumed by backward; shapes at the tiling edges;
  every ISA level the CPU supports (forced by PYRNN_ISA, in a subprocess).
"""

import subprocess
import sys

import numpy as np
import pytest

import reference as ref
from support import TESTS_DIR, subprocess_env
from pyrnn import engine

CELLS = [pytest.param(*args, id=name) for name, args in ref.CELLS.items()]
SHAPES = [  # (T, B, I, H)
    pytest.param((5, 3, 4, 5), id="T5B3I4H5"),
    pytest.param((1, 1, 2, 3), id="T1B1I2H3"),
    pytest.param((4, 2, 3, 17), id="T4B2I3H17"),
]
TOL = {np.float64: 1e-12, np.float32: 1e-5}
GRAD_NAMES = (
    "dx",
    "dh0",
    "dc0",
    "dweight_ih",
    "dweight_hh",
    "dbias_ih",
    "dbias_hh",
    "grad_norm_h",
    "grad_norm_c",
)


def as_dtype(arrays, dtype):
    return {k: None if a is None else a.astype(dtype) for k, a in arrays.items()}


def run_both(arrays, options, dtype):
    """Engine in ``dtype`` and the float64 reference on the same (rounded) inputs,
    both driven by the linear test loss. Returns (res, grads, ref_res, ref_grads)."""
    T, B, _ = arrays["x"].shape
    H = arrays["weight_hh"].shape[1]
    given = as_dtype(arrays, dtype)
    exact = as_dtype(given, np.float64)
    weights = ref.loss_weights(T, B, H, options["cell"], dtype=dtype)
    res = engine.forward(**given, **options)
    grads = engine.backward(res.workspace, *weights)
    ref_res = ref.forward(**exact, **options)
    ref_grads = ref.backward(
        ref_res.workspace, *[None if w is None else w.astype(np.float64) for w in weights]
    )
    return res, grads, ref_res, ref_grads


def assert_matches_reference(res, grads, ref_res, ref_grads, dtype, lengths):
    """Every output and gradient within TOL[dtype] (relative to its largest entry)."""
    tol = TOL[dtype]
    pairs = [(name, getattr(res, name), getattr(ref_res, name)) for name in ("y", "h_n", "c_n")]
    pairs += [(name, getattr(grads, name), getattr(ref_grads, name)) for name in GRAD_NAMES]
    for name, got, want in pairs:
        if want is None:
            assert got is None, name
            continue
        assert got.dtype == dtype and got.shape == want.shape, name
        error = ref.relative_error(got, want)
        assert error <= tol, f"{name}: relative error {error:.3g} > {tol}"
    # Padded steps: zero output and zero input gradient, exactly.
    if lengths is not None:
        for b, n in enumerate(lengths):
            assert not np.any(res.y[n:, b]) and not np.any(grads.dx[n:, b])


def check_against_reference(arrays, options, dtype):
    results = run_both(arrays, options, dtype)
    assert_matches_reference(*results, dtype, options["lengths"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("variable_length", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_engine_matches_reference(cell, kw, variable_length, reverse, shape, dtype):
    arrays, options = ref.random_problem(
        cell, *shape, variable_length=variable_length, reverse=reverse, **kw
    )
    check_against_reference(arrays, options, dtype)


@pytest.mark.parametrize("bias, initial_state", [(False, False), (False, True), (True, False)])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_engine_optional_arguments(cell, kw, bias, initial_state):
    arrays, options = ref.random_problem(
        cell, 4, 3, 3, 6, bias=bias, variable_length=True, initial_state=initial_state, **kw
    )
    for dtype in (np.float64, np.float32):
        check_against_reference(arrays, options, dtype)


@pytest.mark.parametrize(
    "shape",
    [  # I + H: transposed product with / without a row to spare, plain with / without a column
        pytest.param((3, 4, 1, 64), id="I1H64"),
        pytest.param((3, 4, 1, 5), id="I1H5"),
        pytest.param((3, 4, 2, 128), id="I2H128"),
        pytest.param((3, 4, 4, 28), id="I4H28"),
    ],
)
@pytest.mark.parametrize("cell, kw", CELLS)
def test_bias_gradient_with_or_without_the_weight_gradients_product(cell, kw, shape):
    """The bias gradient comes out of the weight gradient's product (a column of ones beside
    [X | H_prev]) where that costs no extra micro-tile, else from a pass over dG: both against
    the float64 reference (which of the shapes take which way depends on the ISA level)."""
    arrays, options = ref.random_problem(cell, *shape, variable_length=True, seed=3, **kw)
    for dtype in (np.float64, np.float32):
        check_against_reference(arrays, options, dtype)


PARAM_GRADS = ("dweight_ih", "dweight_hh", "dbias_ih", "dbias_hh")


def accumulators(arrays, dtype, seed):
    """Random starting values for backward's ``grads`` (None for missing biases)."""
    rng = np.random.default_rng(seed)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return tuple(
        None if arrays[n] is None else rng.standard_normal(arrays[n].shape).astype(dtype)
        for n in names
    )


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize(
    "shape",  # the transposed and the plain weight-gradient product, bias in it or not
    [(3, 4, 1, 64), (3, 4, 1, 5), (3, 4, 2, 128), (3, 4, 4, 28), (4, 7, 3, 17)],
    ids=["I1H64", "I1H5", "I2H128", "I4H28", "I3H17"],
)
@pytest.mark.parametrize("cell, kw", CELLS)
def test_backward_adds_into_given_gradients(cell, kw, shape, bias, threads):
    """grads=(...): the parameter gradients are added in place, bitwise what adding the
    returned ones gives (numpy's +=), the other outputs unchanged; float32 and float64."""
    arrays, options = ref.random_problem(
        cell, *shape, bias=bias, variable_length=True, seed=5, **kw
    )
    T, B, _, H = shape
    for dtype in (np.float32, np.float64):
        given = as_dtype(arrays, dtype)
        weights = ref.loss_weights(T, B, H, options["cell"], dtype=dtype)
        with engine.using_threads(threads):
            plain = engine.backward(engine.forward(**given, **options).workspace, *weights)
            accs = accumulators(given, dtype, seed=11)
            start = [None if a is None else a.copy() for a in accs]
            added = engine.backward(
                engine.forward(**given, **options).workspace, *weights, grads=accs
            )
        for name, acc, a0 in zip(PARAM_GRADS, accs, start):
            got = getattr(added, name)
            if a0 is None:
                assert got is None and getattr(plain, name) is None, name
                continue
            assert got is acc, name  # the caller's own array, returned
            want = a0.copy()
            want += getattr(plain, name)
            np.testing.assert_array_equal(acc, want, err_msg=name)
        for name in ("dx", "dh0", "dc0", "grad_norm_h", "grad_norm_c"):
            a, b = getattr(plain, name), getattr(added, name)
            assert (a is None) == (b is None), name
            if a is not None:
                np.testing.assert_array_equal(b, a, err_msg=name)


@pytest.mark.parametrize("cell, kw", CELLS)
def test_backward_group_adds_into_given_gradients(cell, kw):
    """backward_group with grads per call: bitwise the calls one by one with grads."""
    arrays, options = ref.random_problem(cell, 5, 3, 4, 9, variable_length=True, seed=2, **kw)
    given = as_dtype(arrays, np.float32)
    weights = ref.loss_weights(5, 3, 9, options["cell"], dtype=np.float32)
    rev = dict(options, reverse=True)
    one = [accumulators(given, np.float32, seed=s) for s in (1, 2)]
    grp = [tuple(a.copy() for a in g) for g in one]
    engine.backward(engine.forward(**given, **options).workspace, *weights, grads=one[0])
    engine.backward(engine.forward(**given, **rev).workspace, *weights, grads=one[1])
    wss = [engine.forward(**given, **o).workspace for o in (options, rev)]
    engine.backward_group(wss, [weights[0]] * 2, [weights[1]] * 2, [weights[2]] * 2, grads=grp)
    for a, b in zip(one, grp):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(y, x)


def test_backward_grads_are_checked():
    """Arrays the kernel would add into: clear errors, and the workspace is not consumed."""
    arrays, options = ref.random_problem("lstm", 3, 2, 3, 5, seed=1)
    given = as_dtype(arrays, np.float32)
    res = engine.forward(**given, **options)
    good = accumulators(given, np.float32, seed=0)
    wi, wh, bi, bh = good
    cases = [
        ((wi, wh, bi), ValueError, "4 entries"),
        ({"a": 1}, TypeError, "tuple"),
        ((wi.astype(np.float64), wh, bi, bh), TypeError, "dtype"),
        ((wi[:, :2], wh, bi, bh), ValueError, "shape"),
        ((wi, np.asfortranarray(wh), bi, bh), ValueError, "C-contiguous"),
        ((wi, wh, bi, None), TypeError, "numpy array"),
        ((wi, wh, bh, bh), ValueError, "overlap"),
        ((wi, wh, bi, np.zeros(0, np.float32)), ValueError, "shape"),
    ]
    ro = wi.copy()
    ro.flags.writeable = False
    cases.append(((ro, wh, bi, bh), ValueError, "writeable"))
    for grads, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            engine.backward(res.workspace, grads=grads)
    assert not res.workspace.consumed
    engine.backward(res.workspace, grads=good)  # and then it is
    assert res.workspace.consumed
    nobias = dict(given, bias_ih=None, bias_hh=None)
    ws = engine.forward(**nobias, **options).workspace
    with pytest.raises(ValueError, match="no biases"):
        engine.backward(ws, grads=good)
    engine.backward(ws, grads=(wi, wh, None, None))
    # two calls of a group adding into one array
    w1, w2 = (engine.forward(**given, **o).workspace for o in (options, options))
    with pytest.raises(ValueError, match="overlap"):
        engine.backward_group([w1, w2], [None, None], grads=[good, good])
    assert not w1.consumed and not w2.consumed


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("variable_length", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_engine_gradients(cell, kw, variable_length, reverse, shape):
    arrays, options = ref.random_problem(
        cell, *shape, variable_length=variable_length, reverse=reverse, seed=7, **kw
    )
    errors = ref.gradient_check(engine.forward, engine.backward, arrays, options, max_entries=100)
    assert set(errors) == {name for name, a in arrays.items() if a is not None}
    assert max(errors.values()) <= 1e-6, errors


@pytest.mark.parametrize("cell, kw", CELLS)
def test_missing_output_gradients_are_zeros(cell, kw):
    T, B, I, H = 4, 3, 2, 5
    arrays, options = ref.random_problem(cell, T, B, I, H, variable_length=True, **kw)
    _, wh, wc = ref.loss_weights(T, B, H, cell)
    zeros_y = np.zeros((T, B, H))
    explicit = engine.backward(engine.forward(**arrays, **options).workspace, zeros_y, wh, wc)
    implicit = engine.backward(engine.forward(**arrays, **options).workspace, dh_n=wh, dc_n=wc)
    for name in GRAD_NAMES:
        want, got = getattr(explicit, name), getattr(implicit, name)
        assert (want is None) == (got is None), name
        if want is not None:
            np.testing.assert_array_equal(got, want, err_msg=name)
    nothing = engine.backward(engine.forward(**arrays, **options).workspace)
    assert not np.any(nothing.dx) and not np.any(nothing.dweight_hh)
    assert not np.any(nothing.grad_norm_h)


@pytest.mark.parametrize("variable_length", [True, False], ids=["lengths", "full"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cell, kw", CELLS)
@pytest.mark.parametrize(
    "shape",
    [(6, 5, 7, 19), (12, 100, 3, 7), (12, 20, 9, 150), (9, 1, 5, 70), (9, 2, 5, 200)],
    ids=["small", "chunked", "rows", "one-row", "two-rows-units"],
)
def test_inference_equals_training(cell, kw, dtype, shape, variable_length, restore_num_threads):
    """Inference keeps only the running state (in y itself when every row runs to T), and
    projects the input in chunks of about 128 / B steps grouped by unit blocks (one group
    per thread for one or two rows): (12, 100, ...) crosses chunk boundaries, (12, 20, 9, 150)
    is big enough for two threads to share each step by batch rows (6 + 6 steps per chunk),
    (9, 2, 5, 200) shares the units of two rows (a partial last block of 8)."""
    engine.set_num_threads(2)
    arrays, options = ref.random_problem(
        cell, *shape, variable_length=variable_length, dtype=dtype, **kw
    )
    for reverse in (False, True):
        opts = dict(options, reverse=reverse)
        train = engine.forward(**arrays, **opts, training=True)
        infer = engine.forward(**arrays, **opts, training=False)
        assert infer.workspace is None
        assert train.workspace is not None
        np.testing.assert_array_equal(infer.y, train.y)
        np.testing.assert_array_equal(infer.h_n, train.h_n)
        if cell == "lstm":
            np.testing.assert_array_equal(infer.c_n, train.c_n)
        else:
            assert infer.c_n is None


# One shape per way of sharing a step among threads: H = 300 has weights small enough for
# each thread to take whole batch rows (float32), H = 640 has weights past the 1.5 MiB the
# kernels keep per core, so threads share the hidden units (and meet at a barrier per step);
# B = 2 is a small batch whose forward shares the units because its step streams >= 128 KiB
# of recurrent weights (its backward stays on one thread).
@pytest.mark.parametrize(
    "shape",
    [(7, 12, 11, 300), (4, 12, 11, 640), (6, 2, 11, 200)],
    ids=["rows", "units", "small-batch"],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_thread_count_does_not_change_results(cell, kw, dtype, shape, restore_num_threads):
    # Big enough that the kernels really split the work (they stay on one thread below
    # 2e6 recurrent FLOPs per step, 2*B*G*H*H, unless the forward step streams 128 KiB of
    # recurrent weights, G*H*H elements), H not a multiple of any vector width.
    T, B, I, H = shape
    assert 2 * B * H * H >= 2_000_000 or H * H * np.dtype(dtype).itemsize >= 128 * 1024
    arrays, options = ref.random_problem(cell, T, B, I, H, variable_length=True, dtype=dtype, **kw)
    weights = ref.loss_weights(T, B, H, cell, dtype=dtype)
    for reverse in (False, True):
        opts = dict(options, reverse=reverse)
        runs = []
        for n in (1, 2):
            engine.set_num_threads(n)
            assert engine.get_num_threads() == n
            res = engine.forward(**arrays, **opts)
            runs.append((res, engine.backward(res.workspace, *weights)))
        (res1, grads1), (res2, grads2) = runs
        for name in ("y", "h_n", "c_n"):
            if getattr(res1, name) is not None:
                np.testing.assert_array_equal(getattr(res2, name), getattr(res1, name), name)
        for name in GRAD_NAMES:
            if getattr(grads1, name) is not None:
                np.testing.assert_array_equal(getattr(grads2, name), getattr(grads1, name), name)
    # And the threaded result is the right one.
    check_against_reference(arrays, options, dtype)


def _rows(arrays, options, rows):
    """The problem restricted to batch rows ``rows``."""
    sub = dict(arrays, x=np.ascontiguousarray(arrays["x"][:, rows]))
    for k in ("h0", "c0"):
        if arrays[k] is not None:
            sub[k] = np.ascontiguousarray(arrays[k][rows])
    opts = dict(options)
    if options["lengths"] is not None:
        opts["lengths"] = options["lengths"][rows]
    return sub, opts


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_a_sequence_does_not_depend_on_its_batch(cell, kw, dtype, restore_num_threads):
    # A step of one or two rows runs its own kernel (several weight panels at once, to keep
    # enough FMA chains in flight); it must give bitwise what the general path gives a row
    # of a larger batch, at any thread count. H = 200 and 40: several unit blocks and a
    # partial last one; B = 9 covers a 6-row micro-tile plus a tail. I = 2: dX by dot products
    # at every vector width (a product using at most a quarter of a micro-tile's columns), its
    # rows shared among threads.
    for H, I in ((40, 7), (200, 7), (40, 2)):
        T, B = 5, 9
        arrays, options = ref.random_problem(
            cell, T, B, I, H, variable_length=True, dtype=dtype, seed=H, **kw
        )
        wy, wh, wc = ref.loss_weights(T, B, H, cell, dtype=dtype)
        for n in (1, 2):
            engine.set_num_threads(n)
            for reverse in (False, True):
                opts = dict(options, reverse=reverse)
                whole = engine.forward(**arrays, **opts)
                gwhole = engine.backward(whole.workspace, wy, wh, wc)
                for rows in ([0], [4], [8], [2, 3], [7, 8]):
                    sub, sopts = _rows(arrays, opts, rows)
                    part = engine.forward(**sub, **sopts)
                    gpart = engine.backward(
                        part.workspace,
                        *(
                            None if w is None else np.ascontiguousarray(w[..., rows, :])
                            for w in (wy, wh, wc)
                        ),
                    )
                    where = f"H={H} threads={n} reverse={reverse} rows={rows}"
                    np.testing.assert_array_equal(part.y, whole.y[:, rows], where)
                    np.testing.assert_array_equal(part.h_n, whole.h_n[rows], where)
                    np.testing.assert_array_equal(gpart.dx, gwhole.dx[:, rows], where)
                    np.testing.assert_array_equal(gpart.dh0, gwhole.dh0[rows], where)


def test_same_call_twice_is_bitwise_identical():
    arrays, options = ref.random_problem(
        "lstm", 7, 4, 5, 33, dtype=np.float32, variable_length=True
    )
    weights = ref.loss_weights(7, 4, 33, "lstm", dtype=np.float32)
    first = engine.forward(**arrays, **options)
    second = engine.forward(**arrays, **options)
    np.testing.assert_array_equal(first.y, second.y)
    g1 = engine.backward(first.workspace, *weights)
    g2 = engine.backward(second.workspace, *weights)
    for name in GRAD_NAMES:
        np.testing.assert_array_equal(getattr(g1, name), getattr(g2, name), name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "M, K, N",
    [
        (50, 70, 90),  # one k-block, B in L2
        (300, 1100, 40),  # several k-blocks, B in L2: each tile runs all of them at once
        (2000, 1100, 520),  # B past any L2 (2.3 MB float32): the order the blocks decide
    ],
)
def test_gemm_is_the_product_bitwise_for_any_thread_count(M, K, N, dtype, restore_num_threads):
    """engine.gemm against float64 numpy, and the same bits at 1, 2 and 3 threads whichever
    loop order (k-blocks outermost, or each tile whole) the caches pick for the shape."""
    rng = np.random.default_rng(M + K + N)
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    outs = []
    for threads in (1, 2, 3):
        engine.set_num_threads(threads)
        outs.append(engine.gemm(a, b))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    assert np.all(np.abs(outs[0] - want) <= tol * scale)
    for other in outs[1:]:
        np.testing.assert_array_equal(other, outs[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_start_on_a_cache_line_and_own_their_memory(dtype):
    """Every array the engine returns starts on a 64-byte boundary (the kernels' vector
    accesses then never split a cache line) and is an ordinary writeable, C-contiguous array
    that keeps its memory alive on its own."""
    arrays, options = ref.random_problem("lstm", 5, 3, 7, 9, dtype=dtype, variable_length=True)
    res = engine.forward(**arrays, **options)
    grads = engine.backward(res.workspace, *ref.loss_weights(5, 3, 9, "lstm", dtype=dtype))
    outs = {"y": res.y, "h_n": res.h_n, "c_n": res.c_n}
    outs.update({name: getattr(grads, name) for name in GRAD_NAMES})
    outs["gemm"] = engine.gemm(np.ones((5, 3), dtype), np.ones((3, 7), dtype))
    outs["pack"] = engine.pack(
        *(arrays[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")), cell="lstm"
    )
    expected = {name: a.copy() for name, a in outs.items()}
    del res, grads
    for name, a in outs.items():
        assert a.ctypes.data % 64 == 0, name
        assert a.flags.writeable and a.flags.c_contiguous and a.dtype == dtype, name
        np.testing.assert_array_equal(a, expected[name], name)
        a[...] = 0  # writes land in the array's own memory
        assert not a.any(), name


@pytest.mark.parametrize("cell, kw", CELLS)
def test_inputs_are_not_modified(cell, kw):
    arrays, options = ref.random_problem(cell, 4, 3, 5, 6, variable_length=True, **kw)
    lengths = options["lengths"].copy()
    copies = {k: None if a is None else a.copy() for k, a in arrays.items()}
    weights = ref.loss_weights(4, 3, 6, cell)
    weight_copies = [None if w is None else w.copy() for w in weights]
    engine.backward(engine.forward(**arrays, **options).workspace, *weights)
    for name, a in arrays.items():
        if a is not None:
            np.testing.assert_array_equal(a, copies[name], name)
    for w, c in zip(weights, weight_copies):
        if w is not None:
            np.testing.assert_array_equal(w, c)
    np.testing.assert_array_equal(options["lengths"], lengths)


def test_workspace_is_consumed_by_backward():
    arrays, options = ref.random_problem("gru", 3, 2, 3, 4)
    res = engine.forward(**arrays, **options)
    engine.backward(res.workspace, dh_n=np.ones((2, 4)))
    with pytest.raises(ValueError, match="forward"):
        engine.backward(res.workspace, dh_n=np.ones((2, 4)))


@pytest.mark.parametrize("cell, kw", CELLS)
def test_reused_workspace_gives_the_same_bits(cell, kw):
    """A training forward given a consumed workspace (``reuse``) takes over its buffer: the
    results are bitwise those of a fresh buffer, whatever the old one held, for a smaller
    problem in a larger buffer too; a buffer too small or of another dtype is left alone."""
    big, big_opts = ref.random_problem(cell, 6, 4, 3, 9, dtype=np.float32, **kw)
    small, small_opts = ref.random_problem(
        cell, 5, 3, 3, 9, dtype=np.float32, variable_length=True, seed=3, **kw
    )
    w_big = ref.loss_weights(6, 4, 9, cell, dtype=np.float32)
    w_small = ref.loss_weights(5, 3, 9, cell, dtype=np.float32)

    def step(arrays, options, weights, reuse=None):
        res = engine.forward(**arrays, **options, reuse=reuse)
        return res, engine.backward(res.workspace, *weights)

    want_small = step(small, small_opts, w_small)
    used = step(big, big_opts, w_big)[0].workspace  # consumed; its buffer holds gate gradients
    nbytes = used.nbytes
    got = step(small, small_opts, w_small, reuse=used)
    assert used.nbytes == 0 and got[0].workspace.nbytes == nbytes  # taken over, not copied
    for name in GRAD_NAMES:
        np.testing.assert_array_equal(getattr(got[1], name), getattr(want_small[1], name), name)
    np.testing.assert_array_equal(got[0].y, want_small[0].y)
    # the emptied workspace, and a too small one, leave the call to allocate
    again = step(small, small_opts, w_small, reuse=used)
    small_nbytes = want_small[0].workspace.nbytes
    assert again[0].workspace.nbytes == small_nbytes < nbytes
    grown = step(big, big_opts, w_big, reuse=again[0].workspace)
    assert grown[0].workspace.nbytes == nbytes and again[0].workspace.nbytes == small_nbytes
    # another dtype: not taken
    f64 = {k: None if a is None else a.astype(np.float64) for k, a in big.items()}
    res64 = engine.forward(**f64, **big_opts, reuse=grown[0].workspace)
    assert grown[0].workspace.nbytes == nbytes and res64.workspace.nbytes == 2 * nbytes


@pytest.mark.parametrize("training", [True, False], ids=["train", "infer"])
@pytest.mark.parametrize("variable_length", [False, True], ids=["full", "ragged"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_without_outputs_the_state_and_gradients_are_the_same(
    cell, kw, variable_length, training, restore_num_threads
):
    """outputs=False writes no y (None) and gives bitwise the same final state and, training,
    the same gradients (backward of the final state only), at 1 and 2 threads."""
    arrays, options = ref.random_problem(
        cell, 6, 5, 3, 20, dtype=np.float32, variable_length=variable_length, **kw
    )
    options = options | {"training": training}
    H = 20
    dh_n = np.random.default_rng(2).standard_normal((5, H)).astype(np.float32)
    for threads in (1, 2):
        engine.set_num_threads(threads)
        for reverse in (False, True):
            want = engine.forward(**arrays, **options | {"reverse": reverse})
            got = engine.forward(**arrays, **options | {"reverse": reverse}, outputs=False)
            assert got.y is None and want.y is not None
            for name in ("h_n", "c_n"):
                if getattr(want, name) is not None:
                    np.testing.assert_array_equal(getattr(got, name), getattr(want, name), name)
            if training:
                g_got = engine.backward(got.workspace, dh_n=dh_n)
                g_want = engine.backward(want.workspace, dh_n=dh_n)
                for name in GRAD_NAMES:
                    np.testing.assert_array_equal(getattr(g_got, name), getattr(g_want, name), name)


@pytest.mark.parametrize("cell, kw", CELLS)
def test_without_input_grad_the_other_gradients_are_the_same(cell, kw, restore_num_threads):
    """input_grad=False computes no dx (None) and bitwise the same other gradients, one call
    or a group, at 1 and 2 threads."""
    arrays, options = ref.random_problem(
        cell, 6, 5, 7, 20, dtype=np.float32, variable_length=True, **kw
    )
    weights = ref.loss_weights(6, 5, 20, cell, dtype=np.float32)
    for threads in (1, 2):
        engine.set_num_threads(threads)
        want = engine.backward(engine.forward(**arrays, **options).workspace, *weights)
        got = engine.backward(
            engine.forward(**arrays, **options).workspace, *weights, input_grad=False
        )
        (grouped,) = engine.backward_group(
            [engine.forward(**arrays, **options).workspace],
            [weights[0]],
            [weights[1]],
            [weights[2]],
            input_grad=False,
        )
        assert want.dx is not None and got.dx is None and grouped.dx is None
        for name in GRAD_NAMES[1:]:
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), name)
            np.testing.assert_array_equal(getattr(grouped, name), getattr(want, name), name)


def test_a_chain_needs_the_outputs_it_passes_on():
    arrays, options = ref.random_problem("gru", 4, 2, 3, 5)
    first = dict(arrays, **options)
    second = dict(first, x=None, weight_ih=np.ones((15, 5)), lengths=None, h0=None)
    with pytest.raises(ValueError, match="must keep its outputs"):
        engine.forward_group([first | {"outputs": False}, second], chained=True)
    both = engine.forward_group([first, second | {"outputs": False}], chained=True)
    want = engine.forward_group([first, second], chained=True)
    assert both[1].y is None
    np.testing.assert_array_equal(both[1].h_n, want[1].h_n)


def test_reuse_must_be_a_consumed_workspace():
    arrays, options = ref.random_problem("lstm", 3, 2, 3, 4)
    pending = engine.forward(**arrays, **options).workspace
    with pytest.raises(ValueError, match="still waits for its backward"):
        engine.forward(**arrays, **options, reuse=pending)
    engine.backward(pending, dh_n=np.ones((2, 4)))  # the refused call left it intact
    with pytest.raises(TypeError, match="reuse must be the .workspace"):
        engine.forward(**arrays, **options, reuse=np.zeros(100))
    # inference keeps no workspace and takes no buffer
    assert (
        engine.forward(**arrays, **options | {"training": False}, reuse=pending).workspace is None
    )
    assert pending.nbytes > 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_tiling_edges(cell, kw, dtype):
    """Every batch size 1..13 against hidden sizes around the SIMD widths and
    input sizes 1, 3, 31, 129 (cycled), variable length, reverse on odd B."""
    inputs = (1, 3, 31, 129)
    k = 0
    for B in range(1, 14):
        for H in (1, 5, 16, 17, 33, 64, 65):
            I = inputs[k % len(inputs)]
            k += 1
            arrays, options = ref.random_problem(
                cell, 3, B, I, H, variable_length=True, reverse=B % 2 == 1, seed=k, **kw
            )
            try:
                check_against_reference(arrays, options, dtype)
            except AssertionError as error:
                raise AssertionError(f"B={B} H={H} I={I}: {error}") from error


ISA_SCRIPT = """
import numpy as np
import reference as ref  # (the child runs in tests/)
import test_engine as te
from pyrnn import engine

assert engine.config()["isa"] == {isa!r}, engine.config()["isa"]
cases = [("rnn", {{"nonlinearity": "tanh"}}), ("rnn", {{"nonlinearity": "relu"}}), ("lstm", {{}}),
         ("gru", {{"reset_after": True}}), ("gru", {{"reset_after": False}})]
for k, (cell, kw) in enumerate(cases):
    for reverse in (False, True):
        arrays, options = ref.random_problem(cell, 4, 7, 19, 37, variable_length=True,
                                             reverse=reverse, seed=k, **kw)
        for dtype in (np.float64, np.float32):
            te.check_against_reference(arrays, options, dtype)
print("ok")
"""


def supported_isas():
    return engine.config()["isa_supported"]


@pytest.mark.parametrize("isa", ["baseline", "avx2", "avx512"])
def test_every_supported_isa_matches_reference(isa):
    """PYRNN_ISA forces a kernel level at import: each level the CPU supports is
    checked against the reference in a fresh interpreter."""
    if isa not in supported_isas():
        pytest.skip(f"{isa} not supported by this CPU/build")
    proc = subprocess.run(
        [sys.executable, "-c", ISA_SCRIPT.format(isa=isa)],
        env=subprocess_env(PYRNN_ISA=isa),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=TESTS_DIR,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


def test_config_reports_isa_and_threads():
    config = engine.config()
    assert config["isa"] in config["isa_supported"]
    assert "baseline" in config["isa_supported"]
    assert config["num_threads"] == engine.get_num_threads() >= 1


@pytest.mark.parametrize("lengths", [[1], [2, 2, 2], [1, 3, 2, 1]], ids=["one", "equal", "mixed"])
@pytest.mark.parametrize("cell, kw", CELLS)
def test_all_sequences_shorter_than_T(cell, kw, lengths):
    """No sequence reaches T: the last steps are padding for every row (the
    reverse direction then starts inside the batch, at each row's own end)."""
    B = len(lengths)
    for reverse in (False, True):
        arrays, options = ref.random_problem(cell, 5, B, 3, 6, reverse=reverse, **kw)
        options["lengths"] = np.array(lengths, dtype=np.int64)
        for dtype in (np.float64, np.float32):
            check_against_reference(arrays, options, dtype)
        infer = engine.forward(**arrays, **options, training=False)
        train = engine.forward(**arrays, **options)
        np.testing.assert_array_equal(infer.h_n, train.h_n)


@pytest.mark.parametrize("cell, kw", [CELLS[2], CELLS[4]])
def test_sizes_past_every_k_block(cell, kw, restore_num_threads):
    """I, H and T*B above the GEMMs' k-blocks (256 here), so that every GEMM accumulates
    over several blocks, at 1 and 2 threads."""
    T, B, I, H = 30, 9, 300, 300
    arrays, options = ref.random_problem(cell, T, B, I, H, variable_length=True, reverse=True, **kw)
    for threads in (1, 2):
        engine.set_num_threads(threads)
        check_against_reference(arrays, options, np.float64)
