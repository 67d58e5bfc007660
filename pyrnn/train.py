"""Small training helpers: padding, masks, and truncated backpropagation through time.

Truncated BPTT (Williams & Peng, 1990) trains on sequences too long to backpropagate through
at once: the sequence is cut into chunks of ``k`` steps; each chunk runs forward from the
state the previous chunk ended in, but gradients stop at the chunk boundary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .clip import clip_grad_norm
from .engine import check_lengths

if TYPE_CHECKING:
    from .network import GRU, LSTM, RNN, State
    from .optim import Optimizer

__all__ = ["pad_sequences", "sequence_mask", "tbptt_forward_backward"]


def pad_sequences(
    sequences: Sequence[ArrayLike], dtype: DTypeLike = np.float32, batch_first: bool = False
) -> Tuple[np.ndarray, np.ndarray]:
    """Stack sequences of different lengths into one zero-padded array.

    Parameters
    ----------
    sequences : list of arrays (T_b, F)
        Every sequence needs at least one step and the same number of features F.
    dtype : float dtype of the result.
    batch_first : bool
        Return (B, T, F) instead of the time-major (T, B, F).

    Returns
    -------
    x : array (T, B, F) or (B, T, F), T = the longest length, zeros past each length
    lengths : int64 array (B,)
    """
    seqs = [np.asarray(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequences needs at least one sequence")
    for i, s in enumerate(seqs):
        if s.ndim != 2 or s.shape[0] < 1:
            raise ValueError(f"sequence {i} must be a 2-D array (T_b >= 1, F), got shape {s.shape}")
        if s.shape[1] != seqs[0].shape[1]:
            raise ValueError(
                f"sequence {i} has {s.shape[1]} features, sequence 0 has {seqs[0].shape[1]}"
            )
    lengths = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    x = np.zeros((int(lengths.max()), len(seqs), seqs[0].shape[1]), dtype)
    for b, s in enumerate(seqs):
        x[: len(s), b] = s
    return (x.transpose(1, 0, 2).copy() if batch_first else x), lengths


def sequence_mask(lengths: ArrayLike, T: int, batch_first: bool = False) -> np.ndarray:
    """Bool mask of valid steps: (T, B) with ``mask[t, b] = t < lengths[b]`` ((B, T) if
    batch_first). ``lengths=None`` means every sequence has T steps; pass it as the loss mask."""
    if lengths is None:
        raise ValueError("sequence_mask needs lengths (B,); without lengths every step is valid")
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(f"lengths must be a 1-D int array, got {lengths.dtype} {lengths.shape}")
    mask = np.arange(T)[:, None] < lengths[None, :]
    return mask.T if batch_first else mask


def _take_time(a, start, stop, batch_first):
    return a[:, start:stop] if batch_first else a[start:stop]


def _set_rows(new, old, rows):
    """new[:, rows] = old[:, rows] for a state array (L*D, B, H) (old None means zeros)."""
    new[:, rows] = 0 if old is None else old[:, rows]


def tbptt_forward_backward(
    net: RNN | LSTM | GRU,
    x: ArrayLike,
    y: ArrayLike,
    loss_fn: Callable[..., Tuple[float, np.ndarray]],
    k: int,
    *,
    head: Any = None,
    lengths: Optional[ArrayLike] = None,
    state: State | None = None,
    optimizer: Optimizer | None = None,
    clip_norm: Optional[float] = None,
) -> tuple[float, State]:
    """Truncated BPTT over a long batch of sequences, in chunks of ``k`` steps.

    Each chunk runs ``net.forward`` from the state the previous chunk ended in (the state is
    carried; gradients are not), then ``head`` (if any), ``loss_fn`` and the backward pass.
    Every chunk reuses the previous chunk's workspace buffers, and the network keeps them for
    the next call: ``net.release_buffers()`` frees them once training is over.

    Parameters
    ----------
    net : RNN, LSTM or GRU (unidirectional: the reverse direction would need the future).
    x : array (T, B, I), or (B, T, I) if ``net.batch_first``.
    y : per-step targets, leading shape (T, B) (or (B, T)), e.g. class indices (T, B) or
        regression targets (T, B, K).
    loss_fn : callable ``(pred, y_chunk, mask_chunk) -> (loss, dpred)``, e.g.
        ``pyrnn.losses.softmax_cross_entropy``; ``mask_chunk`` marks the valid steps.
    k : int >= 1, chunk length.
    head : optional object with ``forward(out)`` and ``backward(dpred)`` (e.g. heads.Linear).
    lengths : int array (B,), optional; valid steps per sequence.
    state : optional initial state (as ``net.forward``'s).
    optimizer : optional. Given: one update per chunk (``zero_grad``, backward, optional
        clipping by ``clip_norm``, ``step``): the classic TBPTT training loop. Not given: the
        gradients of all chunks are ADDED to ``net.grad`` / ``head.grad``, each chunk's
        weighted by its share of valid steps, which gives the gradient of the mean loss over
        the whole sequence, truncated at chunk boundaries.
    clip_norm : optional float, global-norm clipping before each optimizer step.

    Returns
    -------
    loss : float
        Mean loss over all valid steps (chunk losses weighted by their valid steps).
    state : the final state of every sequence, to continue with the next segment.
    """
    if getattr(net, "bidirectional", False):
        raise ValueError("truncated BPTT needs a unidirectional network")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if clip_norm is not None and optimizer is None:
        raise ValueError(
            "clip_norm needs an optimizer (without one, clip the accumulated "
            "gradients yourself before stepping)"
        )
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be 3-D, got shape {x.shape}")
    bf = net.batch_first
    T, B = (x.shape[1], x.shape[0]) if bf else (x.shape[0], x.shape[1])
    y = np.asarray(y)
    if y.shape[:2] != x.shape[:2]:
        raise ValueError(
            f"y must have the leading shape of x {x.shape[:2]} (per-step targets), got {y.shape}"
        )
    full = np.full(B, T, dtype=np.int64)
    lengths = full if lengths is None else check_lengths(lengths, T, B)
    mask = sequence_mask(lengths, T, batch_first=bf)
    n_total = int(lengths.sum())
    lstm = net.cell == "lstm"

    total = 0.0
    for start in range(0, T, k):
        stop = min(T, start + k)
        chunk_len = np.clip(lengths - start, 0, stop - start)
        active = chunk_len > 0
        if not active.any():
            break  # every sequence has ended; later chunks are padding only
        n_chunk = int(chunk_len.sum())
        x_c = _take_time(x, start, stop, bf)
        m_c = _take_time(mask, start, stop, bf)
        out, new_state = net.forward(x_c, lengths=np.maximum(chunk_len, 1), state=state)
        pred = head.forward(out) if head is not None else out
        loss_c, dpred = loss_fn(pred, _take_time(y, start, stop, bf), m_c)
        total += loss_c * n_chunk / n_total
        if optimizer is not None:
            optimizer.zero_grad()
        else:
            dpred = dpred * dpred.dtype.type(n_chunk / n_total)
        dout = head.backward(dpred) if head is not None else dpred
        net.backward(dout)
        if optimizer is not None:
            if clip_norm is not None:
                clip_grad_norm([g for _, g in optimizer.pairs], clip_norm)
            optimizer.step()
        # Sequences that ended before this chunk ran one dummy step (lengths >= 1 in the
        # engine; the loss mask hid it): keep the state they ended in.
        if not active.all():
            done = ~active
            if lstm:
                old = (None, None) if state is None else state
                _set_rows(new_state[0], old[0], done)
                _set_rows(new_state[1], old[1], done)
            else:
                _set_rows(new_state, state, done)
        state = new_state
    return total, state
