"""Scaling of sequences, per channel over all steps, as a scikit-learn transformer.

scikit-learn's scalers take 2-D ``(n_samples, n_features)`` arrays and reject the 3-D
``(n_samples, T, n_channels)`` arrays and variable-length lists that sequence models read.
:class:`SequenceScaler` standardizes each channel with its mean and standard deviation over
every step of every sequence, takes the inputs the pyrnn estimators take, returns the same
kind of input it was given, and fits in a ``Pipeline`` in front of them::

    make_pipeline(SequenceScaler(), RNNClassifier())
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .estimators._data import FLOAT_DTYPES, _array3d, _numeric_kind, _ragged_sequences

__all__ = ["SequenceScaler"]

_LAYOUTS = ("NTC", "NCT")


class SequenceScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardize sequences per channel: ``(x - mean_[c]) / scale_[c]``.

    The statistics of channel c are taken over all steps of all sequences (not per time
    step, and not per sequence), so a sequence of any length is scaled the same way.

    Accepted ``X`` (the pyrnn estimators' inputs):

    * a 3-D array ``(n_samples, T, n_channels)``, or ``(n_samples, n_channels, T)`` with
      ``layout="NCT"``: every step counts, padding included (pass a list to leave padding out);
    * a list of sequences ``(L_i, n_channels)`` or ``(L_i,)`` of different lengths;
    * a 2-D array ``(n_samples, T)``: univariate sequences, one channel (its statistics are
      over all values; ``n_features_in_`` is T, as scikit-learn sees 2-D data).

    ``transform`` returns the same kind: an array of the same shape and float dtype, or a list
    of arrays shaped like the given sequences.

    Parameters
    ----------
    with_mean : bool, default=True
        Subtract each channel's mean.
    with_std : bool, default=True
        Divide by each channel's standard deviation (1 where it is 0).
    layout : {"NTC", "NCT"}, default="NTC"
        Axis order of 3-D arrays: (samples, time, channels) or (samples, channels, time).

    Attributes
    ----------
    mean_ : ndarray (n_channels,) or None (``with_mean=False``)
    var_ : ndarray (n_channels,) or None (``with_std=False``)
    scale_ : ndarray (n_channels,) or None (``with_std=False``)
    n_samples_seen_ : int, time steps the statistics were taken over
    n_channels_ : int
    n_features_in_ : int, channels (T for 2-D input)
    input_kind_ : "tabular" (2-D array), "array" (3-D) or "ragged" (list of sequences)
    """

    def __init__(
        self, *, with_mean: bool = True, with_std: bool = True, layout: str = "NTC"
    ) -> None:
        self.with_mean = with_mean
        self.with_std = with_std
        self.layout = layout

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ------------------------------------------------------------------ input

    def _steps(self, X, reset):
        """(steps (n_steps, C) view/copy, rebuild: steps -> the same kind of X)."""
        if self.layout not in _LAYOUTS:
            raise ValueError(f"layout must be 'NTC' or 'NCT', got {self.layout!r}")
        kind = _numeric_kind(X)
        fitted = None if reset else self.input_kind_
        if fitted is not None and (kind == "tabular") != (fitted == "tabular"):
            raise ValueError(
                f"SequenceScaler was fitted on {fitted} input, got {kind} input "
                "(a 2-D array is univariate sequences, one per row)"
            )
        if kind == "tabular":
            a = validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES)
            channels = 1
            steps = a.reshape(-1, 1)
            rebuild = lambda s: s.reshape(a.shape)  # noqa: E731
        elif kind == "array":
            a = _array3d(X)
            nct = self.layout == "NCT"
            channels = a.shape[1] if nct else a.shape[2]
            view = a.transpose(0, 2, 1) if nct else a
            steps = view.reshape(-1, channels)
            shape = view.shape
            rebuild = lambda s: (  # noqa: E731
                s.reshape(shape).transpose(0, 2, 1) if nct else s.reshape(shape)
            )
        else:
            dtype = np.result_type(*[np.asarray(x).dtype for x in X], np.float32)
            dtype = dtype if dtype in FLOAT_DTYPES else np.float64
            values, lengths = _ragged_sequences(X, dtype)
            channels = values.shape[2]
            steps = np.concatenate([v[:L] for v, L in zip(values, lengths)])
            bounds = np.cumsum(lengths)[:-1]
            flat = [np.ndim(x) == 1 for x in X]
            rebuild = lambda s: [  # noqa: E731
                p[:, 0] if f else p for p, f in zip(np.split(s, bounds), flat)
            ]
        if reset:
            self.input_kind_ = kind
            if kind != "tabular":
                self.n_features_in_ = channels
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
        elif channels != self.n_channels_:
            raise ValueError(
                f"X has {channels} channels, but SequenceScaler is expecting "
                f"{self.n_channels_} channels as input."
            )
        return steps, rebuild

    # ------------------------------------------------------------------ API

    def fit(self, X: ArrayLike, y: None = None) -> SequenceScaler:
        """Compute each channel's mean and standard deviation over all steps. Returns self."""
        steps, _ = self._steps(X, reset=True)
        s64 = steps.astype(np.float64)
        self.n_channels_ = steps.shape[1]
        self.n_samples_seen_ = int(steps.shape[0])
        self.mean_ = s64.mean(axis=0) if self.with_mean else None
        if self.with_std:
            self.var_ = s64.var(axis=0)
            scale = np.sqrt(self.var_)
            self.scale_ = np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)
        else:
            self.var_ = self.scale_ = None
        return self

    def transform(self, X: ArrayLike) -> np.ndarray | list[np.ndarray]:
        """X scaled, as the same kind of input (same shape, same float dtype)."""
        check_is_fitted(self, "n_channels_")
        steps, rebuild = self._steps(X, reset=False)
        out = steps.astype(steps.dtype, copy=True)
        if self.mean_ is not None:
            out -= self.mean_.astype(out.dtype)
        if self.scale_ is not None:
            out /= self.scale_.astype(out.dtype)
        return rebuild(out)

    def inverse_transform(self, X: ArrayLike) -> np.ndarray | list[np.ndarray]:
        """Undo :meth:`transform`: ``x * scale_ + mean_``, same kind of input."""
        check_is_fitted(self, "n_channels_")
        steps, rebuild = self._steps(X, reset=False)
        out = steps.astype(steps.dtype, copy=True)
        if self.scale_ is not None:
            out *= self.scale_.astype(out.dtype)
        if self.mean_ is not None:
            out += self.mean_.astype(out.dtype)
        return rebuild(out)
