"""The elementwise functions every layer shares: softmax, log-softmax, sigmoid, dropout masks.

One stable implementation of each, used by the losses, the heads, the networks and the
estimators (prediction, beam search, sampling), so they all round the same way.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .init import RandomStateLike, as_generator

__all__ = ["softmax", "log_softmax", "softmax_and_log_softmax", "sigmoid", "dropout_mask"]


def _as_float(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _shifted_exp(logits, axis):
    """(z, exp(z), sum of exp(z) along axis) with z = logits - max: nothing overflows."""
    z = logits - np.max(logits, axis=axis, keepdims=True)
    e = np.exp(z)
    return z, e, np.sum(e, axis=axis, keepdims=True)


def softmax(logits: ArrayLike, axis: int = -1) -> np.ndarray:
    """Probabilities from raw scores along ``axis`` (stable: the max is subtracted first).

    logits (..., C) -> probabilities (..., C) summing to 1, same float dtype (integers become
    float64). ``-inf`` scores get probability 0. Pairs with ``losses.softmax_cross_entropy``.
    """
    _, e, s = _shifted_exp(_as_float(logits), axis)
    return e / s


def log_softmax(logits: ArrayLike, axis: int = -1) -> np.ndarray:
    """Log-probabilities from raw scores along ``axis``: ``logits - logsumexp(logits)``.

    logits (..., C) -> log-probabilities (..., C), same float dtype (integers become float64).
    """
    z, _, s = _shifted_exp(_as_float(logits), axis)
    return z - np.log(s)


def softmax_and_log_softmax(logits: ArrayLike, axis: int = -1) -> Tuple[np.ndarray, np.ndarray]:
    """``(softmax(logits), log_softmax(logits))`` from one pass of exponentials."""
    z, e, s = _shifted_exp(_as_float(logits), axis)
    return e / s, z - np.log(s)


def sigmoid(logits: ArrayLike) -> np.ndarray:
    """Elementwise logistic function 1 / (1 + exp(-x)), computed without overflow; pairs with
    ``losses.binary_cross_entropy``. Same shape and float dtype as ``logits`` (integers become
    float64)."""
    x = _as_float(logits)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def dropout_mask(
    shape: Tuple[int, ...], p: float, dtype: DTypeLike, random_state: RandomStateLike
) -> Optional[np.ndarray]:
    """Inverted-dropout mask of ``shape``: 0 with probability ``p``, else ``1 / (1 - p)``.

    ``random_state`` is a ``numpy.random.Generator`` (or anything ``init.as_generator`` takes:
    a RandomState is consumed by one draw). Returns None when ``p == 0`` (no draw is made).
    """
    if p <= 0:
        return None
    dtype = np.dtype(dtype)
    keep = as_generator(random_state).random(shape) >= p
    return keep.astype(dtype) / dtype.type(1.0 - p)
