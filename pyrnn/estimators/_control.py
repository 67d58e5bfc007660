"""Training control around the epoch loop: learning-rate schedules, the last complete epoch
(for KeyboardInterrupt), and the warnings that say when training did not learn."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .. import _packcache, optim

# How far the loss must fall below its first epoch's value before the plateau rule counts
# epochs without improvement: RNNs typically sit at their starting loss for a while (e.g.
# ln 2 for two classes) before they learn, and stopping there returns chance-level models.
# When the training loss decides (no validation data, the default): 10%. With 1%, the noise
# of an epoch of two batches (GunPoint: 50 series, batch 32) crossed the threshold on the
# plateau and 2 seeds of 3 stopped at chance (epoch 44, test accuracy 0.47 and 0.49); with
# 10% the same seeds ran on to 0.69 and 0.87 (benchmarks/accuracy.py, 2026-11-26).
LEAVE_START = 0.10
# When a validation score decides (early_stopping, validation_data): 1%. The best validated
# epoch is restored whatever the rule, and a held-out score is what the user asked to follow.
LEAVE_START_VALIDATED = 0.01
# The fit warns that the loss stalled when it never fell this far (1%) below its start.
STALLED = 0.01


def make_schedule(est, optimizer):
    """The estimator's ``lr_schedule`` with ``warmup_epochs`` of linear warm-up, as one
    :class:`pyrnn.optim.WarmupLR` stepped once per epoch (with the epoch's monitored loss).

    "plateau": halve the lr after ``n_iter_no_change // 2`` epochs without improvement;
    "step": halve it every ``max_epochs // 4`` epochs; "exponential": times 0.97 per epoch;
    "constant": keep it.
    """
    kind = est.lr_schedule
    after = None
    if kind == "plateau":
        after = optim.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, est.n_iter_no_change // 2)
        )
    elif kind == "step":
        after = optim.StepLR(optimizer, step_size=max(1, est.max_epochs // 4), gamma=0.5)
    elif kind == "exponential":
        after = optim.ExponentialLR(optimizer, gamma=0.97)
    return optim.WarmupLR(optimizer, est.warmup_epochs, after=after)


class EpochSnapshot:
    """Parameters and optimizer state at the start of an epoch, to go back to when the epoch
    is interrupted (KeyboardInterrupt): training then ends on the last complete epoch."""

    def __init__(self, modules, optimizer):
        self.modules = modules
        self.params = [m.params.copy() for m in modules]
        self.optimizer = optimizer
        self.state = optimizer.state_dict()

    def restore(self):
        for m, p in zip(self.modules, self.params):
            m.params[...] = p
            _packcache.changed(m.params)
        self.optimizer.load_state_dict(self.state)


def warn_if_not_learning(est):
    """ConvergenceWarning when the loss of a fit never left its starting value, or ended far
    above its best (divergence); both say what to try."""
    curve = est.loss_curve_
    name = type(est).__name__
    if len(curve) >= 5 and curve[0] > 0 and min(curve) >= curve[0] * (1 - STALLED):
        warnings.warn(
            f"{name}: the training loss stalled at its starting value ({curve[0]:.4g}) for "
            f"{len(curve)} epochs; the model has not learned. Try scaling X "
            "(pyrnn.preprocessing.SequenceScaler), a different learning_rate, "
            "lr_schedule='plateau' or more max_epochs.",
            ConvergenceWarning,
            stacklevel=4,
        )
    elif (
        len(curve) >= 2
        and np.isfinite(curve[-1])
        and curve[-1] > 2 * min(curve)
        and curve[-1] > curve[0]
    ):
        warnings.warn(
            f"{name}: the training loss diverged (best {min(curve):.4g}, last "
            f"{curve[-1]:.4g}); the parameters of the best epoch were kept. Try a lower "
            "learning_rate, clip_norm or lr_schedule='plateau'.",
            ConvergenceWarning,
            stacklevel=4,
        )
