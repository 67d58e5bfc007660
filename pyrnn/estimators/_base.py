"""What every estimator shares: hyper-parameters, model pieces, ``fit`` and the epoch loop.

An estimator subclass provides a few hooks and the code here does the rest:

``_prepare_data(X, y, first, **kw)`` validate X and y (recording vocabularies, classes and
                               target scalings on the first fit); return the training data
                               as a tuple of aligned parts
``_build(rng)``                create the trained pieces (called on the first fit)
``_modules()``                 the trained pieces (network, heads, embeddings), each with
                               flat ``params``/``grad`` buffers (:mod:`pyrnn.parameters`)
``_forward_backward(batch, rng)`` training forward + loss + backward on one batch, returning
                               ``(mean loss, number of items it averaged over)``
``_validation_score(valid)``   a higher-is-better score on held-out data (early stopping)
``_batches(train, rng)``       optional: how an epoch is cut into batches (default: shuffled
                               mini-batches of ``batch_size`` samples)
``_hold_out(data, rng)``       optional: the (train, validation) split of early stopping

``fit`` and ``partial_fit`` go through :meth:`BaseRNN._fit`; an epoch is
:meth:`BaseRNN._train_epoch` (batches of :meth:`BaseRNN._train_step`), then
:meth:`BaseRNN._end_epoch` (history, early stopping, and the place where callbacks plug in).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numbers
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import DTypeLike
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .. import _packcache, optim
from ..clip import clip_grad_norm
from ..functional import dropout_mask
from ..network import GRU, LSTM, RNN
from ..heads import Embedding, Linear
from ..callbacks import as_callbacks
from ._control import (
    LEAVE_START,
    LEAVE_START_VALIDATED,
    EpochSnapshot,
    make_schedule,
    warn_if_not_learning,
)
from ._data import take_rows
from ._progress import progress_bar
from ._threads import threads

_NETWORKS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
_OPTIMIZERS = {
    "adam": lambda modules, lr: optim.Adam(modules, lr=lr),
    "adamw": lambda modules, lr: optim.AdamW(modules, lr=lr),
    "sgd": lambda modules, lr: optim.SGD(modules, lr=lr, momentum=0.9),
    "rmsprop": lambda modules, lr: optim.RMSprop(modules, lr=lr),
    "adagrad": lambda modules, lr: optim.Adagrad(modules, lr=lr),
}
_DTYPES = {"float32": np.float32, "float64": np.float64}


# ---------------------------------------------------------------- hyper-parameter table


class Param:
    """One row of the hyper-parameter table: what values are valid, checked in ``fit``.

    kind is "int", "real", "bool", "options", "random_state", "dtype", "analyzer",
    "class_weight", "levels" (quantile levels) or "conv_layers";
    ``low``/``high`` bound numbers (``closed`` says which ends are allowed: "both", "left",
    "right", "neither"); ``options`` lists valid strings; ``none`` allows None.
    """

    def __init__(self, kind, low=None, high=None, closed="both", options=(), none=False):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed
        self.options, self.none = tuple(options), none

    def describe(self):
        if self.kind == "options":
            text = "one of " + ", ".join(repr(o) for o in self.options)
        elif self.kind in ("int", "real"):
            text = "an int" if self.kind == "int" else "a real number"
            if self.low is not None:
                text += (" >= " if self.closed in ("both", "left") else " > ") + str(self.low)
            if self.high is not None:
                text += (" and <= " if self.closed in ("both", "right") else " and < ") + str(
                    self.high
                )
        elif self.kind == "bool":
            text = "a bool"
        elif self.kind == "random_state":
            text = "None, an int >= 0 or a numpy RandomState"
        elif self.kind == "dtype":
            text = "'float32' or 'float64'"
        elif self.kind == "levels":
            text = "a sequence of distinct quantile levels in (0, 1)"
        elif self.kind == "class_weight":
            text = "'balanced' or a dict label -> non-negative weight"
        elif self.kind == "conv_layers":
            text = (
                "a list of (channels, kernel_size, stride) or (channels, kernel_size, "
                "stride, pool) tuples of positive ints"
            )
        else:  # analyzer
            text = "'char', 'word' or a callable text -> list of str"
        return text + (" or None" if self.none else "")

    def is_valid(self, value):
        if value is None:
            return self.none
        if self.kind == "bool":
            return isinstance(value, (bool, np.bool_))
        if self.kind == "options":
            return isinstance(value, str) and value in self.options
        if self.kind == "random_state":
            return isinstance(value, np.random.RandomState) or (
                isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0
            )
        if self.kind == "dtype":
            return (isinstance(value, str) and value in _DTYPES) or value in (
                np.float32,
                np.float64,
            )
        if self.kind == "analyzer":
            return value in ("char", "word") if isinstance(value, str) else callable(value)
        if self.kind == "conv_layers":
            return (
                isinstance(value, (list, tuple))
                and len(value) > 0
                and all(
                    isinstance(layer, (list, tuple))
                    and len(layer) in (3, 4)
                    and all(
                        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
                        for v in layer
                    )
                    for layer in value
                )
            )
        if self.kind == "levels":
            try:
                levels = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                return False
            return (
                not isinstance(value, str)
                and levels.ndim == 1
                and bool(np.all((levels > 0) & (levels < 1)))
                and len(np.unique(levels)) == len(levels)
            )
        if self.kind == "class_weight":
            return (
                value == "balanced"
                if isinstance(value, str)
                else (
                    isinstance(value, dict)
                    and all(isinstance(w, numbers.Real) and w >= 0 for w in value.values())
                )
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.kind == "int" and not isinstance(value, numbers.Integral):
            return False
        if not np.isfinite(value):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True


COMMON_PARAMS = {
    "cell": Param("options", options=("rnn", "lstm", "gru")),
    "hidden_size": Param("int", 1),
    "num_layers": Param("int", 1),
    "bidirectional": Param("bool"),
    "dropout": Param("real", 0.0, 1.0, closed="left"),
    "optimizer": Param("options", options=tuple(_OPTIMIZERS)),
    "learning_rate": Param("real", 0.0, closed="neither"),
    "batch_size": Param("int", 1),
    "max_epochs": Param("int", 1),
    "clip_norm": Param("real", 0.0, closed="neither", none=True),
    "early_stopping": Param("bool"),
    "validation_fraction": Param("real", 0.0, 1.0, closed="neither"),
    "n_iter_no_change": Param("int", 1),
    "tol": Param("real", 0.0),
    "warm_start": Param("bool"),
    "random_state": Param("random_state", none=True),
    "verbose": Param("int", 0),
    "dtype": Param("dtype"),
    "n_threads": Param("int", 1, none=True),
    "lr_schedule": Param("options", options=("constant", "plateau", "step", "exponential")),
    "warmup_epochs": Param("int", 0),
}

SEQUENCE_PARAMS = {  # RNNClassifier, RNNRegressor, RNNTagger
    "layout": Param("options", options=("NTC", "NCT"), none=True),
    "conv_layers": Param("conv_layers", none=True),
}

TEXT_PARAMS = {
    "analyzer": Param("analyzer"),
    "embedding_dim": Param("int", 1),
    "min_frequency": Param("int", 1),
}


# ---------------------------------------------------------------- the base estimator


def store_hyper_parameters(estimator, arguments):
    """The body of every estimator's ``__init__``: keep each argument under its own name.

    scikit-learn's contract: ``__init__`` stores its arguments unchanged (they are validated
    in ``fit``) and sets nothing else; ``get_params``/``clone`` read them back by the names of
    the signature. ``arguments`` is the ``locals()`` of that ``__init__``.
    """
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


@dataclass
class _EpochStats:
    """What one epoch measured: the mean loss over its items, and ``||dL/dh_t||`` per step t
    of the first layer averaged over the batches that reached step t."""

    loss_sum: float = 0.0
    items: int = 0
    norm_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    norm_count: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def add(self, loss, n_items, grad_norms):
        self.loss_sum += loss * n_items
        self.items += n_items
        if grad_norms is None:
            return
        T = len(grad_norms)
        if T > len(self.norm_sum):
            self.norm_sum = np.pad(self.norm_sum, (0, T - len(self.norm_sum)))
            self.norm_count = np.pad(self.norm_count, (0, T - len(self.norm_count)))
        self.norm_sum[:T] += grad_norms
        self.norm_count[:T] += 1

    @property
    def loss(self):
        return self.loss_sum / max(self.items, 1)

    @property
    def grad_norms(self):
        return self.norm_sum / np.maximum(self.norm_count, 1)


class BaseRNN(BaseEstimator):
    """Base class of the estimators (not for direct use). See the module docstring.

    Its ``__init__`` is the signature of the estimators sharing the common and text
    hyper-parameters (``RNNClassifier``, ``RNNRegressor``, ``RNNTagger`` inherit it);
    estimators with other parameters or defaults declare their own and store them with
    :func:`store_hyper_parameters`.
    """

    _params = COMMON_PARAMS
    _unit = "seq"  # what the progress bar counts

    def __init__(
        self,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        optimizer: str = "adam",
        learning_rate: float = 0.003,
        batch_size: int = 32,
        max_epochs: int = 100,
        clip_norm: float | None = 5.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 20,
        tol: float = 1e-4,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        dtype: DTypeLike = "float32",
        n_threads: int | None = None,
        analyzer: str | Callable[[str], list[str]] = "word",
        embedding_dim: int = 32,
        min_frequency: int = 1,
        lr_schedule: str = "plateau",
        warmup_epochs: int = 5,
        layout: str | None = None,
        conv_layers: Sequence[tuple[int, ...]] | None = None,
    ) -> None:
        store_hyper_parameters(self, locals())

    # ------------------------------------------------------------ configuration

    def _validate_params(self):
        """Check every hyper-parameter against the table; raise a ValueError/TypeError."""
        name = type(self).__name__
        for key, rule in self._params.items():
            value = getattr(self, key)
            if not rule.is_valid(value):
                err = (
                    TypeError
                    if rule.kind == "analyzer" and not isinstance(value, str)
                    else ValueError
                )
                raise err(f"{name}: the '{key}' parameter must be {rule.describe()}; got {value!r}")

    @property
    def _float(self):
        return np.dtype(_DTYPES.get(self.dtype, self.dtype))

    def _seed(self, rng):
        return int(rng.randint(0, 2**31 - 1))

    def _new_network(self, input_size, rng, bidirectional=None):
        cls = _NETWORKS[self.cell]
        bidirectional = self.bidirectional if bidirectional is None else bidirectional
        return cls(
            input_size,
            self.hidden_size,
            num_layers=self.num_layers,
            bidirectional=bidirectional,
            dropout=self.dropout,
            dtype=self._float,
            random_state=self._seed(rng),
        )

    def _new_embedding(self, num_embeddings, rng):
        return Embedding(num_embeddings, self.embedding_dim, self._float, self._seed(rng))

    def _new_linear(self, in_features, out_features, rng):
        return Linear(in_features, out_features, dtype=self._float, random_state=self._seed(rng))

    def _new_optimizer(self):
        return _OPTIMIZERS[self.optimizer](self._modules(), self.learning_rate)

    # ------------------------------------------------------------ model helpers

    def _net_input_size(self):
        """Features per step the network sees: the embedding size for text, else input_size_."""
        return self.embedding_dim if self.input_kind_ == "tokens" else self.input_size_

    def _embed(self, x, training):
        """Token ids (T, B) -> vectors (T, B, E) for text input; numbers pass through."""
        if self.embedding_ is None:
            return x
        return self.embedding_.forward(x, training)

    def _unembed(self, dx):
        if self.embedding_ is not None:
            self.embedding_.backward(dx)

    def _head_forward(self, features, rng):
        """Training: dropout on the features entering the head, then the head; the mask is
        kept for :meth:`_head_backward`."""
        self._mask = dropout_mask(features.shape, self.dropout, self._float, rng)
        return self.head_.forward(features if self._mask is None else features * self._mask)

    def _head_backward(self, dy):
        """dL/d(head outputs) -> dL/d(features before dropout)."""
        dfeatures = self.head_.backward(dy)
        if self._mask is not None:
            dfeatures *= self._mask
        self._mask = None
        return dfeatures

    def _logits(self, out):
        """The prediction path: head outputs in float64 (inference), out (..., H) -> (..., K)."""
        return self.head_.forward(out, training=False, dtype=np.float64)

    @staticmethod
    def _last_layer_state(net, state):
        """Final hidden state of the last layer, both directions concatenated: (B, D*H)."""
        h = state[0] if isinstance(state, tuple) else state
        D = net.num_directions
        return np.concatenate(list(h[-D:]), axis=1)

    @staticmethod
    def _last_layer_state_grad(net, dfeatures):
        """The ``dstate`` for ``net.backward`` given dL/d(_last_layer_state) (B, D*H)."""
        L, D, H = net.num_layers, net.num_directions, net.hidden_size
        B = dfeatures.shape[0]
        dh = np.zeros((L * D, B, H), net.dtype)
        for d in range(D):
            dh[(L - 1) * D + d] = dfeatures[:, d * H : (d + 1) * H]
        return (dh, None) if net.cell == "lstm" else dh

    # ------------------------------------------------------------ fit

    def _fit(self, X, y, incremental, *, validation_data=None, callbacks=None, **kwargs):
        """The one fitting rule of ``fit`` (``incremental=False``) and ``partial_fit``.

        A new model is built on the first call (``partial_fit``) or on every ``fit`` unless
        ``warm_start`` continues a fitted one. ``fit`` runs up to ``max_epochs`` epochs with
        early stopping as configured; ``partial_fit`` runs one epoch, never holding data out.
        ``validation_data=(X_val, y_val)`` is scored after every epoch (in place of the
        ``validation_fraction`` held out by ``early_stopping``); ``callbacks`` see
        :mod:`pyrnn.callbacks`.
        """
        self._validate_params()
        callbacks = as_callbacks(callbacks)
        fitted = hasattr(self, "optimizer_")
        first = not fitted if incremental else not (self.warm_start and fitted)
        with threads(self.n_threads):
            data = self._prepare_data(X, y, first, **kwargs)
            self._start_training(first, incremental)
            if validation_data is not None:
                train, valid = data, self._prepare_validation(validation_data)
            elif incremental or not self.early_stopping:
                train, valid = data, None
            else:
                train, valid = self._hold_out(data, self._rng)
            n_epochs = 1 if incremental else self.max_epochs
            try:
                self._run_epochs(train, valid, n_epochs, self._rng, incremental, callbacks)
            finally:  # a fitted estimator keeps no training workspace
                for m in self._modules():
                    m.release_buffers()
        if not incremental:
            warn_if_not_learning(self)
        return self

    def _prepare_validation(self, validation_data):
        """``(X_val, y_val)`` -> validation data checked against the fitted model."""
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise ValueError(
                "validation_data must be a pair (X_val, y_val), got "
                f"{type(validation_data).__name__}"
            )
        X_val, y_val = validation_data
        return self._prepare_data(X_val, y_val, False)

    def _hold_out(self, data, rng):
        """(train, validation) parts of ``data`` for early stopping: ``validation_fraction``
        of the samples, stratified by ``_stratify(data)`` when possible."""
        n = len(data[0])
        n_valid = int(np.ceil(self.validation_fraction * n))
        if n < 2 or n_valid >= n:
            raise ValueError(
                f"early_stopping holds out validation_fraction="
                f"{self.validation_fraction} of the samples, which leaves none "
                f"to train on with n_samples={n}"
            )
        stratify = self._stratify(data)
        if stratify is not None:
            _, counts = np.unique(stratify, return_counts=True)
            if counts.min() < 2 or n_valid < len(counts):
                stratify = None
        tr, va = train_test_split(
            np.arange(n), test_size=n_valid, random_state=rng, stratify=stratify
        )
        return (
            tuple(take_rows(part, tr) for part in data),
            tuple(take_rows(part, va) for part in data),
        )

    def _stratify(self, data):
        """Labels to stratify the validation split by, or None."""
        return None

    def _start_training(self, first, incremental):
        """Before the epochs of a fit: a new model and history on the first fit; on a
        warm-started ``fit``, fresh stopping counters but the history kept."""
        if first:
            self._rng = check_random_state(self.random_state)
            self._build(self._rng)
            self._reset_training_state()
            self.lr_scheduler_ = make_schedule(self, self.optimizer_)
        elif not incremental:
            self._no_improvement_count = 0
            self.best_loss_ = np.inf
            self._best_params = None
            self._first_loss = None
            self.best_validation_score_ = None
            self.optimizer_.lr = self.learning_rate
            self.lr_scheduler_ = make_schedule(self, self.optimizer_)

    def _reset_training_state(self):
        self.loss_curve_ = []
        self.validation_scores_ = None  # lists once there is validation data
        self.history_ = []
        self.best_loss_ = np.inf
        self.best_validation_score_ = None
        self.gradient_norms_ = []
        self.n_iter_ = 0
        self.interrupted_ = False
        self._no_improvement_count = 0
        self._best_params = None
        self._first_loss = None

    # ------------------------------------------------------------ the epoch loop

    def _batches(self, train, rng):
        n = len(train[0])
        order = rng.permutation(n)
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            yield len(idx), tuple(take_rows(part, idx) for part in train)

    def _epoch_size(self, train):
        return len(train[0])

    def _grad_norm_network(self):
        """The network whose first layer's per-step gradient norms make ``gradient_norms_``."""
        return self.network_

    def _run_epochs(self, train, valid, n_epochs, rng, incremental=False, callbacks=()):
        """Train for up to ``n_epochs`` epochs (stopping early as configured or by a
        callback), then, in ``fit``, restore the parameters of the best epoch: best validation
        score when there is validation data, else lowest training loss.

        A KeyboardInterrupt (Ctrl-C) during an epoch ends training cleanly: the parameters
        and optimizer state go back to the end of the last complete epoch, ``interrupted_``
        is set and fit returns normally (the best-epoch rule above still applies)."""
        self.interrupted_ = False
        for cb in callbacks:
            if hasattr(cb, "on_train_begin"):
                cb.on_train_begin(self)
        for _ in range(n_epochs):
            snapshot = EpochSnapshot(self._modules(), self.optimizer_)
            bar = progress_bar(
                self._epoch_size(train),
                f"epoch {self.n_iter_ + 1}",
                self._unit,
                show=bool(self.verbose),
            )
            start = time.perf_counter()
            try:
                stats = self._train_epoch(train, rng, bar)
            except KeyboardInterrupt:
                snapshot.restore()
                bar.close()
                self.interrupted_ = True
                if self.verbose:
                    print(
                        f"{type(self).__name__}: interrupted; keeping the {self.n_iter_} "
                        "complete epoch(s)."
                    )
                break
            score = None if valid is None else self._validation_score(valid)
            stop = self._end_epoch(stats, score, time.perf_counter() - start)
            stop = any([bool(cb.on_epoch_end(self, self.history_)) for cb in callbacks]) or stop
            summary = f"loss {stats.loss:.4f}"
            if score is not None:
                summary += f", validation score {score:.4f}"
            bar.set_postfix_str(f"{summary} ({time.perf_counter() - start:.1f}s)")
            bar.close()
            if stop and not incremental:
                if self.verbose:
                    print(f"{type(self).__name__}: stopping after epoch {self.n_iter_}.")
                break
        if not incremental and self._best_params is not None:
            for m, best in zip(self._modules(), self._best_params):
                m.params[...] = best
                _packcache.changed(m.params)
        for cb in callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(self, self.history_)

    def _train_epoch(self, train, rng, bar):
        """One pass over the training data, a step per batch; returns its :class:`_EpochStats`."""
        stats = _EpochStats()
        for size, batch in self._batches(train, rng):
            loss, n_items = self._train_step(batch, rng)
            stats.add(loss, n_items, self._grad_norm_network().grad_norms.get((0, 0)))
            bar.update(size)
            bar.set_postfix_str(f"loss {stats.loss:.4f}")
        return stats

    def _train_step(self, batch, rng):
        """zero_grad, forward/backward, clipping, divergence check, optimizer step."""
        modules = self._modules()
        for m in modules:
            m.zero_grad()
        loss, n_items = self._forward_backward(batch, rng)
        norm = clip_grad_norm(
            [m.grad for m in modules], self.clip_norm if self.clip_norm else np.inf
        )
        if not (np.isfinite(loss) and np.isfinite(norm)):
            raise FloatingPointError(
                f"{type(self).__name__}: training diverged at epoch {self.n_iter_ + 1} "
                "(the loss or its gradient is not finite); lower learning_rate or set clip_norm"
            )
        self.optimizer_.step()
        return loss, n_items

    def _end_epoch(self, stats, score, seconds=0.0):
        """Record the epoch (``n_iter_``, ``loss_curve_``, ``gradient_norms_``,
        ``validation_scores_``, ``history_``), step the learning-rate schedule and update the
        stopping rule. Returns True when training should stop (callbacks run after this)."""
        self.n_iter_ += 1
        self.loss_curve_.append(stats.loss)
        self.gradient_norms_.append(stats.grad_norms)
        if score is not None:
            self.validation_scores_ = (self.validation_scores_ or []) + [score]
        self.history_.append(
            {
                "epoch": self.n_iter_,
                "loss": stats.loss,
                "validation_score": score,
                "learning_rate": float(self.optimizer_.lr),
                "seconds": seconds,
            }
        )
        self.lr_scheduler_.step(stats.loss if score is None else -score)
        return self._update_no_improvement(stats.loss, score)

    def _update_no_improvement(self, loss, score):
        """Track the best loss / validation score (and the parameters where it was reached);
        True when training should stop: ``n_iter_no_change`` epochs without an improvement
        of more than ``tol``, counted only once the loss has left its starting plateau, so
        that an RNN is not stopped before it learns: fallen 10% below the first epoch's loss
        when the training loss decides (``LEAVE_START``), 1% when a validation score does
        (``LEAVE_START_VALIDATED``: the best validated epoch is kept anyway)."""
        if self._first_loss is None:
            self._first_loss = loss
        if score is not None:
            previous = (
                -np.inf if self.best_validation_score_ is None else self.best_validation_score_
            )
            improved = score > previous + self.tol
            best = score > previous
            self.best_validation_score_ = max(previous, score)
        else:
            improved = loss < self.best_loss_ - self.tol
            best = loss < self.best_loss_
        if best and np.isfinite(loss):
            self._best_params = [m.params.copy() for m in self._modules()]
        self.best_loss_ = min(self.best_loss_, loss)
        leave = LEAVE_START if score is None else LEAVE_START_VALIDATED
        left_start = self.best_loss_ < self._first_loss * (1 - leave)
        if improved or not left_start:
            self._no_improvement_count = 0
        else:
            self._no_improvement_count += 1
        return self._no_improvement_count >= self.n_iter_no_change
