"""Initializers for recurrent networks, applied in place to a network's parameters.

Each function takes a network (anything with ``named_parameters()`` returning PyTorch-named
views ``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse``)
and writes into those views, so the flat parameter buffer is updated. Weights are treated
gate by gate: ``weight_ih (G*H, I)`` is G blocks of ``(H, I)``, ``weight_hh (G*H, H)`` is
G square blocks ``(H, H)`` (gate order LSTM i, f, g, o; GRU r, z, n).

Typical recipes::

    init.xavier_uniform(net, rs); init.orthogonal(net, rs); init.forget_bias(net, 1.0)  # LSTM
    init.identity(net)                                                                  # IRNN
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Union

import numpy as np

if TYPE_CHECKING:
    from .parameters import Parameters

# What every ``random_state`` argument takes.
RandomStateLike = Union[None, int, np.integer, np.random.Generator, np.random.RandomState]

__all__ = [
    "RandomStateLike",
    "as_generator",
    "uniform_default",
    "xavier_uniform",
    "orthogonal",
    "identity",
    "forget_bias",
]


def as_generator(random_state: RandomStateLike = None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from None, an int seed, a Generator or a RandomState.

    A ``RandomState`` (scikit-learn's convention) is consumed by drawing one seed from it,
    so the result is still deterministic given the RandomState's state.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, (int, np.integer)):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, got {random_state}")
        return np.random.default_rng(random_state)
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState, "
        f"got {type(random_state).__name__}"
    )


def _changes_weights(init):
    """Tell the network afterwards that its weights changed (it drops its packed weights)."""

    @functools.wraps(init)
    def wrapper(net, *args, **kwargs):
        out = init(net, *args, **kwargs)
        if hasattr(net, "weights_changed"):
            net.weights_changed()
        return out

    return wrapper


def _recurrent_params(net):
    """[(name, view)] of the network's parameters, validated to be recurrent-layer names."""
    items = list(net.named_parameters().items())
    for name, _ in items:
        if not name.startswith(("weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l")):
            raise ValueError(
                f"unexpected parameter name {name!r}: expected a recurrent "
                "network with PyTorch parameter names"
            )
    return items


def _gates_and_hidden(name, view, net):
    """(G, H) for a weight or bias view, from the network's hidden_size."""
    H = int(net.hidden_size)
    rows = view.shape[0]
    if rows % H != 0:
        raise ValueError(f"{name} has {rows} rows, not a multiple of hidden_size {H}")
    return rows // H, H


@_changes_weights
def uniform_default(net: Parameters, random_state: RandomStateLike = None) -> None:
    """PyTorch's default: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)).

    Parameters
    ----------
    net : network with ``named_parameters()`` and ``hidden_size``.
    random_state : None, int, Generator or RandomState.
    """
    rng = as_generator(random_state)
    bound = 1.0 / np.sqrt(net.hidden_size)
    for _, view in _recurrent_params(net):
        view[...] = rng.uniform(-bound, bound, size=view.shape)


@_changes_weights
def xavier_uniform(
    net: Parameters, random_state: RandomStateLike = None, gain: float = 1.0
) -> None:
    """Glorot/Xavier uniform for every gate block of the weights; biases set to zero.

    Each ``(H, F)`` gate block is drawn from U(-a, a) with ``a = gain * sqrt(6 / (F + H))``
    (fan-in F = input or hidden size, fan-out H: the gate's own fans, rather than treating
    the stacked ``(G*H, F)`` matrix as one layer).
    """
    rng = as_generator(random_state)
    for name, view in _recurrent_params(net):
        if name.startswith("bias"):
            view[...] = 0
            continue
        G, H = _gates_and_hidden(name, view, net)
        fan_in = view.shape[1]
        bound = gain * np.sqrt(6.0 / (fan_in + H))
        view[...] = rng.uniform(-bound, bound, size=view.shape)


def _random_orthogonal(rng, n):
    """A Haar-distributed random orthogonal (n, n) matrix (QR with sign correction)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


@_changes_weights
def orthogonal(net: Parameters, random_state: RandomStateLike = None, gain: float = 1.0) -> None:
    """Orthogonal recurrent weights: each ``(H, H)`` gate block of ``weight_hh`` is a random
    orthogonal matrix times ``gain``. Input weights and biases are left as they are."""
    rng = as_generator(random_state)
    for name, view in _recurrent_params(net):
        if not name.startswith("weight_hh"):
            continue
        G, H = _gates_and_hidden(name, view, net)
        for g in range(G):
            view[g * H : (g + 1) * H] = gain * _random_orthogonal(rng, H)


@_changes_weights
def identity(net: Parameters, scale: float = 1.0) -> None:
    """IRNN initialization (Le, Jaitly & Hinton, 2015): each gate block of ``weight_hh`` is
    ``scale * I`` and all biases are zero. Input weights are left as they are (the paper
    draws them from N(0, 0.001**2)). Meant for ``RNN(nonlinearity="relu")``."""
    for name, view in _recurrent_params(net):
        if name.startswith("bias"):
            view[...] = 0
        elif name.startswith("weight_hh"):
            G, H = _gates_and_hidden(name, view, net)
            view[...] = np.tile(scale * np.eye(H), (G, 1))


@_changes_weights
def forget_bias(net: Parameters, value: float = 1.0) -> None:
    """LSTM forget-gate bias: rows ``H:2H`` (gate f) of ``bias_ih`` set to ``value`` and of
    ``bias_hh`` to 0, so the effective forget bias is ``value`` (Jozefowicz et al., 2015)."""
    found = False
    for name, view in _recurrent_params(net):
        if not name.startswith("bias"):
            continue
        G, H = _gates_and_hidden(name, view, net)
        if G != 4:
            raise ValueError(
                f"forget_bias applies to LSTM networks (4 gates), but {name} has {G} gate(s)"
            )
        view[H : 2 * H] = value if name.startswith("bias_ih") else 0
        found = True
    if not found:
        raise ValueError("forget_bias needs a network with biases")
