"""Dense output heads with backward; softmax/sigmoid live in the losses.

A head maps a network's outputs to predictions: ``Linear`` for the last step of each
sequence ``(B, H) -> (B, C)`` or for every step ``(T, B, H) -> (T, B, C)``. Like the
networks, its parameters live in one flat buffer ``params`` with named views, and
``grad`` has the same layout, so optimizers and clipping treat it the same way.
"""
import numpy as np

from .init import as_generator

__all__ = ["Linear", "softmax", "sigmoid"]


class Linear:
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
    grad : same shape as params, accumulated by ``backward``.
    """

    def __init__(self, in_features, out_features, dtype=np.float32, random_state=None, *,
                 bias=True):
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.dtype = np.dtype(dtype.name)
        self.has_bias = bool(bias)
        n = self.out_features * self.in_features + (self.out_features if bias else 0)
        self.params = np.zeros(n, dtype)
        self.grad = np.zeros(n, dtype)
        self._make_views()
        bound = 1.0 / np.sqrt(self.in_features)
        rng = as_generator(random_state)
        self.params[...] = rng.uniform(-bound, bound, size=n)
        self._x = None

    def _make_views(self):
        nw = self.out_features * self.in_features
        shape = (self.out_features, self.in_features)
        self.weight = self.params[:nw].reshape(shape)
        self.dweight = self.grad[:nw].reshape(shape)
        self.bias = self.params[nw:] if self.has_bias else None
        self.dbias = self.grad[nw:] if self.has_bias else None

    def __getstate__(self):
        state = self.__dict__.copy()
        for k in ("weight", "dweight", "bias", "dbias", "_x"):
            state.pop(k)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.dtype = np.dtype(self.dtype.name)  # canonical dtype object after unpickling
        self.params = self.params.view(self.dtype)
        self.grad = self.grad.view(self.dtype)
        self._make_views()
        self._x = None

    def named_parameters(self):
        """dict name -> view into ``params``: ``weight`` (out, in) and ``bias`` (out,)."""
        d = {"weight": self.weight}
        if self.has_bias:
            d["bias"] = self.bias
        return d

    def forward(self, x, training=True):
        """x (..., in_features) -> y (..., out_features). Keeps x for backward when training."""
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"x must be an array of real numbers, got dtype {x.dtype}")
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., {self.in_features}), got {x.shape}")
        x = x.astype(self.dtype, copy=False)
        y = x @ self.weight.T
        if self.has_bias:
            y += self.bias
        self._x = x if training else None
        return y

    def backward(self, dy):
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

    def zero_grad(self):
        """Set every gradient to zero."""
        self.grad[...] = 0

    def state_dict(self):
        """dict name -> copy of the parameter (PyTorch's ``nn.Linear`` names)."""
        return {k: v.copy() for k, v in self.named_parameters().items()}

    def load_state_dict(self, state_dict):
        """Copy parameters in; unknown or missing names and wrong shapes raise ValueError."""
        _load_into(self.named_parameters(), state_dict)


def softmax(logits, axis=-1):
    """Probabilities from raw scores along ``axis`` (stable: the max is subtracted first).

    logits (..., C) -> probabilities (..., C) summing to 1, same dtype. Pairs with
    ``losses.softmax_cross_entropy`` for ``predict_proba``.
    """
    logits = np.asarray(logits)
    if logits.dtype.kind != "f":
        logits = logits.astype(np.float64)
    e = np.exp(logits - np.max(logits, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def sigmoid(logits):
    """Elementwise logistic function 1 / (1 + exp(-x)), computed without overflow; pairs with
    ``losses.binary_cross_entropy``. Same shape and (float) dtype as ``logits``."""
    x = np.asarray(logits)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _load_into(views, state_dict):
    """Copy state_dict's arrays into the named views, after checking names and shapes."""
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"state_dict must be a mapping name -> array, got {type(state_dict).__name__}")
    unknown = sorted(set(state_dict) - set(views))
    missing = [k for k in views if k not in state_dict]
    if unknown or missing:
        raise ValueError(f"state_dict does not match: unknown names {unknown}, missing names "
                         f"{missing}; expected {list(views)}")
    arrays = {}
    for name, view in views.items():
        a = np.asarray(state_dict[name])
        if a.shape != view.shape:
            raise ValueError(f"{name}: expected shape {view.shape}, got {a.shape}")
        if a.dtype.kind not in "fiu":
            raise TypeError(f"{name}: expected real numbers, got dtype {a.dtype}")
        arrays[name] = a
    for name, view in views.items():  # only write once everything is validated
        view[...] = arrays[name]
