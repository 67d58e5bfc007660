"""What every estimator shares: the hyper-parameter table, model pieces and the training loop.

An estimator subclass provides a few hooks and the loop here does the rest:

``_modules()``                 the trained pieces (network, heads, embeddings), each with
                               flat ``params``/``grad`` buffers
``_forward_backward(batch, rng)`` training forward + loss + backward on one batch, returning
                               ``(mean loss, number of items it averaged over)``
``_validation_score(valid)``   a higher-is-better score on held-out data (early stopping)
``_batches(train, rng)``       optional: how an epoch is cut into batches (default: shuffled
                               mini-batches of ``batch_size`` samples)
"""
import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .. import _packcache, optim
from ..clip import clip_grad_norm
from ..network import GRU, LSTM, RNN
from ._data import Sequences
from ._modules import Embedding, progress_bar

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

    kind is "int", "real", "bool", "options", "random_state", "dtype" or "analyzer";
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
                text += (" and <= " if self.closed in ("both", "right") else " and < ") \
                    + str(self.high)
        elif self.kind == "bool":
            text = "a bool"
        elif self.kind == "random_state":
            text = "None, an int >= 0 or a numpy RandomState"
        elif self.kind == "dtype":
            text = "'float32' or 'float64'"
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
            return (isinstance(value, np.random.RandomState)
                    or (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                        and value >= 0))
        if self.kind == "dtype":
            return (isinstance(value, str) and value in _DTYPES) or value in (np.float32,
                                                                               np.float64)
        if self.kind == "analyzer":
            return value in ("char", "word") if isinstance(value, str) else callable(value)
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
}

TEXT_PARAMS = {
    "analyzer": Param("analyzer"),
    "embedding_dim": Param("int", 1),
    "min_frequency": Param("int", 1),
}


def _take(part, idx):
    """Rows ``idx`` of one aligned piece of training data."""
    if isinstance(part, Sequences):
        return part.take(idx)
    if isinstance(part, np.ndarray):
        return part[idx]
    return [part[i] for i in idx]


# ---------------------------------------------------------------- the base estimator


