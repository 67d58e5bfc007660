"""Sample and class weights: validated, as the arrays the losses take."""

import numbers

import numpy as np
from sklearn.utils.class_weight import compute_class_weight


def _finite_nonnegative(w, name="sample_weight"):
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} contains NaN or infinity")
    if np.any(w < 0):
        raise ValueError(f"{name} must be non-negative")
    if name == "sample_weight" and w.size and not np.any(w > 0):
        raise ValueError(
            "Sample weights must contain at least one non-zero number (all "
            "sample_weight are zero: nothing to learn from)"
        )
    return w


def per_sequence_weights(sample_weight, n):
    """sample_weight (None, a number or array-like (n,)) -> float64 array (n,)."""
    if sample_weight is None:
        return np.ones(n)
    if isinstance(sample_weight, numbers.Number):
        return _finite_nonnegative(np.full(n, float(sample_weight)))
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numbers, got dtype {w.dtype}")
    if w.shape != (n,):
        raise ValueError(
            f"sample_weight.shape == {w.shape}, expected ({n},): one weight per sequence"
        )
    return _finite_nonnegative(w.astype(np.float64))


def per_step_weights(sample_weight, lengths, T):
    """Per-step weights (n, T) (zero past each length) from None, a number, one weight per
    sequence (n,), a list of n arrays (L_i,) or a 2-D array (n, >= max length)."""
    n = len(lengths)
    steps = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    if sample_weight is None or isinstance(sample_weight, numbers.Number):
        return steps * per_sequence_weights(sample_weight, n)[:, None]
    if not isinstance(sample_weight, (list, tuple, np.ndarray)):  # a Series, array-likes
        sample_weight = np.asarray(sample_weight)
    if (
        isinstance(sample_weight, np.ndarray)
        and sample_weight.ndim == 1
        and sample_weight.dtype != object
    ):
        return steps * per_sequence_weights(sample_weight, n)[:, None]
    if isinstance(sample_weight, np.ndarray) and sample_weight.ndim == 2:
        rows = list(sample_weight)
    else:
        rows = list(sample_weight)
        if len(rows) == n and all(isinstance(r, numbers.Number) for r in rows):
            return steps * per_sequence_weights(rows, n)[:, None]
    if len(rows) != n:
        raise ValueError(f"sample_weight has {len(rows)} rows, expected {n} (one per sequence)")
    out = np.zeros((n, T))
    for i, (row, L) in enumerate(zip(rows, lengths)):
        r = np.asarray(row, dtype=np.float64)
        if r.ndim != 1 or len(r) < L:
            raise ValueError(
                f"sample_weight[{i}] must have one weight per step ({L}), got shape {r.shape}"
            )
        out[i, :L] = r[:L]
    return _finite_nonnegative(out)


def class_weight_vector(class_weight, classes, encoded):
    """(n_classes,) weights from None, "balanced" (n / (n_classes * count of the class)) or a
    dict label -> weight (missing labels weigh 1); ``encoded`` are the training labels as
    indices into ``classes``."""
    K = len(classes)
    if class_weight is None:
        return np.ones(K)
    if isinstance(class_weight, str):  # "balanced" (the parameter table allows nothing else)
        counts = np.bincount(encoded, minlength=K)
        if np.any(counts == 0):
            missing = [classes[k] for k in np.flatnonzero(counts == 0)]
            raise ValueError(
                f"class_weight='balanced' needs every class in y; missing {missing[:10]}"
            )
        return len(encoded) / (K * counts.astype(np.float64))
    unknown = [k for k in class_weight if k not in set(classes.tolist())]
    if unknown:
        raise ValueError(
            f"class_weight has labels not in the classes {classes.tolist()[:10]}: {unknown[:10]}"
        )
    w = compute_class_weight(dict(class_weight), classes=classes, y=classes[encoded])
    return _finite_nonnegative(np.asarray(w, dtype=np.float64), "class_weight")
