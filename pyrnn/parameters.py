"""The parameter protocol of every trainable piece (networks, ``Linear``, ``Embedding``).

A piece keeps all its parameters in ONE flat buffer ``params`` and their gradients in a
buffer ``grad`` of the same layout; named views (PyTorch's names) look into both. So an
optimizer or gradient clipping sees one vector per piece, and a PyTorch ``state_dict`` maps
onto the views name by name.

A subclass says what it holds with ``_layout()`` (``[(name, shape)]`` in buffer order), calls
``_allocate(dtype)`` in its constructor, and lists in ``_transient`` the attributes that only
live between a forward and its backward (dropped when pickling).
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Tuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["Parameters", "float_dtype", "positive_int"]


def float_dtype(dtype: DTypeLike) -> np.dtype:
    """The canonical ``np.dtype`` for float32/float64; anything else raises TypeError."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return np.dtype(dtype.name)


def positive_int(name: str, value: object) -> int:
    """``value`` as an int >= 1; anything else (bools included) raises ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


class Parameters:
    """Base class: flat ``params``/``grad`` buffers with named views.

    Attributes
    ----------
    params : (n,) float buffer holding every parameter.
    grad : (n,) same layout; backward passes ADD into it (``zero_grad`` clears it).
    dtype : np.dtype, float32 or float64.
    """

    _transient = ()  # attributes reset to None on pickling (what a forward keeps for backward)
    _derived = ("_param_views", "_grad_views")  # rebuilt by _make_views, never pickled

    def _layout(self) -> List[Tuple[str, Tuple[int, ...]]]:
        """[(name, shape)] of the parameters, in buffer order."""
        raise NotImplementedError

    def _allocate(self, dtype):
        """Create zeroed ``params``/``grad`` for ``_layout()`` in ``dtype``, with their views."""
        self.dtype = float_dtype(dtype)
        n = sum(int(np.prod(shape)) for _, shape in self._layout())
        self.params = np.zeros(n, self.dtype)
        self.grad = np.zeros(n, self.dtype)
        self._make_views()

    def _make_views(self):
        """Named views into ``params`` and ``grad``; subclasses may add their own after this."""
        self._param_views, self._grad_views = {}, {}
        offset = 0
        for name, shape in self._layout():
            n = int(np.prod(shape))
            self._param_views[name] = self.params[offset : offset + n].reshape(shape)
            self._grad_views[name] = self.grad[offset : offset + n].reshape(shape)
            offset += n

    def named_parameters(self) -> Dict[str, np.ndarray]:
        """dict name -> view into ``params`` (writing into a view updates the buffer)."""
        return dict(self._param_views)

    def named_grads(self) -> Dict[str, np.ndarray]:
        """dict name -> view into ``grad`` (same names as ``named_parameters``)."""
        return dict(self._grad_views)

    def zero_grad(self) -> None:
        """Set every gradient to zero."""
        self.grad[...] = 0

    def state_dict(self) -> Dict[str, np.ndarray]:
        """dict name -> copy of each parameter (PyTorch's names and shapes)."""
        return {k: v.copy() for k, v in self._param_views.items()}

    def load_state_dict(self, state_dict: Mapping[str, ArrayLike]) -> None:
        """Copy parameters in from a mapping name -> array (e.g. a PyTorch module's
        ``{k: v.numpy() for k, v in m.state_dict().items()}``). Unknown or missing names and
        wrong shapes raise ValueError, non-numbers TypeError; nothing is written unless
        everything matches."""
        views = self._param_views
        if not hasattr(state_dict, "keys"):
            raise TypeError(
                f"state_dict must be a mapping name -> array, got {type(state_dict).__name__}"
            )
        unknown = sorted(set(state_dict) - set(views))
        missing = [k for k in views if k not in state_dict]
        if unknown or missing:
            raise ValueError(
                f"state_dict does not match: unknown names {unknown}, missing "
                f"names {missing}; expected {list(views)}"
            )
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
        self.weights_changed()

    def weights_changed(self) -> None:
        """Say that the parameters were changed in place (``load_state_dict`` does): a piece
        that keeps a form derived from its weights drops it. Nothing to do by default."""

    def release_buffers(self) -> None:
        """Free what a piece keeps between training steps to reuse (the networks' workspaces,
        see ``_RecurrentNetwork.release_buffers``). Nothing to do by default."""

    def __getstate__(self):
        # Views are rebuilt on unpickling (pickled separately they would become copies).
        state = {k: v for k, v in self.__dict__.items() if k not in self._derived}
        for k in self._transient:
            state[k] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # Unpickled dtypes and arrays carry equal but non-singleton dtype objects, which the
        # engine's dtype check rejects: re-attach the canonical dtype (same memory, so an
        # optimizer unpickled alongside still updates these buffers).
        self.dtype = np.dtype(self.dtype.name)
        self.params = self.params.view(self.dtype)
        self.grad = self.grad.view(self.dtype)
        self._make_views()
