"""One recurrent layer in one direction: forward and backpropagation through time.

This is the only module that talks to the compiled kernels (``pyrnn._core``). Everything is
time-major: ``x`` has shape ``(T, B, I)`` (time, batch, input features). Parameters use
PyTorch's layout, so a ``torch.nn.LSTM``'s weights load as they are:

===============  ==============  ==========================================
name             shape           notes
===============  ==============  ==========================================
``weight_ih``    ``(G*H, I)``    G = 1 (rnn), 4 (lstm: i, f, g, o), 3 (gru: r, z, n)
``weight_hh``    ``(G*H, H)``
``bias_ih``      ``(G*H,)``      optional (``None``: no bias)
``bias_hh``      ``(G*H,)``      optional
===============  ==============  ==========================================

Arrays must be C-contiguous and all of one dtype, float32 (the working type) or float64
(exact gradient checks). They are used without copies; anything else raises ``TypeError``
(dtype) or ``ValueError`` (shape, contiguity, lengths) with a message that says what was
expected. Arrays at an odd byte offset are copied to aligned memory first. The GIL is
released while the kernels run; Ctrl-C stops a call made from the main thread between two
time steps and raises ``KeyboardInterrupt``.

Threads: each call uses, first that applies, the count of an enclosing :func:`using_threads`
block (how the estimators' ``n_threads`` reaches the kernels), :func:`set_num_threads`, the
OpenMP runtime's own setting as it is at call time in the calling thread (what
``threadpoolctl.threadpool_limits`` changes; pyrnn's OpenMP runtime is one of the pools it
lists), then ``OMP_NUM_THREADS`` or the number of cores. pyrnn never writes the OpenMP or
BLAS settings itself. Counts above :func:`max_threads` raise ``ValueError``.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _core

__all__ = [
    "forward",
    "backward",
    "forward_group",
    "backward_group",
    "pack",
    "plan",
    "ForwardResult",
    "Gradients",
    "Workspace",
    "num_gates",
    "check_lengths",
    "check_cell",
    "set_num_threads",
    "get_num_threads",
    "using_threads",
    "max_threads",
    "show_config",
    "config",
    "gemm",
    "activation",
    "fma_peak_gflops",
    "training_nbytes",
    "check_memory",
    "conv1d_forward",
    "conv1d_backward",
]

_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def num_gates(cell: str) -> int:
    """Number of gates G of a cell kind: 1 for ``"rnn"``, 4 for ``"lstm"``, 3 for ``"gru"``."""
    try:
        return _GATES[cell]
    except KeyError:
        raise ValueError(f"cell must be 'rnn', 'lstm' or 'gru', got {cell!r}") from None


class Workspace:
    """What BPTT needs from a training forward (saved gates and states, one allocation).

    Opaque: pass it to :func:`backward`, once. Backward overwrites it with the gate gradients,
    so a second call raises ``ValueError`` (run the forward again); the check is atomic, so of
    two threads given the same workspace exactly one runs.
    """

    __slots__ = ("_buf", "_args")

    def __init__(self, buf: object, args: tuple) -> None:
        self._buf = buf
        self._args = args

    @property
    def consumed(self) -> bool:
        """True once a backward has taken this workspace."""
        return self._buf.consumed

    @property
    def nbytes(self) -> int:
        """Bytes kept for BPTT (gates, hidden states, LSTM cell states, GRU extras)."""
        return self._buf.nbytes


@dataclass
class ForwardResult:
    """Result of :func:`forward`.

    y: (T, B, H) hidden state at every step (zeros past each sequence's length), or None when
        called with ``outputs=False``.
    h_n: (B, H) final hidden state of each sequence (at its own last step).
    c_n: (B, H) final LSTM cell state, or None for other cells.
    workspace: :class:`Workspace` for :func:`backward`, or None when ``training=False``.
    """

    y: Optional[np.ndarray]
    h_n: np.ndarray
    c_n: Optional[np.ndarray]
    workspace: Optional[Workspace]


@dataclass
class Gradients:
    """Result of :func:`backward`.

    dx (T, B, I), or None from ``input_grad=False``; dh0 (B, H); dc0 (B, H) or None (non-LSTM);
    dweight_ih (G*H, I); dweight_hh (G*H, H); dbias_ih, dbias_hh (G*H,) or None without bias;
    grad_norm_h (T,): for each time index t, the norm over the batch of the total gradient
    dL/dh_t (what flows back from later steps plus dy[t]); rows past their length excluded;
    grad_norm_c (T,): the same for LSTM's cell state, or None.
    """

    dx: Optional[np.ndarray]
    dh0: np.ndarray
    dc0: Optional[np.ndarray]
    dweight_ih: np.ndarray
    dweight_hh: np.ndarray
    dbias_ih: Optional[np.ndarray]
    dbias_hh: Optional[np.ndarray]
    grad_norm_h: np.ndarray
    grad_norm_c: Optional[np.ndarray]


_THREADS = contextvars.ContextVar("pyrnn_threads", default=0)  # 0: not set in this context


def _thread_count(n, what):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{what} must be an int or None, got {type(n).__name__}")
    if not 1 <= n <= max_threads():
        raise ValueError(
            f"{what} must be >= 1 and at most {max_threads()} (8 per core, "
            f"OMP_THREAD_LIMIT), got {n}"
        )
    return int(n)


@contextlib.contextmanager
def using_threads(n_threads: int | None) -> Iterator[None]:
    """Run the kernel calls of the block, in this thread (context) only, on ``n_threads``
    threads; ``None`` leaves the count to the defaults. Nothing global changes, so blocks in
    concurrent threads do not see each other.

    >>> with using_threads(1):
    ...     res = forward(x, w_ih, w_hh)          # doctest: +SKIP
    """
    if n_threads is None:
        yield
        return
    token = _THREADS.set(_thread_count(n_threads, "n_threads"))
    try:
        yield
    finally:
        _THREADS.reset(token)


def check_lengths(lengths: ArrayLike | None, T: int, B: int) -> Optional[np.ndarray]:
    """Validate per-sequence lengths: an int array (B,) with 1 <= lengths[b] <= T.

    The one check of lengths for the engine, the networks and truncated BPTT. Returns them as
    a C-contiguous int64 array (None stays None: every sequence has T steps); raises TypeError
    for non-integers and ValueError for a wrong shape or a value out of range.
    """
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},) (one per sequence), got {arr.shape}")
    bad = np.flatnonzero((arr < 1) | (arr > T))
    if bad.size:
        b = int(bad[0])
        raise ValueError(f"lengths must be in [1, T={T}], got lengths[{b}] = {arr[b]}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_cell(cell: str, nonlinearity: str = "tanh") -> None:
    """Validate a cell kind and its nonlinearity (``"relu"`` only for ``cell="rnn"``)."""
    num_gates(cell)
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    if cell != "rnn" and nonlinearity != "tanh":
        raise ValueError(
            f"nonlinearity applies to cell='rnn' only, got {nonlinearity!r} for {cell!r}"
        )


def _check_bias_pair(bias_ih, bias_hh):
    if (bias_ih is None) != (bias_hh is None):
        raise ValueError("bias_ih and bias_hh must both be given or both be None")


def forward(
    x: np.ndarray,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray | None = None,
    bias_hh: np.ndarray | None = None,
    *,
    cell: str = "lstm",
    nonlinearity: str = "tanh",
    reset_after: bool = True,
    lengths: ArrayLike | None = None,
    h0: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    reverse: bool = False,
    training: bool = True,
    packed: np.ndarray | None = None,
    reuse: Workspace | None = None,
    outputs: bool = True,
) -> ForwardResult:
    """Run one recurrent layer over a batch of sequences.

    Parameters
    ----------
    x : ndarray (T, B, I), float32 or float64, C-contiguous.
    weight_ih : (G*H, I); weight_hh : (G*H, H); bias_ih, bias_hh : (G*H,) or None.
    cell : ``"rnn"``, ``"lstm"`` or ``"gru"``.
    nonlinearity : ``"tanh"`` or ``"relu"`` (``cell="rnn"`` only).
    reset_after : GRU only. True: PyTorch's n = tanh(W_in x + b_in + r*(W_hn h + b_hn));
        False: the textbook's n = tanh(W_in x + b_in + W_hn (r*h) + b_hn).
    lengths : int array (B,) with 1 <= lengths[b] <= T, or None (all T). Steps past a
        sequence's length leave its state unchanged and output zeros.
    h0, c0 : (B, H) initial states (c0 for LSTM only), or None for zeros.
    reverse : process time from T-1 down to 0 (the backward direction of a bidirectional
        layer); with ``lengths`` each sequence starts at its own last step.
    training : keep the workspace BPTT needs; False keeps only the running state.
    packed : :func:`pack` of exactly these weights and biases, or None (packed in the call).
    reuse : a :class:`Workspace` that :func:`backward` has consumed (a training loop's previous
        step), or None. A training forward takes over its buffer when it is large enough and
        of this dtype, instead of allocating one: a new buffer per step costs a page fault per
        4 KiB on its first touch whenever the allocator has given the last one back to the
        system. ``reuse`` is left empty (``nbytes`` 0), so a buffer never serves two workspaces.
    outputs : False: ``y`` is not written (the result's ``y`` is None), for a caller that reads
        only the final state (a classifier's encoder); h_n, c_n and the workspace are the same.

    Returns
    -------
    ForwardResult with y (T, B, H) or None, h_n (B, H), c_n (B, H) or None, workspace.
    """
    call = _forward_call(
        x,
        weight_ih,
        weight_hh,
        bias_ih,
        bias_hh,
        cell=cell,
        nonlinearity=nonlinearity,
        reset_after=reset_after,
        lengths=lengths,
        h0=h0,
        c0=c0,
        reverse=reverse,
        training=training,
        packed=packed,
        reuse=reuse,
        outputs=outputs,
    )
    return _forward_result(call, _core.forward(*call, _THREADS.get()))


def _forward_call(
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
    training=True,
    packed=None,
    reuse=None,
    outputs=True,
) -> tuple:
    """forward's arguments, checked, as the tuple ``_core.forward`` takes."""
    check_cell(cell, nonlinearity)
    _check_bias_pair(bias_ih, bias_hh)
    if lengths is not None and np.ndim(x) == 3:  # (a wrong x is reported by the bindings)
        lengths = check_lengths(lengths, *np.shape(x)[:2])
    if reuse is not None and not isinstance(reuse, Workspace):
        raise TypeError(
            "reuse must be the .workspace of an earlier forward(..., training=True) that "
            f"backward has consumed, or None; got {type(reuse).__name__}"
        )
    return (
        cell,
        nonlinearity,
        bool(reset_after),
        bool(reverse),
        x,
        weight_ih,
        weight_hh,
        bias_ih,
        bias_hh,
        lengths,
        h0,
        c0,
        bool(training),
        packed,
        None if reuse is None else reuse._buf,
        bool(outputs),
    )


def pack(
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray | None = None,
    bias_hh: np.ndarray | None = None,
    *,
    cell: str = "lstm",
    nonlinearity: str = "tanh",
    reset_after: bool = True,
) -> np.ndarray:
    """The kernels' packed form of one layer-direction's weights and biases.

    Pass it as :func:`forward`'s ``packed`` to skip packing on every call while the weights do
    not change (inference loops, streaming): it is a copy, so it must be made again after any
    change of the weights, or forward computes with the old ones. Its layout belongs to the
    ISA level in use: keep it in memory only (networks do this for you, see
    ``weights_changed``). Returns a 1-D array of the weights' dtype.
    """
    check_cell(cell, nonlinearity)
    _check_bias_pair(bias_ih, bias_hh)
    return _core.pack(cell, nonlinearity, bool(reset_after), weight_ih, weight_hh, bias_ih, bias_hh)


def _forward_result(call, out, x=None) -> ForwardResult:
    (
        cell,
        nonlinearity,
        reset_after,
        reverse,
        x_call,
        w_ih,
        w_hh,
        b_ih,
        _,
        lengths,
        _,
        _,
        training,
        _,
        _,
        _,
    ) = call
    y, h_n, c_n, ws = out
    workspace = None
    if training:
        args = (
            cell,
            nonlinearity,
            reset_after,
            reverse,
            x_call if x is None else x,
            w_ih,
            w_hh,
            lengths,
            b_ih is not None,
        )
        workspace = Workspace(ws, args)
    return ForwardResult(y, h_n, c_n, workspace)


def forward_group(calls: list[dict[str, Any]], chained: bool = False) -> list[ForwardResult]:
    """Several layer-direction forwards at once, each whole on one thread.

    ``calls`` is a list of dicts of :func:`forward`'s arguments. Unchained, the calls are
    independent (the two directions of a bidirectional layer) and run concurrently. Chained,
    call k+1 reads call k's output ``y`` as its ``x`` (leave ``x`` out of the later calls):
    a stack of unidirectional layers runs as a wavefront, layer k+1 working on the steps
    layer k has finished while layer k moves on (every call of a chain has ``reverse=False``
    and the same T and B, and all but the last keep their outputs). For small batches, whose
    steps are too small to share across cores. Returns the list of :class:`ForwardResult`, bitwise equal to
    calling :func:`forward` on each in turn (any thread count).
    """
    if not isinstance(calls, (list, tuple)) or not all(isinstance(c, dict) for c in calls):
        raise TypeError("calls must be a list of dicts of forward's arguments")
    if chained and calls and np.ndim(calls[0].get("x")) == 3:  # later calls leave x out
        T, B = np.shape(calls[0]["x"])[:2]
        calls = [dict(c, lengths=check_lengths(c.get("lengths"), T, B)) for c in calls]
    prepared = [_forward_call(**({"x": None} | c)) for c in calls]
    outs = _core.forward_group(prepared, bool(chained), _THREADS.get())
    results, prev_y = [], None
    for call, out in zip(prepared, outs):
        results.append(_forward_result(call, out, x=prev_y if call[4] is None else None))
        prev_y = out[0]
    return results


def backward_group(
    workspaces: list[Workspace],
    dys: list[np.ndarray | None],
    dh_ns: list[np.ndarray | None] | None = None,
    dc_ns: list[np.ndarray | None] | None = None,
    input_grad: bool = True,
    grads: list[tuple | None] | None = None,
    chained: bool = False,
) -> list[Gradients]:
    """:func:`backward` of several workspaces at once, each on one thread.

    ``dys``, ``dh_ns``, ``dc_ns``, ``grads`` are the matching ``dy`` (T, B, H), ``dh_n``,
    ``dc_n``, ``grads`` of each (lists; None entries or None for all: zeros, new gradient
    arrays); no two calls may add into the same array. Unchained, the workspaces are
    independent (the two directions of a bidirectional layer) and ``input_grad`` applies to
    all. Chained, they are a stack of unidirectional layers from the top down (the reverse of
    :func:`forward_group`'s order): call k+1's dy is call k's dx, which call k computes chunk
    by chunk as its steps complete, so call k+1 runs its steps while call k moves on (the
    ``dys`` after the first must be None; ``input_grad`` applies to the last call, the others
    always compute dx). Returns the list of :class:`Gradients`, bitwise those of the calls one
    by one (any thread count)."""
    n = len(workspaces)
    dh_ns = [None] * n if dh_ns is None else dh_ns
    dc_ns = [None] * n if dc_ns is None else dc_ns
    grads = [None] * n if grads is None else grads
    if not len(dys) == len(dh_ns) == len(dc_ns) == len(grads) == n:
        raise ValueError("workspaces, dys, dh_ns, dc_ns and grads must have one entry per call")
    calls = []
    for k, (ws, dy, dh_n, dc_n, g) in enumerate(zip(workspaces, dys, dh_ns, dc_ns, grads)):
        _check_workspace(ws)
        cell, nonlinearity, reset_after, reverse, x, w_ih, w_hh, lengths, has_bias = ws._args
        calls.append(
            (
                cell,
                nonlinearity,
                reset_after,
                reverse,
                x,
                w_ih,
                w_hh,
                lengths,
                ws._buf,
                dy,
                dh_n,
                dc_n,
                has_bias,
                bool(input_grad) or (chained and k < n - 1),
                g,
            )
        )
    outs = _core.backward_group(calls, bool(chained), _THREADS.get())
    return [Gradients(*o) for o in outs]


def _check_workspace(workspace):
    if not isinstance(workspace, Workspace):
        raise TypeError(
            "workspace must be the .workspace of forward(..., training=True), "
            f"got {type(workspace).__name__}"
        )
    if workspace.consumed:
        raise ValueError(
            "this workspace was already used by backward (it is overwritten with "
            "gate gradients); run forward(training=True) again"
        )


def backward(
    workspace: Workspace,
    dy: np.ndarray | None = None,
    dh_n: np.ndarray | None = None,
    dc_n: np.ndarray | None = None,
    input_grad: bool = True,
    grads: tuple | None = None,
) -> Gradients:
    """Backpropagation through time for the forward that produced ``workspace``.

    Parameters
    ----------
    workspace : from ``forward(..., training=True)``; consumed by this call.
    dy : (T, B, H) gradient of the loss w.r.t. ``y``, or None (zeros). Ignored past each
        sequence's length.
    dh_n, dc_n : (B, H) gradients w.r.t. the final states, or None (zeros); dc_n LSTM only.
    input_grad : False skips dx (None in the result): the (T*B) x (G*H) x I product for an
        input that needs no gradient (a network's first layer on data), as PyTorch skips it
        for an input without ``requires_grad``. Every other gradient is bitwise the same.
    grads : optional tuple (dweight_ih (G*H, I), dweight_hh (G*H, H), dbias_ih (G*H,),
        dbias_hh (G*H,)) of arrays of x's dtype, C-contiguous, writeable and not overlapping
        (the biases None for a layer without them). The parameter gradients are ADDED to them
        in place, as PyTorch accumulates into ``.grad``, bitwise what adding the returned
        gradients would give, without allocating those or a pass to add them; the result holds
        these same arrays. If the call is interrupted (Ctrl-C), they are left unchanged only
        when the interrupt stopped the time loop.

    Returns
    -------
    Gradients (dx, dh0, dc0, dweight_ih, dweight_hh, dbias_ih, dbias_hh, grad_norm_h,
    grad_norm_c). The weights must not have changed since the forward.
    """
    _check_workspace(workspace)
    cell, nonlinearity, reset_after, reverse, x, w_ih, w_hh, lengths, has_bias = workspace._args
    out = _core.backward(
        cell,
        nonlinearity,
        reset_after,
        reverse,
        x,
        w_ih,
        w_hh,
        lengths,
        workspace._buf,
        dy,
        dh_n,
        dc_n,
        has_bias,
        bool(input_grad),
        grads,
        _THREADS.get(),
    )
    return Gradients(*out)


def set_num_threads(n: int | None) -> None:
    """Set the number of threads every kernel call uses unless a :func:`using_threads` block
    (an estimator's ``n_threads``) says otherwise; ``None`` goes back to the default (the
    OpenMP runtime's setting: ``threadpoolctl`` limits, ``OMP_NUM_THREADS``, all cores).
    ``n`` must be between 1 and :func:`max_threads`. Results are bitwise identical for any
    thread count."""
    _core.set_num_threads(None if n is None else _thread_count(n, "number of threads"))


def get_num_threads() -> int:
    """The number of threads a kernel call made here and now uses (see the module docstring)."""
    return _core.get_num_threads(_THREADS.get())


def max_threads() -> int:
    """The most threads a call may use: 8 per core (at least 64), at most ``OMP_THREAD_LIMIT``."""
    return _core.max_threads()


def training_nbytes(
    cell: str,
    T: int,
    B: int,
    I: int,
    H: int,
    dtype: DTypeLike = np.float32,
    reset_after: bool = True,
) -> int:
    """Bytes one layer-direction's training step holds at its peak: the workspace forward
    keeps for BPTT ((G+2)·T·B·H values for LSTM, (G+1)·T·B·H for RNN, (G+2)·T·B·H for GRU;
    G = :func:`num_gates`), its output y (T·B·H) and backward's dx (T·B·I)."""
    ws = _core.workspace_size(cell, bool(reset_after), int(T), int(B), int(I), int(H))
    return (ws + T * B * H + T * B * I) * np.dtype(dtype).itemsize


def check_memory(nbytes: int, what: str) -> None:
    """Raise ``MemoryError`` naming the size when ``nbytes`` (from 64 MiB up) is more than the
    machine can give now (``MemAvailable``, or the cgroup limit's headroom), before anything
    is allocated."""
    _core.check_memory(int(nbytes), str(what))


def config() -> dict:
    """Build and runtime configuration: version, compiler, OpenMP, ISA level in use and the
    levels this CPU supports, vector width, threads, compile flags, caches and tiles, and the
    load other processes put on this process's CPUs (``"load"``: ``busy_cores``, ``cpus``,
    ``source`` of the figure, and the ``threads`` a call given ``num_threads`` would use)."""
    return dict(_core.config())


def show_config() -> None:
    """Print :func:`config` in a readable form."""
    c = config()
    print(f"pyrnn {c['version']}")
    print(f"  compiler       : {c['compiler']}")
    print(f"  OpenMP         : {c['openmp']} (max threads {c['omp_max_threads']})")
    print(f"  threads in use : {c['num_threads']} (at most {c['max_threads']})")
    print(
        f"  ISA in use     : {c['isa']} ({c['vector_bits']}-bit vectors)"
        + (
            f", forced by PYRNN_ISA={os.environ['PYRNN_ISA']}"
            if os.environ.get("PYRNN_ISA")
            else ""
        )
    )
    print(f"  ISA supported  : {', '.join(c['isa_supported'])} (best: {c['best_isa']})")
    print(f"  C++ flags      : {c['cxx_flags'].strip()}")
    print(f"  kernel flags   : {c['isa_flags'].strip() or '(baseline: none)'}")
    ca, tu = c["caches"], c["tuning"]
    print(
        f"  caches         : L1d {_kib(ca['l1d'])}, L2 {_kib(ca['l2'])} per core, "
        f"L3 {_kib(ca['l3'])} (from {ca['source']})"
    )
    print(
        f"  tiles          : step tile {_kib(tu['step_tile_bytes'])}, step k-slice "
        f"{_kib(tu['step_slice_bytes'])}, split by rows up to {_kib(tu['row_split_bytes'])} "
        f"of weights; GEMM k-slice {_kib(tu['gemm_kc_bytes'])}, A block "
        f"{_kib(tu['gemm_mc_bytes'])}"
    )
    lo = c["load"]
    seen = (
        f"{lo['busy_cores']:.2f} of {lo['cpus']} cores busy with other processes "
        f"(from {lo['source']})"
        if lo["cpus"]
        else f"nothing measured ({lo['source']})"
    )
    print(
        f"  load           : {seen}: a call given {c['num_threads']} threads uses {lo['threads']}"
    )


def _kib(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n >> 10} KiB"


def plan(
    cell: str,
    T: int,
    B: int,
    I: int,
    H: int,
    *,
    nonlinearity: str = "tanh",
    num_threads: int | None = None,
    dtype: DTypeLike = np.float32,
    busy_cores: float | None = None,
    cpus: int | None = None,
) -> dict:
    """How one layer-direction of shape ``x (T, B, I)``, hidden size ``H`` would share its steps
    among at most ``num_threads`` threads (default: :func:`get_num_threads`), as the kernels
    decide it from this machine's caches and load: ``{"forward": {"threads", "split"},
    "backward": {...}, "group_layers": bool, "chain_layers": bool}`` where split is
    ``"serial"``, ``"batch rows"`` or ``"hidden units"``; group_layers says whether independent
    layer-directions of this shape (the two directions of a layer) run each on its own thread
    (:func:`forward_group`, :func:`backward_group`), and a stack's backward runs as a wavefront
    (:func:`backward_group` with ``chained=True``); chain_layers whether a stack's forward runs
    as a wavefront (:func:`forward_group` with ``chained=True``: also requires that one layer's
    forward would not share its steps).

    A call uses no more threads than there are free cores: ``busy_cores`` is how many of the
    ``cpus`` CPUs this process may use other processes keep busy (default: what the load
    probe sees now, ``config()["load"]``; give both to plan for another situation)."""
    n = get_num_threads() if num_threads is None else int(num_threads)
    busy = -1.0 if busy_cores is None else float(busy_cores)
    ncpu = -1 if cpus is None else int(cpus)
    if busy_cores is not None and not busy >= 0:
        raise ValueError(f"busy_cores must be >= 0, got {busy_cores!r}")
    if cpus is not None and ncpu < 1:
        raise ValueError(f"cpus must be >= 1, got {cpus!r}")
    return dict(
        _core.plan(
            cell,
            nonlinearity,
            int(T),
            int(B),
            int(I),
            int(H),
            n,
            np.dtype(dtype).itemsize,
            busy,
            ncpu,
        )
    )


def gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a (M, K) @ b (K, N)`` with pyrnn's own GEMM micro-kernels (for benchmarks/tests)."""
    return _core.gemm(a, b, _THREADS.get())


def activation(name: str, x: np.ndarray) -> np.ndarray:
    """The float32 SIMD activation (``"exp"``, ``"sigmoid"``, ``"tanh"``) the kernels use."""
    return _core.activation(name, x)


def fma_peak_gflops(nthreads: int = 1) -> float:
    """Measured float32 FMA throughput of the active ISA level on ``nthreads`` threads."""
    return _core.fma_peak_gflops(nthreads)


# ---- Conv1d (issue 13) ------------------------------------------------------------------


def conv1d_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    lengths: ArrayLike | None = None,
    stride: int = 1,
    dilation: int = 1,
    padding: int = 0,
    pool: int = 1,
    relu: bool = True,
    training: bool = True,
) -> tuple[np.ndarray, Workspace | None]:
    """A 1-D convolution over time (+ ReLU, + max pooling), time-major.

    x (T, B, C_in); weight (C_out, C_in, K) (PyTorch's layout); bias (C_out,) or None;
    lengths (B,) ints or None. The conv has T_conv = (T + 2*padding - dilation*(K-1) - 1)
    // stride + 1 steps; ``pool`` > 1 then takes the maximum over windows of ``pool`` steps
    (stride ``pool``, like ``torch.nn.MaxPool1d(pool)``): T_out = T_conv // pool. With
    lengths, each sequence is convolved as its own signal of lengths[b] steps, and its
    outputs past its own output length are zeros.

    Returns (y (T_out, B, C_out), workspace or None); pass the workspace to
    :func:`conv1d_backward`.
    """
    x_shape = np.shape(x)
    if lengths is not None and len(x_shape) == 3:
        lengths = check_lengths(lengths, x_shape[0], x_shape[1])
    y, ws = _core.conv1d_forward(
        x, weight, bias, lengths, stride, dilation, padding, pool, bool(relu), bool(training)
    )
    if not training:
        return y, None
    args = (x, weight, lengths, stride, dilation, padding, pool, bool(relu), bias is not None)
    return y, Workspace(ws, args)


def conv1d_backward(
    workspace: Workspace, dy: np.ndarray, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Backward of :func:`conv1d_forward`: dy (T_out, B, C_out) -> (dx (T, B, C_in),
    dweight (C_out, C_in, K), dbias (C_out,) or None). The weight must not have changed.
    ``input_grad=False``: dx is None and not computed (half the products), for an input that
    needs no gradient; dweight and dbias are the same."""
    if not isinstance(workspace, Workspace) or len(workspace._args) != 9:
        raise TypeError(
            "workspace must be the workspace of conv1d_forward(..., training=True), "
            f"got {type(workspace).__name__}"
        )
    x, weight, lengths, stride, dilation, padding, pool, relu, has_bias = workspace._args
    return _core.conv1d_backward(
        x,
        weight,
        lengths,
        stride,
        dilation,
        padding,
        pool,
        relu,
        workspace._buf,
        dy,
        has_bias,
        bool(input_grad),
    )
