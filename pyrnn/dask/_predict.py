"""Prediction over Dask collections larger than memory, one block at a time.

dask-ml's ``ParallelPostFit`` does this for 2-D feature matrices only: it infers the output
from a 2-D stand-in, drops axis 1 of each block and takes no ``dask.bag``, so it fails on
3-D sequence arrays ``(n_samples, T, F)`` (pyrnn raises: fitted on F features per step) and
on ragged collections. This helper keeps its idea (the fitted estimator is one object in
the graph, each block is predicted where it lives) for every layout pyrnn reads.
"""

from __future__ import annotations

from typing import Any

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import numpy as np


def _apply(block, estimator, method):
    """``estimator.method(block)`` for one block (an empty block gives an empty result)."""
    return np.asarray(getattr(estimator, method)(block))


def _apply_partition(seqs, estimator, method):
    seqs = list(seqs)
    return list(getattr(estimator, method)(seqs)) if seqs else []


def predict_blocks(estimator: Any, X: Any, method: str = "predict") -> Any:
    """Apply a fitted estimator's ``method`` to a Dask collection, block by block.

    Parameters
    ----------
    estimator : fitted estimator
        Any object with ``method`` (pyrnn's estimators, a Pipeline ending in one, ...).
    X : dask.array (n_samples, ...), dask.dataframe (n_samples, T), or dask.bag of sequences
        - dask.array: samples along axis 0 in any number of chunks (the other axes are made
          whole: a block is a set of complete sequences), e.g. (n_samples, T, F).
        - dask.dataframe: one sequence per row, one time step per column.
        - dask.bag: one sequence per element (2-D arrays (T_i, F) of any length, or strings
          / token lists for text estimators); each partition is predicted as one list.
    method : str
        ``"predict"``, ``"predict_proba"``, ``"decision_function"``, ``"transform"``, ...

    Returns
    -------
    dask.array (n_samples, ...) lazily equal to ``estimator.method(X.compute())`` for array
    and dataframe input (chunked like X along samples); a dask.bag of per-sample results for
    bag input. Nothing is computed except one sample (to learn the output's shape).
    """
    if not callable(getattr(estimator, method, None)):
        raise TypeError(f"the estimator {type(estimator).__name__} has no method {method!r}")
    if isinstance(X, db.Bag):
        return X.map_partitions(_apply_partition, dask.delayed(estimator), method)
    if isinstance(X, (dd.DataFrame, dd.Series)):
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(
            "X must be a dask.array, dask.dataframe or dask.bag, got "
            f"{type(X).__name__}; for in-memory data call the estimator directly"
        )
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"X must hold at least one sample of at least 1 step, shape {X.shape}")
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})  # whole sequences per block
    probe = _apply(X[:1].compute(), estimator, method)
    tail = probe.shape[1:]
    out_ndim = 1 + len(tail)
    extra = {}
    if out_ndim < X.ndim:
        extra["drop_axis"] = list(range(out_ndim, X.ndim))
    elif out_ndim > X.ndim:
        extra["new_axis"] = list(range(X.ndim, out_ndim))
    return X.map_blocks(
        _apply,
        dask.delayed(estimator),
        method,
        meta=np.empty((0,) * out_ndim, probe.dtype),
        chunks=(X.chunks[0],) + tuple((n,) for n in tail),
        **extra,
    )
