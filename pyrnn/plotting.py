"""Plots of how an estimator trained: loss curves and per-timestep gradient norms.

Needs matplotlib, an optional dependency (``pip install matplotlib``, or the ``plot`` extra of
this package). Each function draws on ``ax`` (a new figure's axes by default) and returns it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_loss_curve", "plot_gradient_norms"]


def _axes(ax):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "pyrnn.plotting needs matplotlib, which is not installed: "
            "pip install matplotlib (or the 'plot' extra: "
            "pip install 'pyrnn-cpu[plot]')"
        ) from exc
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _fitted(estimator, attribute):
    if not hasattr(estimator, attribute):
        raise ValueError(f"{type(estimator).__name__} has no {attribute}: fit it first")
    return getattr(estimator, attribute)


def plot_loss_curve(estimator: Any, ax: Axes | None = None) -> Axes:
    """Training loss per epoch (``loss_curve_``), and the validation score per epoch
    (``validation_scores_``, on a second y axis) when early stopping kept one.

    Parameters
    ----------
    estimator : a fitted pyrnn estimator
    ax : matplotlib Axes or None

    Returns
    -------
    ax : the Axes with the loss curve (the validation curve is on ``ax.right_ax`` when drawn)
    """
    loss = _fitted(estimator, "loss_curve_")
    ax = _axes(ax)
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, marker="o", color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title(f"{type(estimator).__name__}: training")
    scores = getattr(estimator, "validation_scores_", None)
    if scores:
        right = ax.twinx()
        right.plot(
            np.arange(1, len(scores) + 1),
            scores,
            marker="s",
            color="tab:orange",
            label="validation score",
        )
        right.set_ylabel("validation score")
        ax.right_ax = right
    return ax


def plot_gradient_norms(
    estimator: Any,
    epochs: Sequence[int] | None = None,
    ax: Axes | None = None,
    log: bool = True,
) -> Axes:
    """Per-timestep gradient norms ``||dL/dh_t||`` of the first recurrent layer.

    One line per chosen epoch from ``gradient_norms_`` (each the mean over that epoch's
    batches): how much of the training signal reaches each step of the sequences. A curve
    that falls steeply towards t = 0 shows vanishing gradients.

    Parameters
    ----------
    estimator : a fitted pyrnn estimator
    epochs : list of int (1-based) or None
        Epochs to draw; default the first, the middle and the last.
    ax : matplotlib Axes or None
    log : bool
        Logarithmic y axis.

    Returns
    -------
    ax
    """
    norms = _fitted(estimator, "gradient_norms_")
    if not norms:
        raise ValueError("gradient_norms_ is empty: no epoch was run")
    n = len(norms)
    if epochs is None:
        epochs = sorted({1, (n + 1) // 2, n})
    for e in epochs:
        if not 1 <= e <= n:
            raise ValueError(f"epochs must be between 1 and {n}, got {e}")
    ax = _axes(ax)
    for e in epochs:
        g = np.asarray(norms[e - 1])
        ax.plot(np.arange(len(g)), g, label=f"epoch {e}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("mean ||dL/dh_t||")
    ax.set_title(f"{type(estimator).__name__}: gradient reaching each step")
    ax.legend()
    return ax
