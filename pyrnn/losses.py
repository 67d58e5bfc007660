"""Losses with exact gradients and masks for padded steps.

Every loss returns ``(loss, dinput)``: ``loss`` is a Python float, the mean over the
unmasked items, and ``dinput`` is the exact gradient of that mean with respect to the
input (same shape and dtype as the input).

Leading dimensions are free, so one function serves per-sequence targets
(``logits (B, C)``) and per-step targets (``logits (T, B, C)`` or ``(B, T, C)``). A
``mask`` (bool or 0/1) marks the items that count; padded steps get ``False`` and then
contribute neither to the loss nor to the gradient. When every item is masked out the
loss is 0.0 and the gradient is zero (never NaN).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from .functional import sigmoid, softmax_and_log_softmax

__all__ = ["softmax_cross_entropy", "binary_cross_entropy", "mse", "pinball"]


def _as_float_array(name, a):
    """Return a as a float32/float64 array (other real numbers become float64)."""
    a = np.asarray(a)
    if a.dtype in (np.float32, np.float64):
        return a
    if a.dtype == np.float16:
        return a.astype(np.float32)
    if a.dtype.kind in "iub":
        return a.astype(np.float64)
    raise TypeError(f"{name} must be an array of real numbers, got dtype {a.dtype}")


def _as_mask(mask, shape, name="mask"):
    """Validate a bool or 0/1 mask of exactly `shape`; None means all True."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {m.shape}")
    if m.dtype == bool:
        return m
    if m.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be bool or 0/1 numbers, got dtype {m.dtype}")
    if not np.all((m == 0) | (m == 1)):
        raise ValueError(f"{name} must contain only 0 and 1 (or be bool)")
    return m.astype(bool)


