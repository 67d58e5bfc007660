"""Deep and bidirectional recurrent networks over the one-layer engine.

``RNN``, ``LSTM`` and ``GRU`` stack ``num_layers`` layers, each run in one or two
directions by ONE ``engine.forward`` / ``engine.backward`` call per layer-direction (the
time loop is in C++). Parameters live in one flat buffer ``params`` with PyTorch-named
views (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
``weight_ih_l0_reverse``, ...), in PyTorch's order, and ``grad`` has the same layout; so a
PyTorch module's ``state_dict`` loads as-is and optimizers/clipping are vector operations.

Shapes (D = 2 if bidirectional else 1, L = num_layers, H = hidden_size):
    x       (T, B, I), or (B, T, I) with batch_first
    lengths (B,) ints, 1 <= lengths[b] <= T (None: every sequence has length T)
    out     (T, B, D*H) with merge_mode "concat", (T, B, H) with "sum" (batch_first: B, T, .)
            zeros past each sequence's length
    state   h (L*D, B, H) for RNN/GRU; a tuple (h, c) for LSTM; index l*D + d (PyTorch's)
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _packcache, engine
from .functional import dropout_mask
from .init import RandomStateLike, as_generator, uniform_default
from .parameters import Parameters, positive_int

__all__ = ["RNN", "LSTM", "GRU", "State"]

# A network's state: h (L*D, B, H) for RNN/GRU, a tuple (h, c) for LSTM.
State = Union[np.ndarray, Tuple[np.ndarray, np.ndarray]]


class _RecurrentNetwork(Parameters):
    """Shared implementation of RNN, LSTM and GRU (see the module docstring)."""

    cell = None  # "rnn", "lstm" or "gru", set by each subclass
    # workspaces (the pending one, the spare of the last backward) and packed weights are not
    # pickled
    _transient = ("_cache", "_spare", "_packed")
    _derived = Parameters._derived + ("_weights", "_dweights")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        batch_first: bool,
        dropout: float,
        dtype: DTypeLike,
        random_state: RandomStateLike,
        merge_mode: str,
        bias: bool,
        nonlinearity: str,
        reset_after: bool,
    ) -> None:
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.num_layers = positive_int("num_layers", num_layers)
        self.bidirectional = bool(bidirectional)
        self.batch_first = bool(batch_first)
        dropout = float(dropout)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = dropout
        if merge_mode not in ("concat", "sum"):
            raise ValueError(f"merge_mode must be 'concat' or 'sum', got {merge_mode!r}")
        self.merge_mode = merge_mode
        self.bias = bool(bias)
        engine.check_cell(self.cell, nonlinearity)
        self.nonlinearity = nonlinearity
        self.reset_after = bool(reset_after)

        self.num_directions = 2 if self.bidirectional else 1
        self._allocate(dtype)
        self._packed, self._weights_version = {}, 0  # see weights_changed
        _packcache.watch(self.params, self)
        self._rng = as_generator(random_state)
        uniform_default(self, self._rng)
        self._cache = None
        self._spare = None  # see release_buffers
        self.grad_norms = {}
        self.cell_grad_norms = {}
        self.state_grad = None

    # ------------------------------------------------------------------ parameters

    @property
    def output_size(self) -> int:
        """Last dimension of ``forward``'s output: D*H (concat) or H (sum)."""
        if self.bidirectional and self.merge_mode == "concat":
            return 2 * self.hidden_size
        return self.hidden_size

    def _layer_input_size(self, layer):
        return self.input_size if layer == 0 else self.output_size

    def _suffixes(self):
        """PyTorch's name suffix of each layer-direction, in order l*D + d."""
        return [
            f"_l{layer}" + ("_reverse" if d == 1 else "")
            for layer in range(self.num_layers)
            for d in range(self.num_directions)
        ]

    def _layout(self):
        """[(name, shape)] in PyTorch's order: per layer, per direction: w_ih, w_hh, b_ih, b_hh."""
        GH = engine.num_gates(self.cell) * self.hidden_size
        out = []
        for idx, sfx in enumerate(self._suffixes()):
            out.append(
                ("weight_ih" + sfx, (GH, self._layer_input_size(idx // self.num_directions)))
            )
            out.append(("weight_hh" + sfx, (GH, self.hidden_size)))
            if self.bias:
                out.append(("bias_ih" + sfx, (GH,)))
                out.append(("bias_hh" + sfx, (GH,)))
        return out

    def _make_views(self):
        """The named views, and per layer-direction (l*D + d) tuples for the engine."""
        super()._make_views()
        self._weights, self._dweights = [], []
        for sfx in self._suffixes():
            names = ["weight_ih" + sfx, "weight_hh" + sfx, "bias_ih" + sfx, "bias_hh" + sfx]
            self._weights.append(tuple(self._param_views.get(n) for n in names))
            self._dweights.append(tuple(self._grad_views.get(n) for n in names))

    def weights_changed(self) -> None:
        """Say that the parameters were changed in place.

        Inference calls (``forward(training=False)``, ``step``) reuse the kernels' packed form
        of the weights while they do not change. pyrnn's optimizers, initializers and
        ``load_state_dict`` call this themselves; call it after writing into ``params`` or a
        view of it (``named_parameters()``) by hand.
        """
        self._weights_version += 1
        self._packed = {}

    def _packed_weights(self, idx):
        """The packed weights of layer-direction idx for the current parameters."""
        version = self._weights_version
        hit = self._packed.get(idx)
        if hit is not None and hit[0] == version:
            return hit[1]
        w_ih, w_hh, b_ih, b_hh = self._weights[idx]
        packed = engine.pack(
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            cell=self.cell,
            nonlinearity=self.nonlinearity,
            reset_after=self.reset_after,
        )
        if self._weights_version == version:  # not changed meanwhile (another thread)
            self._packed[idx] = (version, packed)
        return packed

    def release_buffers(self) -> None:
        """Free the workspaces kept from the last training step.

        A training ``forward`` takes over the buffers of the last ``backward``'s workspaces
        (see ``engine.forward``'s ``reuse``) instead of allocating new ones, so between steps
        the network keeps one workspace per layer-direction: ``training_nbytes(T, B)`` at most.
        The estimators call this at the end of ``fit``; call it after a training loop of your
        own. The next training forward allocates again.
        """
        self._spare = None

    def __getstate__(self):
        state = super().__getstate__()
        for k in ("grad_norms", "cell_grad_norms"):  # (layer, direction) keys: as pairs, so
            state[k] = list(state[k].items())  # that JSON-based formats (skops) work
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.grad_norms, self.cell_grad_norms = dict(self.grad_norms), dict(self.cell_grad_norms)
        self._packed = {}  # packed weights are not pickled: their layout belongs to this CPU
        self._weights_version = getattr(self, "_weights_version", 0)
        _packcache.watch(self.params, self)

    def __repr__(self):
        extra = "".join(
            f", {k}={v!r}"
            for k, v, default in (
                ("num_layers", self.num_layers, 1),
                ("bidirectional", self.bidirectional, False),
                ("batch_first", self.batch_first, False),
                ("dropout", self.dropout, 0.0),
                ("merge_mode", self.merge_mode, "concat"),
                ("bias", self.bias, True),
                ("dtype", self.dtype.name, "float32"),
            )
            if v != default
        )
        if self.cell == "rnn":
            extra += f", nonlinearity={self.nonlinearity!r}"
        if self.cell == "gru" and not self.reset_after:
            extra += ", reset_after=False"
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"

    # ------------------------------------------------------------------ input checks

    def _time_major(self, x, name, last):
        """Validate a 3-D array with last dimension `last`, return it (T, B, last) C-contiguous."""
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be an array of real numbers, got dtype {x.dtype}")
        layout = "(B, T, F)" if self.batch_first else "(T, B, F)"
        if x.ndim != 3:
            raise ValueError(f"{name} must be 3-D {layout} with F = {last}, got shape {x.shape}")
        if x.shape[2] != last:
            raise ValueError(f"{name} has {x.shape[2]} features (last dimension), expected {last}")
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(
                f"{name} must have at least one timestep and one sequence, "
                f"got shape {x.shape} (time-major)"
            )
        return np.ascontiguousarray(x, dtype=self.dtype)

    def _check_state_array(self, a, name, B):
        if a is None:
            return None
        a = np.asarray(a)
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        if a.shape != shape:
            raise ValueError(
                f"{name} must have shape (num_layers*num_directions, B, H) = {shape}, got {a.shape}"
            )
        if a.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be an array of real numbers, got dtype {a.dtype}")
        return np.ascontiguousarray(a, dtype=self.dtype)

    def _split_state(self, state, B, name="state"):
        """state -> (h, c) arrays (L*D, B, H) or None each."""
        if state is None:
            return None, None
        if self.cell == "lstm":
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise ValueError(
                    f"an LSTM {name} is a tuple (h, c) of arrays (num_layers*num_directions, B, H)"
                )
            return (
                self._check_state_array(state[0], name + "[0] (h)", B),
                self._check_state_array(state[1], name + "[1] (c)", B),
            )
        if isinstance(state, (tuple, list)):
            raise ValueError(
                f"{name} of a {type(self).__name__} is one array "
                "(num_layers*num_directions, B, H), not a tuple"
            )
        return self._check_state_array(state, name, B), None

    # ------------------------------------------------------------------ forward / backward

    def forward(
        self,
        x: ArrayLike,
        lengths: Optional[ArrayLike] = None,
        state: Optional[State] = None,
        training: bool = True,
        outputs: bool = True,
    ) -> Tuple[Optional[np.ndarray], State]:
        """Run the network over whole sequences.

        Parameters
        ----------
        x : array (T, B, I), or (B, T, I) with batch_first
        lengths : int array (B,), optional
            Valid steps per sequence, 1 <= lengths[b] <= T; steps past it are padding: they
            give zero outputs and do not touch the state. The reverse direction starts at
            each sequence's own last step.
        state : initial state, optional (zeros by default)
            h (L*D, B, H) for RNN/GRU, a tuple (h, c) for LSTM.
        training : bool
            True keeps what ``backward`` needs and applies dropout between layers.
        outputs : bool
            False: the last layer's outputs are not computed and ``out`` is None, for a caller
            that reads only the final state (saves their memory, stores and, bidirectional,
            the concatenation); ``backward`` then takes ``dout=None``.

        Returns
        -------
        out : array (T, B, D*H) or (T, B, H) for merge_mode "sum" (batch_first: (B, T, .)),
            or None with ``outputs=False``
        state : final state, same structure as the ``state`` argument; for each sequence,
            the state after its own last step.
        """
        x = self._time_major(x, "x", self.input_size)
        T, B, _ = x.shape
        lengths = engine.check_lengths(lengths, T, B)
        h0, c0 = self._split_state(state, B)
        out, h_n, c_n = self._forward(x, lengths, h0, c0, training, bool(outputs))
        if self.batch_first and out is not None:
            out = out.transpose(1, 0, 2)
        return out, ((h_n, c_n) if self.cell == "lstm" else h_n)

    def training_nbytes(self, T: int, B: int) -> int:
        """Bytes a training forward and backward over (T, B) needs at its peak, all layers and
        directions: about (G+3)·T·B·H values per layer-direction (G gates; see
        ``engine.training_nbytes``), so memory grows linearly in T, B and H."""
        return sum(
            engine.training_nbytes(
                self.cell,
                T,
                B,
                self._layer_input_size(layer),
                self.hidden_size,
                self.dtype,
                self.reset_after,
            )
            for layer in range(self.num_layers)
            for _ in range(self.num_directions)
        )

    def _check_training_memory(self, T, B):
        need = self.training_nbytes(T, B)
        engine.check_memory(
            need,
            f"training {self.cell.upper()} (T={T}, B={B}, "
            f"H={self.hidden_size}, {self.num_layers} layer(s))",
        )

    def _forward(self, x, lengths, h0, c0, training, outputs=True):
        """Time-major forward; fills self._cache when training. outputs=False: the last
        layer writes no y, and the returned out is None."""
        self._cache = None
        L, D = self.num_layers, self.num_directions
        T, B, _ = x.shape
        lstm = self.cell == "lstm"
        if training:
            self._check_training_memory(T, B)
        finals = [None] * (L * D)  # (h_n, c_n) of each layer-direction
        layers = []  # per layer: (dropout mask or None, [workspace per direction])
        grouped = self._group_layers(T, B)
        if grouped and D == 1 and L > 1 and (not training or self.dropout == 0):
            # a stack too small to share each step across cores: one thread per layer, as a
            # wavefront (layer l+1 runs the steps layer l has finished)
            calls = [self._call(idx, None, lengths, h0, c0, training) for idx in range(L)]
            calls[0]["x"] = x
            calls[-1]["outputs"] = outputs
            results = engine.forward_group(calls, chained=True)
            for idx, res in enumerate(results):
                finals[idx] = (res.h_n, res.c_n)
                layers.append((None, [res.workspace]))
            if training:
                self._cache = self._training_cache(layers, T, B, grouped)
            return (results[-1].y, *self._stack_finals(finals, lstm))
        layer_in = x
        for layer in range(L):
            mask = None
            if layer > 0 and training:
                mask = dropout_mask(layer_in.shape, self.dropout, self.dtype, self._rng)
            if mask is not None:
                layer_in = layer_in * mask
            calls = [
                self._call(layer * D + d, layer_in, lengths, h0, c0, training) for d in range(D)
            ]
            last = layer == L - 1
            for c in calls:
                c["outputs"] = outputs or not last
            if grouped and D == 2:  # the two directions at once, one thread each
                results = engine.forward_group(calls)
            else:
                results = [engine.forward(**c) for c in calls]
            for d, res in enumerate(results):
                finals[layer * D + d] = (res.h_n, res.c_n)
            outs = [res.y for res in results]
            if last and not outputs:
                layer_in = None
            elif D == 1:
                layer_in = outs[0]
            elif self.merge_mode == "concat":
                layer_in = np.concatenate(outs, axis=2)
            else:
                layer_in = outs[0] + outs[1]
            layers.append((mask, [res.workspace for res in results]))
        if training:
            self._cache = self._training_cache(layers, T, B, grouped)
        return (layer_in, *self._stack_finals(finals, lstm))

    def _training_cache(self, layers, T, B, grouped):
        """What backward needs of a training forward: the workspaces (and dropout masks) per
        layer, and whether a stack's backward runs as a wavefront ("chain_backward": no
        dropout mask between the layers, and steps too small to share, see _group_layers)."""
        chain = (
            self.num_directions == 1
            and all(mask is None for mask, _ in layers)
            and self._group_layers(T, B, backward=True)
        )
        return {"layers": layers, "shape": (T, B), "grouped": grouped, "chain_backward": chain}

    def _group_layers(self, T, B, backward=False):
        """Whether this network's layer-directions run each on one thread at once (see
        engine.forward_group / backward_group): when their steps are too small to share across
        cores. The two directions of a bidirectional layer are independent ("group_layers");
        a unidirectional stack's forward runs as a wavefront, which must also beat one layer
        sharing its steps ("chain_layers"). A stack's backward (``backward=True``) runs as a
        wavefront from the top layer down wherever its steps are too small to share
        ("group_layers": the backward step is never split for its weight stream alone)."""
        if self.num_layers * self.num_directions < 2 or engine.get_num_threads() < 2:
            return False
        key = "group_layers" if self.num_directions == 2 or backward else "chain_layers"
        return engine.plan(
            self.cell,
            T,
            B,
            self.input_size,
            self.hidden_size,
            nonlinearity=self.nonlinearity,
            dtype=self.dtype,
        )[key]

    def _call(self, idx, layer_in, lengths, h0, c0, training):
        """engine.forward's arguments for layer-direction idx (= layer * D + direction)."""
        w_ih, w_hh, b_ih, b_hh = self._weights[idx]
        return dict(
            x=layer_in,
            weight_ih=w_ih,
            weight_hh=w_hh,
            bias_ih=b_ih,
            bias_hh=b_hh,
            cell=self.cell,
            nonlinearity=self.nonlinearity,
            reset_after=self.reset_after,
            lengths=lengths,
            h0=None if h0 is None else h0[idx],
            c0=None if c0 is None else c0[idx],
            reverse=(idx % self.num_directions == 1),
            training=training,
            packed=None if training else self._packed_weights(idx),
            reuse=self._spare.pop(idx, None) if training and self._spare else None,
        )

    @staticmethod
    def _stack_finals(finals, lstm):
        """h_n, c_n (L*D, B, H) (c_n None unless LSTM) from each layer-direction's (h_n, c_n):
        with one layer-direction, a view of its arrays (no copy)."""
        if len(finals) == 1:
            h, c = finals[0]
            return h[None], (c[None] if lstm else None)
        h_n = np.stack([h for h, _ in finals])
        return h_n, (np.stack([c for _, c in finals]) if lstm else None)

    def backward(
        self,
        dout: Optional[ArrayLike],
        dstate: np.ndarray | tuple[np.ndarray | None, np.ndarray | None] | None = None,
        input_grad: bool = True,
    ) -> Optional[np.ndarray]:
        """Backpropagate through the last training ``forward``.

        Parameters
        ----------
        dout : array, the shape of ``forward``'s ``out``, or None (zeros)
            dL/dout. Values at padded steps are ignored.
        dstate : optional, the structure of ``forward``'s returned state
            dL/d(final state): h (L*D, B, H), or (dh, dc) for LSTM (either may be None).
        input_grad : bool
            False: dL/dx is not computed and None is returned, for an input that needs no
            gradient (data, rather than an embedding or another layer); the first layer
            then skips its (T*B) x (G*H) x I product. The parameter gradients are the same.

        Returns
        -------
        dx : array, the shape of ``x`` (batch_first respected), or None (``input_grad=False``)

        The engine keeps references (not copies) to ``x`` and the parameters: do not change
        them between ``forward`` and ``backward`` (update parameters after backward).
        Gradients are ADDED to ``grad`` (call ``zero_grad`` between updates). Afterwards:
        ``state_grad`` holds dL/d(initial state) (same structure as the state),
        ``grad_norms[(layer, direction)]`` the (T,) norms ||dL/dh_t|| over the batch, and for
        LSTM ``cell_grad_norms[(layer, direction)]`` the norms ||dL/dc_t|| (direction 0 is
        forward in time, 1 reverse).
        """
        if self._cache is None:
            raise ValueError(
                "backward needs a preceding forward(..., training=True), and "
                "each forward allows one backward: run forward again"
            )
        T, B = self._cache["shape"]
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        if dout is not None:
            dout = self._time_major(dout, "dout", self.output_size)
            if dout.shape[:2] != (T, B):
                raise ValueError(
                    f"dout must have the shape of forward's output; got "
                    f"{dout.shape} time-major, expected {(T, B, self.output_size)}"
                )
        dh_n, dc_n = self._split_state(dstate, B, "dstate")
        layers, grouped = self._cache["layers"], self._cache["grouped"]
        chain = self._cache["chain_backward"]
        self._cache = None
        lstm = self.cell == "lstm"
        d_state0 = [None] * (L * D)  # (dh0, dc0) of each layer-direction
        grad_norms, cell_grad_norms = {}, {}
        d_layer_out = dout
        if chain:  # a stack as a wavefront from the top layer down, one thread per layer
            idxs = list(reversed(range(L)))
            grads = engine.backward_group(
                [layers[i][1][0] for i in idxs],
                [dout] + [None] * (L - 1),
                [None if dh_n is None else dh_n[i] for i in idxs],
                [None if dc_n is None else dc_n[i] for i in idxs],
                input_grad=input_grad,
                grads=[self._dweights[i] for i in idxs],
                chained=True,
            )
            self._spare = self._spare or {}
            for i, g in zip(idxs, grads):
                self._spare[i] = layers[i][1][0]  # consumed: its buffer serves the next forward
                d_state0[i] = (g.dh0, g.dc0)
                grad_norms[(i, 0)] = g.grad_norm_h
                if lstm:
                    cell_grad_norms[(i, 0)] = g.grad_norm_c
            d_layer_out = grads[-1].dx
        for layer in [] if chain else reversed(range(L)):  # (a chain was done above)
            mask, workspaces = layers[layer]
            dx = None
            dys = []
            for d in range(D):
                dy = d_layer_out
                if dy is not None and D == 2 and self.merge_mode == "concat":
                    dy = np.ascontiguousarray(dy[:, :, d * H : (d + 1) * H])
                dys.append(dy)
            idxs = [layer * D + d for d in range(D)]
            dh_ns = [None if dh_n is None else dh_n[idx] for idx in idxs]
            dc_ns = [None if dc_n is None else dc_n[idx] for idx in idxs]
            want_dx = layer > 0 or input_grad
            # the parameter gradients are added into self.grad by the kernels themselves
            accs = [self._dweights[idx] for idx in idxs]
            if grouped and D == 2:  # the two directions at once, one thread each
                grads = engine.backward_group(
                    workspaces, dys, dh_ns, dc_ns, input_grad=want_dx, grads=accs
                )
            else:
                grads = [
                    engine.backward(ws, dy=dy, dh_n=a, dc_n=c, input_grad=want_dx, grads=acc)
                    for ws, dy, a, c, acc in zip(workspaces, dys, dh_ns, dc_ns, accs)
                ]
            self._spare = self._spare or {}
            for d, g in enumerate(grads):
                idx = layer * D + d
                self._spare[idx] = workspaces[d]  # consumed: its buffer serves the next forward
                if want_dx:
                    dx = g.dx if dx is None else dx + g.dx
                d_state0[idx] = (g.dh0, g.dc0)
                grad_norms[(layer, d)] = g.grad_norm_h
                if lstm:
                    cell_grad_norms[(layer, d)] = g.grad_norm_c
            if mask is not None and dx is not None:
                dx = dx * mask
            d_layer_out = dx
        self.grad_norms = grad_norms
        self.cell_grad_norms = cell_grad_norms
        dh0, dc0 = self._stack_finals(d_state0, lstm)
        self.state_grad = (dh0, dc0) if lstm else dh0
        if self.batch_first and d_layer_out is not None:
            return d_layer_out.transpose(1, 0, 2)
        return d_layer_out

    # ------------------------------------------------------------------ streaming

    def step(
        self, x_t: ArrayLike, state: Optional[State] = None, reset: Optional[ArrayLike] = None
    ) -> Tuple[np.ndarray, State]:
        """Advance one timestep (online inference); equals the full-sequence forward.

        Parameters
        ----------
        x_t : array (B, I)
        state : the state returned by the previous ``step`` or ``forward`` (zeros if None)
        reset : bool array (B,), optional
            Sequences whose state is zeroed before this step (a new sequence starts there).

        Returns
        -------
        out_t : array (B, H)
        state : the new state (h (L, B, H), or (h, c) for LSTM)
        """
        if self.bidirectional:
            raise ValueError(
                "step() streams forward in time, but a bidirectional network "
                "needs the whole sequence: use forward()"
            )
        x_t = np.asarray(x_t)
        if x_t.ndim != 2 or x_t.shape[1] != self.input_size:
            raise ValueError(f"x_t must have shape (B, {self.input_size}), got {x_t.shape}")
        if x_t.dtype.kind not in "fiub":
            raise TypeError(f"x_t must be an array of real numbers, got dtype {x_t.dtype}")
        B = x_t.shape[0]
        h, c = self._split_state(state, B)
        if reset is not None:
            reset = np.asarray(reset)
            if reset.shape != (B,) or reset.dtype.kind not in "biu":
                raise ValueError(
                    f"reset must be a bool array of shape ({B},), got {reset.dtype} {reset.shape}"
                )
            keep = (reset == 0)[None, :, None]
            h = None if h is None else np.where(keep, h, 0).astype(self.dtype)
            c = None if c is None else np.where(keep, c, 0).astype(self.dtype)
        x = np.ascontiguousarray(x_t[None], dtype=self.dtype)
        out, h_n, c_n = self._forward(x, None, h, c, training=False)
        return out[0], ((h_n, c_n) if self.cell == "lstm" else h_n)


class RNN(_RecurrentNetwork):
    """Elman RNN, ``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` with act tanh or relu.

    Same arguments as ``torch.nn.RNN`` (``nonlinearity``, ``bias`` keyword-only here) plus
    ``dtype``, ``random_state`` (seeds the PyTorch-style U(-1/sqrt(H), 1/sqrt(H)) init
    and dropout) and ``merge_mode`` ("concat" or "sum" of the two directions). See the
    module docstring for shapes.
    """

    cell = "rnn"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        dropout: float = 0.0,
        dtype: DTypeLike = np.float32,
        random_state: RandomStateLike = None,
        merge_mode: str = "concat",
        *,
        nonlinearity: str = "tanh",
        bias: bool = True,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bidirectional,
            batch_first,
            dropout,
            dtype,
            random_state,
            merge_mode,
            bias,
            nonlinearity,
            True,
        )


class LSTM(_RecurrentNetwork):
    """LSTM (gates i, f, g, o), as ``torch.nn.LSTM``; the state is a tuple (h, c).

    Arguments as ``RNN`` without ``nonlinearity``. See the module docstring for shapes.
    """

    cell = "lstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        dropout: float = 0.0,
        dtype: DTypeLike = np.float32,
        random_state: RandomStateLike = None,
        merge_mode: str = "concat",
        *,
        bias: bool = True,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bidirectional,
            batch_first,
            dropout,
            dtype,
            random_state,
            merge_mode,
            bias,
            "tanh",
            True,
        )


class GRU(_RecurrentNetwork):
    """GRU (gates r, z, n), as ``torch.nn.GRU`` when ``reset_after=True`` (the default,
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))); ``reset_after=False`` is the textbook
    form n = tanh(W_in x + b_in + W_hn (r * h) + b_hn). Arguments otherwise as ``RNN``.
    """

    cell = "gru"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        batch_first: bool = False,
        dropout: float = 0.0,
        dtype: DTypeLike = np.float32,
        random_state: RandomStateLike = None,
        merge_mode: str = "concat",
        *,
        reset_after: bool = True,
        bias: bool = True,
    ):
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bidirectional,
            batch_first,
            dropout,
            dtype,
            random_state,
            merge_mode,
            bias,
            "tanh",
            reset_after,
        )
