"""Optimizers updating flat parameter buffers in place, and learning-rate schedules.

Each optimizer takes a list of ``(params, grad)`` pairs of same-shape float arrays (usually
the flat buffers ``net.params, net.grad``; an object with ``.params`` and ``.grad``, such as
a network or a head, may stand for its pair). ``step()`` applies one update, the same
arithmetic as ``torch.optim`` (checked update for update in tests/test_optim.py).

    opt = optim.Adam([net, head], lr=1e-3)      # or [(net.params, net.grad), ...]
    opt.zero_grad(); ...backward...; opt.step()

The learning rate is the attribute ``opt.lr``; schedules change it.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Tuple, Union

import numpy as np

from . import _packcache

# What an optimizer takes: (params, grad) array pairs, or objects with .params and .grad
# (networks, heads), or one such object.
Pairs = Union[Iterable[Any], Any]

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "StepLR",
    "ExponentialLR",
    "ReduceLROnPlateau",
    "WarmupLR",
]


def _check_nonneg(name, value, upper=None):
    value = float(value)
    if not value >= 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if upper is not None and not value < upper:
        raise ValueError(f"{name} must be < {upper}, got {value}")
    return value


class Optimizer:
    """Base class: holds the (params, grad) pairs, the learning rate and per-pair state.

    Subclasses define ``_defaults`` (hyper-parameter names), ``_state_names`` (per-pair
    buffers) and ``_update(i, p, g, state)``.
    """

    _state_names = ()

    def __init__(self, pairs: Pairs, lr: float):
        self.lr = _check_nonneg("lr", lr)
        self.pairs = self._check_pairs(pairs)
        self.step_count = 0
        self.state = [{name: np.zeros_like(p) for name in self._state_names} for p, _ in self.pairs]

    @staticmethod
    def _check_pairs(pairs):
        if hasattr(pairs, "params") and hasattr(pairs, "grad"):
            pairs = [pairs]
        out = []
        for i, item in enumerate(pairs):
            if hasattr(item, "params") and hasattr(item, "grad"):
                p, g = item.params, item.grad
            else:
                try:
                    p, g = item
                except (TypeError, ValueError):
                    raise TypeError(
                        f"item {i} must be a (params, grad) pair of arrays or an "
                        "object with .params and .grad"
                    ) from None
            if not isinstance(p, np.ndarray) or not isinstance(g, np.ndarray):
                raise TypeError(f"item {i}: params and grad must be numpy arrays")
            if p.dtype.kind != "f" or g.dtype != p.dtype:
                raise TypeError(
                    f"item {i}: params and grad must be float arrays of the same "
                    f"dtype, got {p.dtype} and {g.dtype}"
                )
            if p.shape != g.shape:
                raise ValueError(f"item {i}: params {p.shape} and grad {g.shape} differ in shape")
            if not p.flags.writeable:
                raise ValueError(f"item {i}: params is read-only; optimizers update in place")
            out.append((p, g))
        if not out:
            raise ValueError("the optimizer got no parameters")
        return out

    def zero_grad(self) -> None:
        """Set every gradient buffer to zero."""
        for _, g in self.pairs:
            g[...] = 0

    def step(self) -> None:
        """Apply one update to every parameter buffer, in place."""
        self.step_count += 1
        for (p, g), state in zip(self.pairs, self.state):
            self._update(p, g, state)
            _packcache.changed(p)

    def _hyper(self):
        return {name: getattr(self, name) for name in ("lr",) + self._defaults}

    def state_dict(self) -> Dict[str, Any]:
        """Hyper-parameters, step count and copies of the per-pair buffers."""
        return {
            "hyper": self._hyper(),
            "step_count": self.step_count,
            "state": [{k: v.copy() for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (same parameter shapes required)."""
        try:
            hyper, step_count, states = (
                state_dict["hyper"],
                state_dict["step_count"],
                state_dict["state"],
            )
        except (KeyError, TypeError):
            raise ValueError(
                "not an optimizer state_dict: expected keys 'hyper', 'step_count', 'state'"
            ) from None
        if set(hyper) != set(self._hyper()):
            raise ValueError(
                f"hyper-parameters {sorted(hyper)} do not match "
                f"{type(self).__name__}'s {sorted(self._hyper())}"
            )
        if len(states) != len(self.pairs):
            raise ValueError(
                f"state_dict has state for {len(states)} parameter buffers, "
                f"the optimizer has {len(self.pairs)}"
            )
        for i, (s, (p, _)) in enumerate(zip(states, self.pairs)):
            if set(s) != set(self._state_names):
                raise ValueError(
                    f"buffer {i}: state names {sorted(s)} do not match {sorted(self._state_names)}"
                )
            for k, v in s.items():
                if np.shape(v) != p.shape:
                    raise ValueError(
                        f"buffer {i}, {k}: expected shape {p.shape}, got {np.shape(v)}"
                    )
        for k, v in hyper.items():
            setattr(self, k, v)
        self.step_count = int(step_count)
        self.state = [
            {k: np.array(v, dtype=p.dtype) for k, v in s.items()}
            for s, (p, _) in zip(states, self.pairs)
        ]


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

    As ``torch.optim.SGD``: ``d = g + wd p``; with momentum ``buf = d`` on the first step,
    then ``buf = momentum buf + (1 - dampening) d``; ``d = d + momentum buf`` (Nesterov) or
    ``d = buf``; ``p -= lr d``.
    """

    _defaults = ("momentum", "dampening", "nesterov", "weight_decay")
    _state_names = ("momentum_buffer",)

    def __init__(
        self,
        pairs: Pairs,
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        self.momentum = _check_nonneg("momentum", momentum)
        self.dampening = _check_nonneg("dampening", dampening)
        self.nesterov = bool(nesterov)
        self.weight_decay = _check_nonneg("weight_decay", weight_decay)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov momentum requires momentum > 0 and dampening = 0")
        super().__init__(pairs, lr)

    def _update(self, p, g, state):
        d = g + p.dtype.type(self.weight_decay) * p if self.weight_decay else g
        if self.momentum:
            buf = state["momentum_buffer"]
            if self.step_count == 1:
                buf[...] = d
            else:
                buf *= p.dtype.type(self.momentum)
                buf += p.dtype.type(1 - self.dampening) * d
            d = d + p.dtype.type(self.momentum) * buf if self.nesterov else buf
        p -= p.dtype.type(self.lr) * d


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, L2 weight decay and optional AMSGrad.

    As ``torch.optim.Adam``: ``g += wd p``; ``m = b1 m + (1-b1) g``; ``v = b2 v + (1-b2) g^2``;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`` (AMSGrad uses the
    running maximum of v).
    """

    _defaults = ("betas", "eps", "weight_decay", "amsgrad")
    _state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(
        self,
        pairs: Pairs,
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ):
        b1, b2 = betas
        self.betas = (_check_nonneg("betas[0]", b1, 1.0), _check_nonneg("betas[1]", b2, 1.0))
        self.eps = _check_nonneg("eps", eps)
        self.weight_decay = _check_nonneg("weight_decay", weight_decay)
        self.amsgrad = bool(amsgrad)
        super().__init__(pairs, lr)

    def _update(self, p, g, state):
        t = p.dtype.type
        b1, b2 = self.betas
        if self._decoupled:
            p *= t(1 - self.lr * self.weight_decay)
        elif self.weight_decay:
            g = g + t(self.weight_decay) * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= t(b1)
        m += t(1 - b1) * g
        v *= t(b2)
        v += t(1 - b2) * (g * g)
        if self.amsgrad:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        bias_correction1 = 1 - b1**self.step_count
        bias_correction2_sqrt = math.sqrt(1 - b2**self.step_count)
        denom = np.sqrt(v) / t(bias_correction2_sqrt) + t(self.eps)
        p -= t(self.lr / bias_correction1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr wd`` before
    the Adam step, as ``torch.optim.AdamW`` (default weight_decay 0.01)."""

    _decoupled = True

    def __init__(
        self,
        pairs: Pairs,
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(pairs, lr, betas, eps, weight_decay, amsgrad)


class RMSprop(Optimizer):
    """RMSprop (Hinton), optionally centered and with momentum, as ``torch.optim.RMSprop``:
    ``g += wd p``; ``s = alpha s + (1-alpha) g^2``; ``avg = sqrt(s - mean_g^2) + eps``
    (centered) or ``sqrt(s) + eps``; ``p -= lr g / avg`` (or through a momentum buffer)."""

    _defaults = ("alpha", "eps", "weight_decay", "momentum", "centered")
    _state_names = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(
        self,
        pairs: Pairs,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        self.alpha = _check_nonneg("alpha", alpha)
        self.eps = _check_nonneg("eps", eps)
        self.weight_decay = _check_nonneg("weight_decay", weight_decay)
        self.momentum = _check_nonneg("momentum", momentum)
        self.centered = bool(centered)
        super().__init__(pairs, lr)

    def _update(self, p, g, state):
        t = p.dtype.type
        if self.weight_decay:
            g = g + t(self.weight_decay) * p
        sq = state["square_avg"]
        sq *= t(self.alpha)
        sq += t(1 - self.alpha) * (g * g)
        if self.centered:
            ga = state["grad_avg"]
            ga *= t(self.alpha)
            ga += t(1 - self.alpha) * g
            avg = np.sqrt(sq - ga * ga) + t(self.eps)
        else:
            avg = np.sqrt(sq) + t(self.eps)
        if self.momentum > 0:
            buf = state["momentum_buffer"]
            buf *= t(self.momentum)
            buf += g / avg
            p -= t(self.lr) * buf
        else:
            p -= t(self.lr) * (g / avg)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), as ``torch.optim.Adagrad``: ``g += wd p``;
    ``clr = lr / (1 + (t-1) lr_decay)``; ``s += g^2``; ``p -= clr g / (sqrt(s) + eps)``."""

    _defaults = ("lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    _state_names = ("sum",)

    def __init__(
        self,
        pairs: Pairs,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ):
        self.lr_decay = _check_nonneg("lr_decay", lr_decay)
        self.weight_decay = _check_nonneg("weight_decay", weight_decay)
        self.initial_accumulator_value = _check_nonneg(
            "initial_accumulator_value", initial_accumulator_value
        )
        self.eps = _check_nonneg("eps", eps)
        super().__init__(pairs, lr)
        for s in self.state:
            s["sum"][...] = self.initial_accumulator_value

    def _update(self, p, g, state):
        t = p.dtype.type
        if self.weight_decay:
            g = g + t(self.weight_decay) * p
        clr = self.lr / (1 + (self.step_count - 1) * self.lr_decay)
        s = state["sum"]
        s += g * g
        p -= t(clr) * (g / (np.sqrt(s) + t(self.eps)))


# ----------------------------------------------------------------------------- schedules


class _Schedule:
    """Base: remembers the optimizer's initial lr; ``step()`` once per epoch."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"expected a pyrnn.optim optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def get_last_lr(self) -> float:
        """The optimizer's current learning rate."""
        return self.optimizer.lr

    def state_dict(self) -> Dict[str, Any]:
        """Everything but the optimizer."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        self.__dict__.update(state_dict)


class StepLR(_Schedule):
    """lr = base_lr * gamma ** (epoch // step_size), as ``torch.optim.lr_scheduler.StepLR``."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer)
        if not isinstance(step_size, (int, np.integer)) or step_size < 1:
            raise ValueError(f"step_size must be a positive int, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = _check_nonneg("gamma", gamma)

    def step(self) -> None:
        """Advance one epoch and set the optimizer's lr."""
        self.last_epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma ** (self.last_epoch // self.step_size)


class ExponentialLR(_Schedule):
    """lr = base_lr * gamma ** epoch, as ``torch.optim.lr_scheduler.ExponentialLR``."""

    def __init__(self, optimizer: Optimizer, gamma: float):
        super().__init__(optimizer)
        self.gamma = _check_nonneg("gamma", gamma)

    def step(self) -> None:
        """Advance one epoch and set the optimizer's lr."""
        self.last_epoch += 1
        self.optimizer.lr = self.base_lr * self.gamma**self.last_epoch


class ReduceLROnPlateau(_Schedule):
    """Multiply lr by ``factor`` when a metric stopped improving for ``patience`` epochs.

    Same rules as ``torch.optim.lr_scheduler.ReduceLROnPlateau``: ``mode`` "min" or "max";
    improvement means beating the best by ``threshold`` (relative: ``best * (1 -/+
    threshold)``, or absolute: ``best -/+ threshold``); after a reduction, ``cooldown``
    epochs pass before counting bad epochs again; lr never goes below ``min_lr`` and
    changes smaller than ``eps`` are skipped.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ):
        super().__init__(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not 0 <= factor < 1:
            raise ValueError(f"factor must be in [0, 1), got {factor}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = float(factor)
        self.patience = int(patience)
        self.threshold = _check_nonneg("threshold", threshold)
        self.cooldown = int(cooldown)
        self.min_lr = _check_nonneg("min_lr", min_lr)
        self.eps = _check_nonneg("eps", eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _is_better(self, current):
        if self.mode == "min":
            bar = (
                self.best * (1 - self.threshold)
                if self.threshold_mode == "rel"
                else self.best - self.threshold
            )
            return current < bar
        bar = (
            self.best * (1 + self.threshold)
            if self.threshold_mode == "rel"
            else self.best + self.threshold
        )
        return current > bar

    def step(self, metric: float) -> None:
        """Record this epoch's metric (e.g. validation loss) and reduce lr if it plateaued."""
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0


class WarmupLR(_Schedule):
    """Linear warm-up over ``warmup_epochs``, then another schedule (or a constant lr).

    During epoch e (1-based) of the warm-up, lr = base_lr * e / warmup_epochs; afterwards
    ``after`` (a schedule built on the same optimizer, e.g. ``StepLR``) takes over, counting
    its epochs from the end of the warm-up. Call ``step(metric)`` once per epoch, after it;
    ``metric`` is passed on to ``after`` when it needs one (``ReduceLROnPlateau``).
    The optimizer starts at base_lr / warmup_epochs as soon as this schedule is created.
    """

    def __init__(
        self, optimizer: Optimizer, warmup_epochs: int, after: _Schedule | None = None
    ) -> None:
        super().__init__(optimizer)
        if (
            isinstance(warmup_epochs, bool)
            or not isinstance(warmup_epochs, (int, np.integer))
            or warmup_epochs < 0
        ):
            raise ValueError(f"warmup_epochs must be an int >= 0, got {warmup_epochs!r}")
        if after is not None and not isinstance(after, _Schedule):
            raise TypeError(
                f"after must be a pyrnn.optim schedule or None, got {type(after).__name__}"
            )
        if after is not None and after.optimizer is not optimizer:
            raise ValueError("after must schedule the same optimizer")
        self.warmup_epochs = int(warmup_epochs)
        self.after = after
        if self.warmup_epochs:
            optimizer.lr = self.base_lr / self.warmup_epochs

    def step(self, metric: float | None = None) -> None:
        """Advance one epoch: the next warm-up lr, or one step of ``after``."""
        self.last_epoch += 1
        if self.last_epoch < self.warmup_epochs:
            self.optimizer.lr = self.base_lr * (self.last_epoch + 1) / self.warmup_epochs
        elif self.last_epoch == self.warmup_epochs:
            self.optimizer.lr = self.base_lr
        elif isinstance(self.after, ReduceLROnPlateau):
            self.after.step(metric)
        elif self.after is not None:
            self.after.step()

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, with the ``after`` schedule's state."""
        state = super().state_dict()
        state["after"] = None if self.after is None else self.after.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        state = dict(state_dict)
        after = state.pop("after")
        self.__dict__.update(state)
        if after is not None:
            self.after.load_state_dict(after)
