"""A trainable 1-D convolution over time (+ ReLU, + max pooling) for long sequences.

Very long sequences are cheaper to read when they are first shortened: a few ``Conv1d``
layers with stride (and pooling) cut T by their total stride, then the recurrent network
reads the shorter sequence. Forward and backward run in C++ (``engine.conv1d_forward`` /
``conv1d_backward``: the project's GEMM, SIMD, OpenMP threads, bitwise identical results for
any thread count).

Like the networks and heads, parameters live in one flat buffer ``params`` with named views
in PyTorch's layout and order (``weight (C_out, C_in, K)``, ``bias (C_out,)``, as
``torch.nn.Conv1d``), and ``grad`` has the same layout.

Shapes: x (T, B, C_in) time-major, or (B, T, C_in) with ``batch_first``; lengths (B,) or
None; y (T_out, B, C_out) (batch_first: (B, T_out, C_out)), T_out = ``output_length(T)``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import engine
from .init import RandomStateLike, as_generator
from .parameters import Parameters

__all__ = ["Conv1d"]


def _int_at_least(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
    return int(v)


class Conv1d(Parameters):
    """``torch.nn.Conv1d`` (+ ``ReLU``) (+ ``MaxPool1d(pool)``) over time.

    Parameters
    ----------
    in_channels, out_channels, kernel_size : int >= 1
    stride : int >= 1
    dilation : int >= 1, keyword-only
    padding : int >= 0, keyword-only; zeros on both sides of each sequence
    pool : int >= 1, keyword-only; max pooling over windows of ``pool`` steps (stride
        ``pool``, floor mode); 1 = none
    relu : bool, keyword-only; ReLU after the convolution (before the pooling)
    bias : bool, keyword-only
    batch_first : bool, keyword-only; x is (B, T, C_in) instead of (T, B, C_in)
    dtype : np.float32 or np.float64
    random_state : None, int, Generator or RandomState; PyTorch's default initialization,
        U(-1/sqrt(C_in*K), 1/sqrt(C_in*K)) for weight and bias.

    Attributes
    ----------
    params : flat buffer; ``weight`` (C_out, C_in, K) and ``bias`` (C_out,) are views.
    grad : same layout, accumulated by ``backward``.
    """

    _transient = ("_ws",)
    _derived = Parameters._derived + ("weight", "dweight", "bias", "dbias")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        *,
        dilation: int = 1,
        padding: int = 0,
        pool: int = 1,
        relu: bool = True,
        bias: bool = True,
        batch_first: bool = False,
        dtype: DTypeLike = np.float32,
        random_state: RandomStateLike = None,
    ) -> None:
        self.in_channels = _int_at_least("in_channels", in_channels, 1)
        self.out_channels = _int_at_least("out_channels", out_channels, 1)
        self.kernel_size = _int_at_least("kernel_size", kernel_size, 1)
        self.stride = _int_at_least("stride", stride, 1)
        self.dilation = _int_at_least("dilation", dilation, 1)
        self.padding = _int_at_least("padding", padding, 0)
        self.pool = _int_at_least("pool", pool, 1)
        self.relu = bool(relu)
        self.has_bias = bool(bias)
        self.batch_first = bool(batch_first)
        self._allocate(dtype)
        bound = 1.0 / np.sqrt(self.in_channels * self.kernel_size)
        self.params[...] = as_generator(random_state).uniform(-bound, bound, size=self.params.size)
        self._ws = None

    def _layout(self):
        shapes = [("weight", (self.out_channels, self.in_channels, self.kernel_size))]
        return shapes + [("bias", (self.out_channels,))] if self.has_bias else shapes

    def _make_views(self):
        super()._make_views()
        self.weight, self.dweight = self._param_views["weight"], self._grad_views["weight"]
        self.bias = self._param_views.get("bias")
        self.dbias = self._grad_views.get("bias")

    # ------------------------------------------------------------------ shapes

    @property
    def total_stride(self) -> int:
        """Steps of input per step of output: stride * pool."""
        return self.stride * self.pool

    def output_length(self, length: int | ArrayLike) -> int | NDArray[np.int64]:
        """Output steps for input sequences of ``length`` steps (int or int array); < 1 means
        the sequence is too short for this layer."""
        span = self.dilation * (self.kernel_size - 1) + 1
        conv = (np.asarray(length) + 2 * self.padding - span) // self.stride + 1
        out = np.maximum(conv, 0) // self.pool
        return int(out) if np.ndim(out) == 0 else out.astype(np.int64)

    # ------------------------------------------------------------------ forward / backward

    def forward(
        self, x: ArrayLike, lengths: ArrayLike | None = None, training: bool = True
    ) -> tuple[np.ndarray, NDArray[np.int64] | None]:
        """x (T, B, C_in) (batch_first: (B, T, C_in)) -> (y, out_lengths).

        y is (T_out, B, C_out) (batch_first: (B, T_out, C_out)), zeros past each sequence's
        output length; out_lengths (B,) int64, or None when ``lengths`` is None. Keeps what
        ``backward`` needs when training.
        """
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"x must be an array of real numbers, got dtype {x.dtype}")
        if x.ndim != 3 or x.shape[2] != self.in_channels:
            order = "(B, T, C_in)" if self.batch_first else "(T, B, C_in)"
            raise ValueError(
                f"x must have shape {order} with C_in = {self.in_channels}, got {x.shape}"
            )
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        x = np.ascontiguousarray(x, dtype=self.dtype)
        y, ws = engine.conv1d_forward(
            x,
            self.weight,
            self.bias,
            lengths=lengths,
            stride=self.stride,
            dilation=self.dilation,
            padding=self.padding,
            pool=self.pool,
            relu=self.relu,
            training=training,
        )
        self._ws = ws
        out_lengths = None if lengths is None else self.output_length(np.asarray(lengths))
        return (y.transpose(1, 0, 2) if self.batch_first else y), out_lengths

    def backward(self, dy: ArrayLike, input_grad: bool = True) -> Optional[np.ndarray]:
        """dy shaped like forward's y -> dx shaped like its x; adds to ``grad``. Once per
        training forward. ``input_grad=False``: returns None and skips computing dx (for an
        input that needs no gradient); ``grad`` is the same."""
        if self._ws is None:
            raise ValueError("backward needs a preceding forward(x, training=True), once")
        dy = np.asarray(dy, dtype=self.dtype)
        if self.batch_first and dy.ndim == 3:
            dy = dy.transpose(1, 0, 2)
        dx, dw, db = engine.conv1d_backward(self._ws, np.ascontiguousarray(dy), input_grad)
        self._ws = None
        self.dweight += dw
        if self.has_bias:
            self.dbias += db
        return dx.transpose(1, 0, 2) if self.batch_first and dx is not None else dx
