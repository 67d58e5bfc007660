"""pyrnn networks as standard ONNX ``RNN``/``LSTM``/``GRU`` nodes, one node per layer.

Weight layout (both directions of a layer stacked in one node, ``layout=0``: time-major):

=====  =====================  =========================  ==========================
cell   pyrnn / PyTorch gates  ONNX gates                 extra attributes
=====  =====================  =========================  ==========================
LSTM   i, f, g, o             i, o, f, c                 -
GRU    r, z, n                z, r, h                    ``linear_before_reset`` =
                                                         1 (reset_after) / 0
RNN    (one gate)             (one gate)                 ``activations`` Tanh / Relu
=====  =====================  =========================  ==========================

ONNX's ``W`` is ``(D, G*H, I)``, ``R`` ``(D, G*H, H)``, ``B`` ``(D, 2*G*H)`` = [b_ih, b_hh];
``Y`` ``(T, D, B, H)``, ``Y_h``/``Y_c`` ``(D, B, H)``.

What ONNX Runtime's CPU kernels do (onnxruntime 1.32, checked by tests/test_export_onnx.py):
RNN with Tanh and Relu, GRU with ``linear_before_reset`` 0 and 1, LSTM, all bidirectional, all
with ``sequence_lens`` (zeros past each length, final states at each sequence's own last step,
the reverse direction starting there) match pyrnn to float32 rounding. Not supported:
``layout=1`` (batch-major; refused at session creation, hence ``layout=0`` and Transposes for
``batch_first``) and double precision (no RNN kernel; LSTM and GRU fail at run time, hence
float32 graphs). The ONNX spec leaves the outputs past ``sequence_lens`` to the runtime, so
graphs with ``lengths`` also multiply ``y`` by an in-graph mask: zeros on any runtime.
"""

import numpy as np

from ._graph import Graph

ONNX_OPS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
# GATE_ORDER[cell][k] = the pyrnn gate block that goes to ONNX position k
GATE_ORDER = {"rnn": (0,), "lstm": (0, 3, 1, 2), "gru": (1, 0, 2)}
ACTIVATIONS = {"tanh": "Tanh", "relu": "Relu"}


