"""Forecasting a series ``horizon`` steps ahead with a sequence regressor.

:class:`RNNForecaster` turns one series into training windows and fits a regressor that
reads sequences (an :class:`~pyrnn.RNNRegressor` by default) on them:

* the input of a window ending at step t is the ``window`` steps ``t-window+1 .. t``; step s
  carries ``y[s]`` and, when exogenous features ``X`` are given (known in advance, e.g.
  calendar effects or planned prices), the exogenous values of the steps it forecasts:
  ``X[s+1 .. s+horizon]`` (direct) or ``X[s+1]`` (recursive). At the last step these are the
  future values the caller passes to ``predict``.
* ``strategy="direct"``: one model, ``horizon`` outputs ``y[t+1 .. t+horizon]``;
  ``strategy="recursive"``: one one-step model, applied ``horizon`` times, each forecast
  fed back as the next input.
* prediction intervals by residual bootstrap (``interval="bootstrap"``): direct adds the
  empirical quantiles of each horizon's in-sample residuals; recursive simulates ``n_paths``
  future paths, each step's forecast plus a resampled one-step residual, and takes quantiles
  over the paths. In-sample residuals are optimistic for a model that overfits: with
  ``calibration=f`` they come instead from the last fraction f of the training windows,
  forecast by a model fitted on the windows before them (split conformal), and the model is
  then refitted on all windows.
* or by quantile regression (``interval="quantile"``, direct strategy): the regressor learns
  the ``quantiles`` levels of every horizon as extra outputs trained with the pinball loss
  (``RNNRegressor(quantiles=...)``), sorted so that they never cross.

Shapes: ``y`` (n_steps,), ``X`` (n_steps, n_exog); ``predict`` returns (horizon,).
"""

from __future__ import annotations

from typing import Any, Sequence

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

__all__ = ["RNNForecaster", "make_windows"]