class BaseRNN(BaseEstimator):
    """Base class of the estimators (not for direct use). See the module docstring."""

    _params = COMMON_PARAMS
    _unit = "seq"  # what the progress bar counts

    # ------------------------------------------------------------ configuration

    def _validate_params(self):
        """Check every hyper-parameter against the table; raise a ValueError/TypeError."""
        name = type(self).__name__
        for key, rule in self._params.items():
            value = getattr(self, key)
            if not rule.is_valid(value):
                err = TypeError if rule.kind == "analyzer" and not isinstance(value, str) \
                    else ValueError
                raise err(f"{name}: the '{key}' parameter must be {rule.describe()}; "
                          f"got {value!r}")

    @property
    def _float(self):
        return np.dtype(_DTYPES.get(self.dtype, self.dtype))

    def _seed(self, rng):
        return int(rng.randint(0, 2**31 - 1))

    def _new_network(self, input_size, rng, bidirectional=None):
        cls = _NETWORKS[self.cell]
        bidirectional = self.bidirectional if bidirectional is None else bidirectional
        return cls(input_size, self.hidden_size, num_layers=self.num_layers,
                   bidirectional=bidirectional, dropout=self.dropout, dtype=self._float,
                   random_state=self._seed(rng))

    def _new_embedding(self, num_embeddings, rng):
        return Embedding(num_embeddings, self.embedding_dim, self._float, self._seed(rng))

    def _new_optimizer(self):
        return _OPTIMIZERS[self.optimizer](self._modules(), self.learning_rate)

    # ------------------------------------------------------------ encoder helpers

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
            dh[(L - 1) * D + d] = dfeatures[:, d * H:(d + 1) * H]
        return (dh, None) if net.cell == "lstm" else dh

    # ------------------------------------------------------------ the training loop

    def _batches(self, train, rng):
        n = len(train[0])
        order = rng.permutation(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield len(idx), tuple(_take(part, idx) for part in train)

    def _epoch_size(self, train):
        return len(train[0])

    def _grad_norm_network(self):
        """The network whose first layer's per-step gradient norms make ``gradient_norms_``."""
        return self.network_

    def _split_validation(self, n, rng, stratify=None):
        """(train indices, validation indices) when early stopping, else (all, None)."""
        if not self.early_stopping:
            return np.arange(n), None
        n_valid = int(np.ceil(self.validation_fraction * n))
        if n < 2 or n_valid >= n:
            raise ValueError(f"early_stopping holds out validation_fraction="
                             f"{self.validation_fraction} of the samples, which leaves none "
                             f"to train on with n_samples={n}")
        if stratify is not None:
            _, counts = np.unique(stratify, return_counts=True)
            if counts.min() < 2 or n_valid < len(counts):
                stratify = None
        return train_test_split(np.arange(n), test_size=n_valid, random_state=rng,
                                stratify=stratify)

    def _start_training(self, first, incremental, build):
        """Before the epochs of a fit: a new model (``build(rng)``) and history on the first
        fit; on a warm-started ``fit``, fresh stopping counters but the history kept."""
        if first:
            self._rng = check_random_state(self.random_state)
            build(self._rng)
            self._reset_training_state()
        elif not incremental:
            self._no_improvement_count = 0
            self.best_loss_ = np.inf
            self._best_params = None
            if self.early_stopping:
                self.best_validation_score_ = -np.inf
                self.validation_scores_ = self.validation_scores_ or []

    def _reset_training_state(self):
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_loss_ = np.inf
        self.best_validation_score_ = -np.inf if self.early_stopping else None
        self.gradient_norms_ = []
        self.n_iter_ = 0
        self._no_improvement_count = 0
        self._best_params = None

    def _run_epochs(self, train, valid, n_epochs, rng, incremental=False):
        """Train for up to ``n_epochs`` epochs (stopping early as configured)."""
        modules = self._modules()
        grads = [m.grad for m in modules]
        for _ in range(n_epochs):
            bar = None
            if self.verbose:
                bar = progress_bar(self._epoch_size(train), f"epoch {self.n_iter_ + 1}",
                                   self._unit)
            total, count = 0.0, 0
            gn_sum, gn_count = np.zeros(0), np.zeros(0)
            start = time.perf_counter()
            for size, batch in self._batches(train, rng):
                for m in modules:
                    m.zero_grad()
                loss, n_items = self._forward_backward(batch, rng)
                norm = clip_grad_norm(grads, self.clip_norm if self.clip_norm else np.inf)
                if not (np.isfinite(loss) and np.isfinite(norm)):
                    raise FloatingPointError(
                        f"{type(self).__name__}: training diverged at epoch {self.n_iter_ + 1} "
                        "(the loss or its gradient is not finite); lower learning_rate or "
                        "set clip_norm")
                self.optimizer_.step()
                total += loss * n_items
                count += n_items
                g = self._grad_norm_network().grad_norms.get((0, 0))
                if g is not None:
                    if len(g) > len(gn_sum):
                        gn_sum = np.pad(gn_sum, (0, len(g) - len(gn_sum)))
                        gn_count = np.pad(gn_count, (0, len(g) - len(gn_count)))
                    gn_sum[:len(g)] += g
                    gn_count[:len(g)] += 1
                if bar is not None:
                    bar.update(size)
                    bar.set_postfix_str(f"loss {total / max(count, 1):.4f}")
            epoch_loss = total / max(count, 1)
            self.n_iter_ += 1
            self.loss_curve_.append(epoch_loss)
            self.gradient_norms_.append(gn_sum / np.maximum(gn_count, 1))
            score = None
            if valid is not None:
                score = self._validation_score(valid)
                self.validation_scores_.append(score)
            stop = self._update_no_improvement(epoch_loss, score, modules)
            if bar is not None:
                summary = f"loss {epoch_loss:.4f}"
                if score is not None:
                    summary += f", validation score {score:.4f}"
                bar.set_postfix_str(f"{summary} ({time.perf_counter() - start:.1f}s)")
                bar.close()
            if stop and not incremental:
                if self.verbose:
                    print(f"{type(self).__name__}: no improvement of more than tol={self.tol} "
                          f"for {self.n_iter_no_change} epochs; stopping.")
                break
        if valid is not None and self._best_params is not None:
            for m, best in zip(modules, self._best_params):
                m.params[...] = best
                _packcache.changed(m.params)

    def _update_no_improvement(self, loss, score, modules):
        """Track the best loss / validation score; True when training should stop."""
        if score is not None:
            improved = score > self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = [m.params.copy() for m in modules]
        else:
            improved = loss < self.best_loss_ - self.tol
        self.best_loss_ = min(self.best_loss_, loss)
        self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
        return self._no_improvement_count >= self.n_iter_no_change
