"""Readable numpy reference of a 1-D convolution over time (+ ReLU, + max pooling).

The oracle ``pyrnn.engine.conv1d_forward`` is checked against: loops over output steps,
time-major like the engine. x (T, B, C_in), weight (C_out, C_in, K) (PyTorch's layout),
bias (C_out,) or None. Each sequence b is its own signal of lengths[b] steps with zero
padding on both sides; its outputs past its own output length are zeros. Pooling takes the
maximum over windows of ``pool`` steps with stride ``pool`` (floor mode).
"""

import numpy as np


def conv_length(L, K, stride, dilation, padding):
    """Conv output steps for an input of L steps."""
    return (L + 2 * padding - dilation * (K - 1) - 1) // stride + 1


def conv1d(
    x, weight, bias=None, *, lengths=None, stride=1, dilation=1, padding=0, pool=1, relu=True
):
    """y (T_out, B, C_out) for x (T, B, C_in)."""
    T, B, _ = x.shape
    C_out, _, K = weight.shape
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    Tc = conv_length(T, K, stride, dilation, padding)
    z = np.zeros((Tc, B, C_out), x.dtype)
    for b in range(B):
        Lc = conv_length(lengths[b], K, stride, dilation, padding)
        for t in range(Lc):
            acc = np.zeros(C_out, x.dtype) if bias is None else bias.astype(x.dtype).copy()
            for k in range(K):
                pos = t * stride - padding + k * dilation
                if 0 <= pos < lengths[b]:
                    acc += weight[:, :, k] @ x[pos, b]
            z[t, b] = np.maximum(acc, 0) if relu else acc
    Tp = Tc // pool
    y = np.zeros((Tp, B, C_out), x.dtype)
    for b in range(B):
        Lp = conv_length(lengths[b], K, stride, dilation, padding) // pool
        for t in range(Lp):
            y[t, b] = z[t * pool : (t + 1) * pool, b].max(axis=0)
    return y