def make_windows(
    y: NDArray[np.floating],
    X: NDArray[np.floating] | None,
    window: int,
    horizon: int,
    strategy: str,
) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Training windows of a series.

    y (n,) floats; X (n, n_exog) or None. Returns (inputs (m, window, F), targets (m, k)),
    k = horizon (direct) or 1 (recursive), m = n - window - k + 1 windows (origins t =
    window-1 .. n-k-1); F = 1 + n_exog * k.
    """
    n = len(y)
    k = horizon if strategy == "direct" else 1
    origins = np.arange(window - 1, n - k)
    inputs = window_inputs(y, X, origins, window, horizon, strategy)
    targets = y[origins[:, None] + 1 + np.arange(k)[None, :]]
    return inputs, targets


def window_inputs(y, X, origins, window, horizon, strategy):
    """Inputs (len(origins), window, F) of the windows ending at ``origins``; X must extend
    ``horizon`` (direct) or 1 (recursive) steps past the last origin."""
    steps = origins[:, None] - window + 1 + np.arange(window)[None, :]  # (m, window)
    parts = [y[steps][:, :, None]]
    if X is not None:
        ahead = horizon if strategy == "direct" else 1
        for j in range(1, ahead + 1):
            parts.append(X[steps + j])
    return np.concatenate(parts, axis=2)


def _positive_int(name, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
        raise ValueError(f"RNNForecaster: {name} must be an int >= 1, got {v!r}")
    return int(v)


class RNNForecaster(BaseEstimator):
    """Multi-step forecasts of a series, with exogenous inputs and prediction intervals.

    Parameters
    ----------
    horizon : int, default=1
        Steps forecast by ``predict``.
    window : int, default=24
        Past steps each forecast reads.
    strategy : {"direct", "recursive"}, default="direct"
        "direct": one model with ``horizon`` outputs; "recursive": a one-step model fed its
        own forecasts.
    regressor : estimator or None, default=None
        A regressor taking 3-D inputs (n, window, F) and 2-D targets; cloned in ``fit``.
        None: ``RNNRegressor(random_state=random_state)``.
    n_paths : int, default=500
        Simulated paths for the recursive strategy's bootstrap intervals.
    interval : {"bootstrap", "quantile"}, default="bootstrap"
        How ``predict_interval`` works: residual bootstrap, or quantile outputs trained with
        the pinball loss (direct strategy; the regressor must take a ``quantiles``
        parameter, as :class:`~pyrnn.RNNRegressor` does).
    quantiles : sequence of levels in (0, 1), default=(0.05, 0.95)
        The levels ``interval="quantile"`` learns; ``predict_interval(coverage=c)`` needs
        the levels (1 - c) / 2 and (1 + c) / 2 among them (the default: c = 0.9).
    random_state : int, RandomState or None, default=None
        Seeds the default regressor and the bootstrap.
    calibration : float in (0, 0.5] or None, default=None
        Bootstrap intervals only. None: the residuals are those of the training windows
        themselves (in-sample; too narrow when the model overfits). A fraction f: the last
        f of the training windows (in time order) are forecast by a model fitted on the
        earlier ones, their residuals are the bootstrap's, and the final model is fitted on
        all windows (fit costs about twice as much).

    Attributes
    ----------
    regressor_ : the fitted regressor.
    residuals_ : ndarray (m, k): residuals of the training windows (k = horizon for direct,
        1 for recursive): in-sample, or of the held-out last windows with ``calibration``.
    y_ : ndarray (n_steps,), X_ : (n_steps, n_exog) or None: the training series, the
        default history ``predict`` forecasts from.
    n_exog_ : int, exogenous features per step (0 without X).
    """

    def __init__(
        self,
        horizon: int = 1,
        window: int = 24,
        strategy: str = "direct",
        regressor: Any = None,
        n_paths: int = 500,
        random_state: int | np.random.RandomState | None = None,
        interval: str = "bootstrap",
        quantiles: Sequence[float] = (0.05, 0.95),
        calibration: float | None = None,
    ) -> None:
        self.horizon = horizon
        self.window = window
        self.strategy = strategy
        self.regressor = regressor
        self.n_paths = n_paths
        self.random_state = random_state
        self.interval = interval
        self.quantiles = quantiles
        self.calibration = calibration

    # ------------------------------------------------------------ input checks

    def _check_params(self):
        _positive_int("horizon", self.horizon)
        _positive_int("window", self.window)
        _positive_int("n_paths", self.n_paths)
        if self.strategy not in ("direct", "recursive"):
            raise ValueError(
                f"RNNForecaster: strategy must be 'direct' or 'recursive', got {self.strategy!r}"
            )
        if self.interval not in ("bootstrap", "quantile"):
            raise ValueError(
                f"RNNForecaster: interval must be 'bootstrap' or 'quantile', got {self.interval!r}"
            )
        if self.calibration is not None:
            c = self.calibration
            if (
                isinstance(c, bool)
                or not isinstance(c, (int, float, np.floating))
                or not 0 < c <= 0.5
            ):
                raise ValueError(
                    f"RNNForecaster: calibration must be None or a fraction in (0, 0.5], got {c!r}"
                )
            if self.interval != "bootstrap":
                raise ValueError(
                    "RNNForecaster: calibration applies to interval='bootstrap' (quantile "
                    "intervals are learned, not taken from residuals)"
                )
        if self.interval == "quantile" and self.strategy != "direct":
            raise ValueError(
                "RNNForecaster: interval='quantile' needs strategy='direct' (quantiles of a "
                "one-step model do not carry over to later steps); use interval='bootstrap'"
            )

    def _new_regressor(self):
        """The regressor to fit: a clone of ``regressor`` (default RNNRegressor), given the
        ``quantiles`` levels when ``interval="quantile"``."""
        if self.regressor is None:
            from .estimators import RNNRegressor

            reg = RNNRegressor(random_state=self.random_state)
        else:
            reg = clone(self.regressor)
        if self.interval == "quantile":
            if "quantiles" not in reg.get_params():
                raise ValueError(
                    "RNNForecaster: interval='quantile' needs a regressor with a 'quantiles' "
                    f"parameter (e.g. RNNRegressor), got {type(reg).__name__}"
                )
            reg.set_params(quantiles=tuple(self.quantiles))
        return reg

    @staticmethod
    def _series(y, name="y"):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"{name} must be one series of shape (n_steps,), got shape {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} contains NaN or infinity; fill the gaps first")
        return y

    def _exog(self, X, n, name, required):
        if X is None:
            if required:
                raise ValueError(
                    f"RNNForecaster was fitted with exogenous features X; pass "
                    f"{name} of shape ({n}, {self.n_exog_})"
                )
            return None
        if not required:
            raise ValueError(
                f"RNNForecaster was fitted without exogenous features; {name} must be None"
            )
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape != (n, self.n_exog_):
            raise ValueError(f"{name} must have shape ({n}, {self.n_exog_}), got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError(f"{name} contains NaN or infinity")
        return X

    # ------------------------------------------------------------ fit

    def fit(self, y: ArrayLike, X: ArrayLike | None = None) -> RNNForecaster:
        """Fit on the series y (n_steps,) with exogenous X (n_steps, n_exog) or None.

        Needs n_steps >= window + horizon (direct) or window + 1 (recursive): at least one
        training window."""
        self._check_params()
        y = self._series(y)
        self.n_exog_ = 0
        if X is not None:
            self.n_exog_ = np.asarray(X).reshape(len(np.asarray(X)), -1).shape[1]
        X = self._exog(X, len(y), "X", self.n_exog_ > 0)
        need = self.window + (self.horizon if self.strategy == "direct" else 1)
        if len(y) < need:
            raise ValueError(
                f"y has {len(y)} steps; window={self.window}, horizon="
                f"{self.horizon} and strategy={self.strategy!r} need at least {need}"
            )
        inputs, targets = make_windows(y, X, self.window, self.horizon, self.strategy)
        if self.calibration is not None:
            n_cal = int(round(self.calibration * len(inputs)))
            if n_cal < 1 or len(inputs) - n_cal < 1:
                raise ValueError(
                    f"calibration={self.calibration} of {len(inputs)} training windows leaves "
                    "no window to fit or none to calibrate on; use a longer series or None"
                )
            # Windows overlapping the held-out ones (their targets reach into them) are left
            # out of the calibration fit too, so no held-out value is seen before it is forecast.
            gap = self.horizon if self.strategy == "direct" else 1
            n_fit = len(inputs) - n_cal - (gap - 1)
            if n_fit < 1:
                raise ValueError(
                    f"calibration={self.calibration}: too few training windows before the "
                    "held-out ones; use a longer series or None"
                )
            probe = self._new_regressor().fit(inputs[:n_fit], targets[:n_fit])
            held = np.asarray(probe.predict(inputs[-n_cal:])).reshape(targets[-n_cal:].shape)
            residuals = targets[-n_cal:] - held
        self.regressor_ = self._new_regressor()
        self.regressor_.fit(inputs, targets)
        if self.calibration is None:
            fitted = np.asarray(self.regressor_.predict(inputs)).reshape(targets.shape)
            residuals = targets - fitted
        self.residuals_ = residuals
        self.y_, self.X_ = y, X
        return self

    # ------------------------------------------------------------ predict

    def _history(self, y_history, X_history, X_future):
        """(y, X with the future rows appended, origin index) for a forecast."""
        y = self.y_ if y_history is None else self._series(y_history, "y_history")
        if len(y) < self.window:
            raise ValueError(f"y_history needs at least window={self.window} steps, got {len(y)}")
        X = None
        if self.n_exog_:
            past = (
                self.X_
                if X_history is None and y_history is None
                else self._exog(X_history, len(y), "X_history", True)
            )
            future = self._exog(X_future, self.horizon, "X_future", True)
            X = np.concatenate([past, future])
        else:
            self._exog(X_future, self.horizon, "X_future", False)
        return y, X

    def _one(self, inputs):
        return np.asarray(self.regressor_.predict(inputs), dtype=np.float64).reshape(
            len(inputs), -1
        )

    def _recursive_paths(self, y, X, noise):
        """Forecast paths (P, horizon) fed back one step at a time; noise (P, horizon) added."""
        P = noise.shape[0]
        ys = np.tile(y[-self.window :], (P, 1))  # (P, window + steps so far)
        n0 = len(y) - self.window  # index in X of ys[:, 0]
        for j in range(self.horizon):
            steps = np.arange(j, j + self.window)
            parts = [ys[:, steps][:, :, None]]
            if X is not None:
                parts.append(np.broadcast_to(X[n0 + steps + 1], (P, self.window, self.n_exog_)))
            nxt = self._one(np.concatenate(parts, axis=2))[:, 0] + noise[:, j]
            ys = np.concatenate([ys, nxt[:, None]], axis=1)
        return ys[:, self.window :]

    def predict(
        self,
        X_future: ArrayLike | None = None,
        *,
        y_history: ArrayLike | None = None,
        X_history: ArrayLike | None = None,
    ) -> NDArray[np.float64]:
        """Forecasts of the ``horizon`` steps after the history.

        X_future : (horizon, n_exog) exogenous values of the forecast steps (when fitted
            with X). y_history : (n,) series to forecast from (default: the training series),
            with its X_history (n, n_exog). Returns (horizon,).
        """
        check_is_fitted(self, "regressor_")
        y, X = self._history(y_history, X_history, X_future)
        if self.strategy == "direct":
            origin = np.array([len(y) - 1])
            return self._one(window_inputs(y, X, origin, self.window, self.horizon, "direct"))[0]
        return self._recursive_paths(y, X, np.zeros((1, self.horizon)))[0]

    def _quantile_interval(
        self,
        q: list[float],
        X_future: ArrayLike | None,
        y_history: ArrayLike | None,
        X_history: ArrayLike | None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(lower, upper) from the learned quantile outputs at the levels q."""
        levels = self.regressor_.quantiles_
        cols = [np.flatnonzero(np.isclose(levels, v)) for v in q]
        if any(len(c) == 0 for c in cols):
            raise ValueError(
                f"RNNForecaster was fitted with quantiles={tuple(levels)}; a coverage of "
                f"{q[1] - q[0]:.4g} needs the levels {q[0]:.4g} and {q[1]:.4g}: add them to "
                "quantiles (or pass the coverage they give)"
            )
        y, X = self._history(y_history, X_history, X_future)
        inputs = window_inputs(y, X, np.array([len(y) - 1]), self.window, self.horizon, "direct")
        quant = np.asarray(self.regressor_.predict_quantiles(inputs)).reshape(
            self.horizon, len(levels)
        )
        return quant[:, cols[0][0]], quant[:, cols[1][0]]

    def predict_interval(
        self,
        X_future: ArrayLike | None = None,
        *,
        coverage: float = 0.9,
        y_history: ArrayLike | None = None,
        X_history: ArrayLike | None = None,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Prediction intervals: (lower, upper), each (horizon,), meant to hold the future
        value with probability ``coverage``; by residual bootstrap or from the learned
        quantiles (``interval``)."""
        check_is_fitted(self, "regressor_")
        if not 0 < coverage < 1:
            raise ValueError(f"coverage must be in (0, 1), got {coverage!r}")
        q = [(1 - coverage) / 2, (1 + coverage) / 2]
        if self.interval == "quantile":
            return self._quantile_interval(q, X_future, y_history, X_history)
        if self.strategy == "direct":
            point = self.predict(X_future, y_history=y_history, X_history=X_history)
            lo, hi = np.quantile(self.residuals_, q, axis=0)
            return point + lo, point + hi
        y, X = self._history(y_history, X_history, X_future)
        rng = check_random_state(self.random_state)
        noise = rng.choice(self.residuals_[:, 0], size=(self.n_paths, self.horizon))
        paths = self._recursive_paths(y, X, noise)
        lo, hi = np.quantile(paths, q, axis=0)
        return lo, hi