def reorder_gates(a, cell, to_onnx=True):
    """Permute the gate blocks along axis 0 of ``a`` (G*H, ...) between pyrnn and ONNX order."""
    order = np.asarray(GATE_ORDER[cell])
    if not to_onnx:
        order = np.argsort(order)
    blocks = np.split(np.asarray(a), len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def layer_tensors(net, layer, dtype=np.float32):
    """ONNX ``W``, ``R`` and ``B`` (None without bias) of one layer of ``net``."""
    params = net.named_parameters()
    sfx = [f"_l{layer}" + ("_reverse" if d else "") for d in range(net.num_directions)]

    def stack(kind):
        return np.stack([reorder_gates(params[kind + s], net.cell) for s in sfx]).astype(dtype)

    W, R = stack("weight_ih"), stack("weight_hh")
    B = np.concatenate([stack("bias_ih"), stack("bias_hh")], axis=1) if net.bias else None
    return W, R, B


def node_attributes(net):
    """The attributes of the ONNX node for every layer of ``net``."""
    attrs = {
        "hidden_size": net.hidden_size,
        "layout": 0,
        "direction": "bidirectional" if net.bidirectional else "forward",
    }
    if net.cell == "rnn":
        attrs["activations"] = [ACTIVATIONS[net.nonlinearity]] * net.num_directions
    if net.cell == "gru":
        attrs["linear_before_reset"] = int(net.reset_after)
    return attrs


def _layer_state(g, state, layer, D, L):
    """The slice (D, B, H) of a (L*D, B, H) state value for ``layer`` ('' for none)."""
    if not state:
        return ""
    if L == 1:
        return state
    return g.op("Slice", [state, g.ints([layer * D]), g.ints([(layer + 1) * D]), g.ints([0])])


def _merge_directions(g, y, net):
    """ONNX Y (T, D, B, H) -> the layer's output (T, B, D*H) or (T, B, H)."""
    if net.num_directions == 1:
        return g.op("Squeeze", [y, g.ints([1])])
    if net.merge_mode == "sum":
        return g.op("ReduceSum", [y, g.ints([1])], keepdims=0)
    y = g.op("Transpose", [y], perm=[0, 2, 1, 3])
    return g.op("Reshape", [y, g.ints([0, 0, -1])])


def emit_network(g, net, x, seq_lens="", h0="", c0=""):
    """Add ``net``'s layers to graph ``g``.

    x: value (T, B, I) float32, time-major; seq_lens: int32 (B,) or ''; h0/c0: (L*D, B, H) or ''.
    Returns (y (T, B, D*H or H), h_n (L*D, B, H), c_n or None). Steps of y past a sequence's
    length are whatever the runtime writes there (ONNX Runtime: zeros); ``mask_padding``
    makes them zeros on any runtime.
    """
    L, D = net.num_layers, net.num_directions
    lstm = net.cell == "lstm"
    attrs = node_attributes(net)
    h_parts, c_parts = [], []
    for layer in range(L):
        W, R, B = layer_tensors(net, layer)
        inputs = [
            x,
            g.const(W, f"W_l{layer}"),
            g.const(R, f"R_l{layer}"),
            "" if B is None else g.const(B, f"B_l{layer}"),
            seq_lens,
            _layer_state(g, h0, layer, D, L),
        ]
        if lstm:
            inputs.append(_layer_state(g, c0, layer, D, L))
        while inputs and inputs[-1] == "":  # trailing optional inputs are left out
            inputs.pop()
        outs = g.op(ONNX_OPS[net.cell], inputs, 3 if lstm else 2, **attrs)
        h_parts.append(outs[1])
        if lstm:
            c_parts.append(outs[2])
        x = _merge_directions(g, outs[0], net)
    h_n = h_parts[0] if L == 1 else g.op("Concat", h_parts, axis=0)
    c_n = None
    if lstm:
        c_n = c_parts[0] if L == 1 else g.op("Concat", c_parts, axis=0)
    return x, h_n, c_n


def step_mask(g, lengths, x_tm):
    """A float32 (T, B, 1) mask, 1 where t < lengths[b], from int64 lengths (B,) and x (T, B, .)."""
    T = g.op("Gather", [g.op("Shape", [x_tm]), g.ints(0)], axis=0)
    t = g.op("Range", [g.ints(0), T, g.ints(1)])
    valid = g.op(
        "Less", [g.op("Unsqueeze", [t, g.ints([1])]), g.op("Unsqueeze", [lengths, g.ints([0])])]
    )
    return g.op("Unsqueeze", [g.op("Cast", [valid], to=1), g.ints([2])])  # 1 = FLOAT


def mask_padding(g, y_tm, lengths, x_tm):
    """y (T, B, F) with zeros at steps past each sequence's length (int64 lengths (B,))."""
    return g.op("Mul", [y_tm, step_mask(g, lengths, x_tm)])


def network_model(net, lengths=False, initial_state=False):
    """``net`` as an ONNX model (see ``pyrnn.export.to_onnx``)."""
    g = Graph(f"pyrnn_{type(net).__name__}")
    layout = ["B", "T"] if net.batch_first else ["T", "B"]
    x = g.input("x", np.float32, layout + [net.input_size])
    x_tm = g.op("Transpose", [x], perm=[1, 0, 2]) if net.batch_first else x
    seq_lens = len64 = ""
    if lengths:
        len64 = g.input("lengths", np.int64, ["B"])
        seq_lens = g.op("Cast", [len64], to=6)  # 6 = INT32, what sequence_lens takes
    LD, H = net.num_layers * net.num_directions, net.hidden_size
    h0 = c0 = ""
    if initial_state:
        h0 = g.input("h0", np.float32, [LD, "B", H])
        if net.cell == "lstm":
            c0 = g.input("c0", np.float32, [LD, "B", H])
    y, h_n, c_n = emit_network(g, net, x_tm, seq_lens, h0, c0)
    if lengths:
        y = mask_padding(g, y, len64, x_tm)
    if net.batch_first:
        y = g.op("Transpose", [y], perm=[1, 0, 2])
    g.output(y, "y", np.float32, layout + [net.output_size])
    g.output(h_n, "h_n", np.float32, [LD, "B", H])
    if c_n is not None:
        g.output(c_n, "c_n", np.float32, [LD, "B", H])
    return g.model(doc=f"pyrnn {net!r}", metadata={"pyrnn.network": repr(net)})
