"""sktime's pandas formats of panel data, read as sequences (pandas is imported only if X
is a DataFrame).

* "nested_univ": a DataFrame with one row per instance and one column per channel, each cell
  a ``pd.Series`` (or array) holding that channel's values over time;
* "pd-multiindex": a DataFrame indexed by (instance, time point), one column per channel.

Both become a list of ``(L_i, n_channels)`` float arrays, one per instance (in the order
the instances appear), which the estimators pad and length-track like any list.
"""

import numpy as np


def _is_dataframe(X):
    return type(X).__module__.startswith("pandas") and hasattr(X, "columns") and hasattr(X, "index")


def _nested(X):
    """Rows of a nested DataFrame -> list of (L_i, C) arrays, or None if X is not nested."""
    if X.shape[0] == 0 or X.shape[1] == 0:
        return None
    cells = X.to_numpy(dtype=object)
    if not all(hasattr(c, "__len__") and not isinstance(c, str) for c in cells.ravel()):
        return None
    seqs = []
    for i, row in enumerate(cells):
        lengths = {len(c) for c in row}
        if len(lengths) != 1:
            raise ValueError(
                f"X (nested DataFrame) row {i}: its channels have different "
                f"lengths {sorted(lengths)}; every channel of an instance "
                "needs one value per time step"
            )
        seqs.append(np.column_stack([np.asarray(c, dtype=np.float64) for c in row]))
    return seqs


def sequences_from_pandas(X):
    """X as a list of (L_i, C) arrays if it is an sktime nested or multi-index DataFrame,
    else None (X is then read as any other array-like)."""
    if not _is_dataframe(X):
        return None
    if getattr(X.index, "nlevels", 1) == 2:
        values = X.to_numpy(dtype=np.float64)
        _, first, inverse = np.unique(
            np.asarray(X.index.get_level_values(0)), return_index=True, return_inverse=True
        )
        rows = np.argsort(inverse, kind="stable")  # each instance's rows, in time order
        parts = np.split(values[rows], np.cumsum(np.bincount(inverse))[:-1])
        return [parts[k] for k in np.argsort(first)]  # instances in order of appearance
    if X.index.nlevels == 1:
        return _nested(X)
    return None
