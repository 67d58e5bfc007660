"""Callbacks: code of yours that runs after every training epoch of an estimator.

The protocol is one method. Any object with

    on_epoch_end(estimator, history) -> bool or None

can be passed in ``fit(X, y, callbacks=[...])`` (or ``partial_fit``). It is called after
each complete epoch (the parameters are those the epoch ended with); returning True stops
training after that epoch. ``history`` is the estimator's ``history_``: a list with one
dict per epoch so far, with the keys

    ``epoch`` (1-based, counting every epoch since the model was built), ``loss`` (mean
    training loss of the epoch), ``validation_score`` and ``validation_loss`` (held-out data,
    or None without it), ``learning_rate`` (used in the epoch), ``seconds`` (its wall time).

Optional hooks, called when present: ``on_train_begin(estimator)`` before the first epoch of
a ``fit``/``partial_fit`` call and ``on_train_end(estimator, history)`` after its last (also
when training was stopped or interrupted). A plain function ``f(estimator, history)`` is
accepted as an ``on_epoch_end``.

Built in: :class:`ModelCheckpoint` (write the best model so far to a file) and
:class:`EarlyStopping` (stop when a monitored value stops improving).
"""

from __future__ import annotations

import math
import os
import pickle
from typing import Any, Callable

__all__ = ["Callback", "ModelCheckpoint", "EarlyStopping", "as_callbacks"]


class Callback:
    """Base class with the three hooks doing nothing; subclass and override what you need."""

    def on_train_begin(self, estimator: Any) -> None:
        """Before the first epoch of a fit / partial_fit call."""

    def on_epoch_end(self, estimator: Any, history: list[dict[str, Any]]) -> bool | None:
        """After each epoch; return True to stop training."""
        return False

    def on_train_end(self, estimator: Any, history: list[dict[str, Any]]) -> None:
        """After the last epoch of the call (stopped, finished or interrupted)."""


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[Any, list[dict[str, Any]]], bool | None]) -> None:
        self.fn = fn

    def on_epoch_end(self, estimator: Any, history: list[dict[str, Any]]) -> bool | None:
        return self.fn(estimator, history)


def as_callbacks(callbacks: Any) -> list[Any]:
    """Validate ``callbacks`` (None, one callback or a list) -> a list of Callback-like objects."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    out = []
    for i, cb in enumerate(callbacks):
        if hasattr(cb, "on_epoch_end"):
            out.append(cb)
        elif callable(cb):
            out.append(_FunctionCallback(cb))
        else:
            raise TypeError(
                f"callbacks[{i}] must have an on_epoch_end(estimator, history) "
                f"method or be a function (estimator, history), got "
                f"{type(cb).__name__}"
            )
    return out


def _monitor_mode(monitor, mode):
    if mode == "auto":
        return "max" if monitor.endswith("score") else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class _Monitor(Callback):
    """Tracks the best value of ``history[-1][monitor]``."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a history key (str), got {type(monitor).__name__}")
        self.monitor = monitor
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta = float(min_delta)
        self.best = None

    def on_train_begin(self, estimator: Any) -> None:
        self.best = None

    def _improved(self, history):
        """True if the last epoch beat the best (by more than min_delta); updates the best."""
        if not history:
            return False
        value = history[-1].get(self.monitor, KeyError)
        if value is KeyError:
            raise KeyError(
                f"{type(self).__name__}: history has no {self.monitor!r}; keys are "
                f"{sorted(history[-1])}"
            )
        if value is None or not math.isfinite(value):
            return False
        sign = 1 if self.mode == "max" else -1
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best = value
            return True
        return False


class ModelCheckpoint(_Monitor):
    """Write the estimator to ``path`` (pickle) each time ``monitor`` reaches a new best.

    Parameters
    ----------
    path : str or os.PathLike
        The file; written atomically (a temporary file renamed over it), so it always holds a
        complete model. Load it with ``pickle.load(open(path, "rb"))``; unpickle only files
        you trust.
    monitor : str, default="validation_score"
        A history key: "validation_score" (higher is better), "validation_loss" or "loss"
        (lower is better). Epochs where it is None (no validation data) are skipped.
    mode : {"auto", "min", "max"}, default="auto"
        "auto": max for keys ending in "score", else min.

    Attributes
    ----------
    best : the best monitored value so far; best_epoch : its epoch.
    """

    def __init__(
        self, path: str | os.PathLike[str], monitor: str = "validation_score", mode: str = "auto"
    ) -> None:
        super().__init__(monitor, mode)
        self.path = os.fspath(path)
        self.best_epoch = None

    def on_epoch_end(self, estimator: Any, history: list[dict[str, Any]]) -> bool | None:
        if self._improved(history):
            tmp = self.path + ".tmp"
            with open(tmp, "wb") as f:
                pickle.dump(estimator, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
            self.best_epoch = history[-1]["epoch"]
        return False


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs.

    Parameters
    ----------
    monitor : str, default="validation_score"
    patience : int, default=10
    min_delta : float, default=0.0
    mode : {"auto", "min", "max"}, default="auto"
    """

    def __init__(
        self,
        monitor: str = "validation_score",
        patience: int = 10,
        min_delta: float = 0.0,
        mode: str = "auto",
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive int, got {patience!r}")
        self.patience = patience
        self.wait = 0

    def on_train_begin(self, estimator: Any) -> None:
        super().on_train_begin(estimator)
        self.wait = 0

    def on_epoch_end(self, estimator: Any, history: list[dict[str, Any]]) -> bool | None:
        self.wait = 0 if self._improved(history) else self.wait + 1
        return self.wait >= self.patience