def _item_weights(sample_weight, shape, dtype):
    """Validate non-negative finite per-item weights of exactly ``shape`` (None: ones)."""
    if sample_weight is None:
        return np.ones(shape, dtype)
    w = _as_float_array("sample_weight", sample_weight)
    if w.shape != tuple(shape):
        raise ValueError(
            f"sample_weight must have shape {tuple(shape)} (one weight per item), got {w.shape}"
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    return w.astype(dtype)


def _elementwise_mask(mask, shape):
    """A mask for an elementwise loss: shape `shape` or `shape[:-1]` (broadcast over the last axis)."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    m_shape = np.shape(mask)
    if len(shape) >= 1 and m_shape == tuple(shape[:-1]) and m_shape != tuple(shape):
        m = _as_mask(mask, shape[:-1])
        return np.broadcast_to(m[..., None], shape)
    if m_shape != tuple(shape):
        raise ValueError(
            f"mask must have the input's shape {tuple(shape)} or its leading shape "
            f"{tuple(shape[:-1])}, got {m_shape}"
        )
    return _as_mask(mask, shape)


def _check_labels(y, C, counted):
    """ValueError naming the class indices outside [0, C) where ``counted`` (bool, y's shape)."""
    bad = counted & ((y < 0) | (y >= C))
    if np.any(bad):
        raise ValueError(
            f"y holds class indices outside [0, {C}) at unmasked positions: "
            f"{np.unique(y[bad])[:10].tolist()}"
        )


def _plain_cross_entropy(logits, y, C):
    """softmax_cross_entropy without mask or weights: the same values (every item counted
    with weight 1), in a third of the time at a batch of 32 (a training step's loss)."""
    if y.min() < 0 or y.max() >= C:
        _check_labels(y, C, True)
    dlogits, log_probs = softmax_and_log_softmax(logits)
    rows, labels = np.arange(y.size), y.reshape(-1).astype(np.intp, copy=False)
    total = float(y.size)
    loss = -float(np.sum(log_probs.reshape(-1, C)[rows, labels], dtype=np.float64)) / total
    dlogits.reshape(-1, C)[rows, labels] -= 1
    dlogits *= logits.dtype.type(1) / logits.dtype.type(total)
    return loss, dlogits


def softmax_cross_entropy(
    logits: ArrayLike,
    y: ArrayLike,
    mask: Optional[ArrayLike] = None,
    class_weight: Optional[ArrayLike] = None,
    sample_weight: Optional[ArrayLike] = None,
) -> Tuple[float, np.ndarray]:
    """Softmax cross-entropy from raw scores, with its exact gradient.

    Parameters
    ----------
    logits : array (..., C) of float
        Unnormalized class scores; any leading dimensions, e.g. (B, C) or (T, B, C).
    y : int array (...)
        Class indices in [0, C), the leading shape of ``logits``. Values at masked-out
        positions are ignored (they may be anything, e.g. -1 for padding).
    mask : bool or 0/1 array (...), optional
        Which items count. Default: all.
    class_weight : array (C,), optional
        Non-negative weight per class. As in ``torch.nn.CrossEntropyLoss(weight=...)``, the
        loss is then the weighted mean ``sum_i w[y_i] l_i / sum_i w[y_i]`` over unmasked i.
    sample_weight : array (...), optional
        Non-negative weight per item, the leading shape of ``logits``; multiplies the class
        weight: the loss is ``sum_i s_i w[y_i] l_i / sum_i s_i w[y_i]``.

    Returns
    -------
    loss : float
        Mean negative log-likelihood over the unmasked items (weighted mean with
        class_weight / sample_weight).
    dlogits : array (..., C)
        Gradient of ``loss`` with respect to ``logits``, same dtype.
    """
    logits = _as_float_array("logits", logits)
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape (..., C) with C >= 1, got {logits.shape}")
    C = logits.shape[-1]
    lead = logits.shape[:-1]
    y = np.asarray(y)
    if y.shape != lead:
        raise ValueError(f"y must have the leading shape of logits {lead}, got {y.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class indices, got dtype {y.dtype}")
    if mask is None and class_weight is None and sample_weight is None and y.size:
        return _plain_cross_entropy(logits, y, C)
    m = _as_mask(mask, lead)
    _check_labels(y, C, m)
    labels = np.where(m, y, 0).astype(np.intp)

    weights = m.astype(logits.dtype)
    if class_weight is not None:
        cw = _as_float_array("class_weight", class_weight)
        if cw.shape != (C,):
            raise ValueError(f"class_weight must have shape ({C},), got {cw.shape}")
        if np.any(cw < 0) or not np.all(np.isfinite(cw)):
            raise ValueError("class_weight must be finite and non-negative")
        weights = weights * cw.astype(logits.dtype)[labels]
    weights = weights * _item_weights(sample_weight, lead, logits.dtype)
    total = float(np.sum(weights, dtype=np.float64))
    if total == 0.0:
        return 0.0, np.zeros_like(logits)

    dlogits, log_probs = softmax_and_log_softmax(logits)
    # Each item's true-class entry by flat indexing (take/put_along_axis cost more than the
    # softmax itself at a batch of 32): rows of (items, C).
    rows, flat_labels = np.arange(labels.size), labels.reshape(-1)
    log_probs_y = log_probs.reshape(-1, C)[rows, flat_labels].reshape(lead)
    counted = weights > 0
    loss = -float(np.sum(np.where(counted, weights * log_probs_y, 0), dtype=np.float64)) / total

    dlogits.reshape(-1, C)[rows, flat_labels] -= 1
    scale = (weights / logits.dtype.type(total))[..., None]
    dlogits = np.where(counted[..., None], dlogits * scale, 0).astype(logits.dtype)
    return loss, dlogits


def binary_cross_entropy(
    logits: ArrayLike, y: ArrayLike, mask: Optional[ArrayLike] = None
) -> Tuple[float, np.ndarray]:
    """Binary cross-entropy from raw scores (sigmoid inside), with its exact gradient.

    Parameters
    ----------
    logits : array (..., K) of float
        Raw scores, one per independent binary output (any shape).
    y : array, the shape of ``logits``
        Targets in [0, 1] (hard 0/1 labels or soft probabilities).
    mask : bool or 0/1 array, shape of ``logits`` or ``logits.shape[:-1]``, optional
        Which items count; a leading-shape mask covers all K outputs of an item.

    Returns
    -------
    loss : float
        Mean of ``-y log s(x) - (1-y) log(1-s(x))`` over unmasked elements, computed stably
        as ``max(x, 0) - x y + log(1 + exp(-|x|))``.
    dlogits : array, shape and dtype of ``logits``
        Gradient ``(sigmoid(x) - y) / n`` on unmasked elements, 0 elsewhere.
    """
    logits = _as_float_array("logits", logits)
    y = _as_float_array("y", y)
    if y.shape != logits.shape:
        raise ValueError(f"y must have the shape of logits {logits.shape}, got {y.shape}")
    m = _elementwise_mask(mask, logits.shape)
    y = np.where(m, y, 0).astype(logits.dtype)
    if np.any((y < 0) | (y > 1)) or not np.all(np.isfinite(y)):
        raise ValueError("y must hold targets in [0, 1] at unmasked positions")
    n = int(np.count_nonzero(m))
    if n == 0:
        return 0.0, np.zeros_like(logits)

    x = logits
    elementwise = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    loss = float(np.sum(np.where(m, elementwise, 0), dtype=np.float64)) / n
    dlogits = np.where(m, (sigmoid(x) - y) / x.dtype.type(n), 0).astype(x.dtype)
    return loss, dlogits


def mse(
    pred: ArrayLike,
    y: ArrayLike,
    mask: Optional[ArrayLike] = None,
    sample_weight: Optional[ArrayLike] = None,
) -> Tuple[float, np.ndarray]:
    """Mean squared error with its exact gradient.

    Parameters
    ----------
    pred : array (..., K) of float
        Predictions (any shape).
    y : array, the shape of ``pred``
        Targets.
    mask : bool or 0/1 array, shape of ``pred`` or ``pred.shape[:-1]``, optional
        Which items count; a leading-shape mask covers all K outputs of an item.
    sample_weight : array ``pred.shape[:-1]``, optional
        Non-negative weight per item (all K outputs of an item share it): the loss is then
        ``sum_i s_i sum_k (pred - y)_ik**2 / (K sum_i s_i)`` over unmasked items.

    Returns
    -------
    loss : float
        Mean of ``(pred - y)**2`` over unmasked elements (as ``torch.nn.MSELoss``), weighted
        with sample_weight.
    dpred : array, shape and dtype of ``pred``
        Gradient of ``loss``: ``2 (pred - y) / n`` (unweighted) on unmasked elements, 0
        elsewhere.
    """
    pred = _as_float_array("pred", pred)
    y = _as_float_array("y", y)
    if y.shape != pred.shape:
        raise ValueError(f"y must have the shape of pred {pred.shape}, got {y.shape}")
    m = _elementwise_mask(mask, pred.shape)
    diff = np.where(m, pred - y.astype(pred.dtype), 0).astype(pred.dtype)
    if sample_weight is not None:
        if pred.ndim < 1:
            raise ValueError("sample_weight needs pred of shape (..., K)")
        w = _item_weights(sample_weight, pred.shape[:-1], np.float64)[..., None]
        total = float(np.sum(np.where(m, w, 0)))
        if total == 0.0:
            return 0.0, np.zeros_like(pred)
        loss = float(np.sum(w * diff.astype(np.float64) ** 2)) / total
        return loss, (diff * (2.0 * w / total)).astype(pred.dtype)
    n = int(np.count_nonzero(m))
    if n == 0:
        return 0.0, np.zeros_like(pred)
    loss = float(np.sum(diff.astype(np.float64) ** 2)) / n
    dpred = diff * pred.dtype.type(2.0 / n)
    return loss, dpred


def pinball(
    pred: ArrayLike,
    y: ArrayLike,
    quantiles: ArrayLike,
    mask: Optional[ArrayLike] = None,
    sample_weight: Optional[ArrayLike] = None,
) -> Tuple[float, np.ndarray]:
    """Pinball (quantile) loss with its gradient: output k estimates the ``quantiles[k]``
    quantile of y.

    For a residual u = y - pred and level tau, ``rho_tau(u) = u * (tau - [u < 0])``; its
    minimizer over a constant pred is the tau-quantile of y.

    Parameters
    ----------
    pred : array (..., K) of float
        Predicted quantiles.
    y : array, the shape of ``pred``
        Targets.
    quantiles : array (K,) of levels in (0, 1)
        The level of each output column (broadcast over the leading dimensions).
    mask, sample_weight : as in :func:`mse`.

    Returns
    -------
    loss : float
        Mean of ``rho_tau(y - pred)`` over unmasked elements, weighted with sample_weight
        like :func:`mse`.
    dpred : array, shape and dtype of ``pred``
        Gradient of ``loss``: ``([y < pred] - tau) / n`` on unmasked elements (at y == pred
        the subgradient ``-tau / n``), 0 elsewhere.
    """
    pred = _as_float_array("pred", pred)
    y = _as_float_array("y", y)
    if y.shape != pred.shape or pred.ndim < 1:
        raise ValueError(f"y must have the shape of pred {pred.shape} (..., K), got {y.shape}")
    tau = np.asarray(quantiles, dtype=np.float64)
    if tau.shape != pred.shape[-1:] or not np.all((tau > 0) & (tau < 1)):
        raise ValueError(
            f"quantiles must be {pred.shape[-1]} levels in (0, 1), one per output column; "
            f"got {quantiles!r}"
        )
    m = _elementwise_mask(mask, pred.shape)
    u = y.astype(np.float64) - pred.astype(np.float64)
    below = u < 0
    rho = np.where(m, u * (tau - below), 0.0)
    slope = np.where(m, below - tau, 0.0)  # d rho / d pred
    if sample_weight is not None:
        w = _item_weights(sample_weight, pred.shape[:-1], np.float64)[..., None]
        total = float(np.sum(np.where(m, w, 0)))
    else:
        w, total = 1.0, float(np.count_nonzero(m))
    if total == 0.0:
        return 0.0, np.zeros_like(pred)
    return float(np.sum(w * rho)) / total, (w * slope / total).astype(pred.dtype)
