"""The layers around a recurrent network: ``Linear`` heads out, ``Embedding`` lookups in.

A head maps a network's outputs to predictions: ``Linear`` for the last step of each
sequence ``(B, H) -> (B, C)`` or for every step ``(T, B, H) -> (T, B, C)``. An ``Embedding``
maps token ids to the vectors a network reads. Like the networks, both follow the parameter
protocol of :mod:`pyrnn.parameters`: one flat buffer ``params`` with named views, and
``grad`` with the same layout, so optimizers and clipping treat every piece the same way.
``softmax`` and ``sigmoid`` (from :mod:`pyrnn.functional`) turn scores into probabilities.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .functional import sigmoid, softmax
from .init import RandomStateLike, as_generator
from .parameters import Parameters, positive_int

__all__ = ["Linear", "Embedding", "softmax", "sigmoid"]


class Linear(Parameters):
    """Affine map ``y = x @ weight.T + bias`` over the last axis.

    Parameters
    ----------
    in_features, out_features : int
    dtype : np.float32 or np.float64
    random_state : None, int, Generator or RandomState
        Seeds PyTorch's default initialization, U(-1/sqrt(in), 1/sqrt(in)) for both
        weight and bias.
    bias : bool, keyword-only
        Whether to add a bias.

    Attributes
    ----------
    params : (out*in [+ out],) flat parameter buffer; ``weight`` (out, in) and ``bias`` (out,)
        are views into it.
    grad : same shape as params, accumulated by ``backward``; ``dweight``, ``dbias`` views.
    """

    _transient = ("_x",)
    _derived = Parameters._derived + ("weight", "dweight", "bias", "dbias")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        dtype: DTypeLike = np.float32,
        random_state: RandomStateLike = None,
        *,
        bias: bool = True,
    ):
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.has_bias = bool(bias)
        self._allocate(dtype)
        bound = 1.0 / np.sqrt(self.in_features)
        self.params[...] = as_generator(random_state).uniform(-bound, bound, size=self.params.size)
        self._x = None

    def _layout(self):
        shapes = [("weight", (self.out_features, self.in_features))]
        return shapes + [("bias", (self.out_features,))] if self.has_bias else shapes

    def _make_views(self):
        super()._make_views()
        self.weight, self.dweight = self._param_views["weight"], self._grad_views["weight"]
        self.bias, self.dbias = self._param_views.get("bias"), self._grad_views.get("bias")

    def forward(
        self, x: ArrayLike, training: bool = True, dtype: Optional[DTypeLike] = None
    ) -> np.ndarray:
        """x (..., in_features) -> y (..., out_features). Keeps x for backward when training.

        ``dtype`` computes in another precision without touching the parameters, e.g.
        ``np.float64`` for the predictions of a float32 model (inference only).
        """
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"x must be an array of real numbers, got dtype {x.dtype}")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., {self.in_features}), got {x.shape}")
        if dtype is not None and np.dtype(dtype) != self.dtype:
            if training:
                raise ValueError("forward in another dtype is for inference: training=False")
            dtype = np.dtype(dtype)
            y = x.astype(dtype, copy=False) @ self.weight.T.astype(dtype)
            return y + self.bias.astype(dtype) if self.has_bias else y
        x = x.astype(self.dtype, copy=False)
        y = x @ self.weight.T
        if self.has_bias:
            y += self.bias
        self._x = x if training else None
        return y

    def backward(self, dy: ArrayLike) -> np.ndarray:
        """dy (..., out_features) -> dx (..., in_features); adds dL/dweight, dL/dbias to grad."""
        if self._x is None:
            raise ValueError("backward needs a preceding forward(x, training=True)")
        dy = np.asarray(dy, dtype=self.dtype)
        expected = self._x.shape[:-1] + (self.out_features,)
        if dy.shape != expected:
            raise ValueError(f"dy must have shape {expected}, got {dy.shape}")
        dy2 = dy.reshape(-1, self.out_features)
        x2 = self._x.reshape(-1, self.in_features)
        self.dweight += dy2.T @ x2
        if self.has_bias:
            self.dbias += dy2.sum(axis=0)
        return dy @ self.weight


class Embedding(Parameters):
    """Lookup table ``weight (V, E)`` mapping token ids to vectors, with backward.

    Row 0 is the unknown token: it starts at zero and never receives a gradient, so a token
    never seen in training contributes a neutral zero input. The other rows start N(0, 1) as
    in ``torch.nn.Embedding``.

    Parameters
    ----------
    num_embeddings : int
        Vocabulary size V (ids 0 .. V-1).
    embedding_dim : int
        Vector size E.
    dtype : np.float32 or np.float64
    random_state : None, int, Generator or RandomState
    """

    _transient = ("_ids",)
    _derived = Parameters._derived + ("weight", "dweight")

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        dtype: DTypeLike = np.float32,
        random_state: RandomStateLike = None,
    ):
        self.num_embeddings = positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self._allocate(dtype)
        self.params[...] = as_generator(random_state).standard_normal(self.params.size)
        self.weight[0] = 0
        self._ids = None

    def _layout(self):
        return [("weight", (self.num_embeddings, self.embedding_dim))]

    def _make_views(self):
        super()._make_views()
        self.weight, self.dweight = self._param_views["weight"], self._grad_views["weight"]

    def forward(self, ids: ArrayLike, training: bool = True) -> np.ndarray:
        """ids int (...) in [0, V) -> vectors (..., E); keeps ids for backward when training."""
        ids = np.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(
                f"ids must be in [0, {self.num_embeddings}), got min {ids.min()} "
                f"and max {ids.max()}"
            )
        self._ids = ids if training else None
        return self.weight[ids]

    def backward(self, dx: np.ndarray) -> None:
        """dx (..., E) -> adds dL/dweight into grad (row 0 excluded)."""
        if self._ids is None:
            raise ValueError("backward needs a preceding forward(ids, training=True)")
        np.add.at(self.dweight, self._ids.ravel(), dx.reshape(-1, self.embedding_dim))
        self.dweight[0] = 0
        self._ids = None
