"""Telling networks that their parameters changed, so they drop their packed weights.

A network keeps the kernels' packed form of its weights (a transposed copy of every weight
matrix, a large part of a small-batch or one-step call) across inference calls while the
weights do not change. Whatever in pyrnn changes a parameter buffer in place calls
:func:`changed` on it afterwards: the optimizers' ``step``, the initializers, the estimators
restoring their best parameters; ``load_state_dict`` tells its own network. Networks register
their flat buffer with :func:`watch` (a weak reference: nothing is kept alive by it). A user
who writes into ``net.params`` or one of its views by hand calls ``net.weights_changed()``.
"""

from __future__ import annotations

import weakref

import numpy as np

_watchers: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()


def _root(a: np.ndarray) -> np.ndarray:
    """The array that owns ``a``'s memory (following views to their base)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def watch(buffer: np.ndarray, owner) -> None:
    """Have ``owner.weights_changed()`` called whenever :func:`changed` is called on
    ``buffer`` or any view of it."""
    _watchers[id(_root(buffer))] = owner


def changed(buffer: np.ndarray) -> None:
    """Say that ``buffer`` (or the buffer it is a view of) was written in place."""
    owner = _watchers.get(id(_root(buffer))) if isinstance(buffer, np.ndarray) else None
    if owner is not None:
        owner.weights_changed()
