"""Networks from elsewhere: a PyTorch ``nn.RNN/LSTM/GRU`` module, or an ONNX graph of
``RNN``/``LSTM``/``GRU`` nodes (pyrnn's own, or a single node written by another tool)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..network import GRU, LSTM, RNN
from ._rnn import GATE_ORDER, ONNX_OPS, reorder_gates

NETWORKS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
_CELL_OF_OP = {op: cell for cell, op in ONNX_OPS.items()}
_NONLINEARITY = {"Tanh": "tanh", "Relu": "relu"}
META_KEY = "pyrnn.network.config"


def network_config(net):
    """The constructor arguments that rebuild ``net``'s architecture (JSON-ready)."""
    return {
        "cell": net.cell,
        "input_size": net.input_size,
        "hidden_size": net.hidden_size,
        "num_layers": net.num_layers,
        "bidirectional": net.bidirectional,
        "batch_first": net.batch_first,
        "merge_mode": net.merge_mode,
        "bias": net.bias,
        "nonlinearity": net.nonlinearity,
        "reset_after": net.reset_after,
    }


def build_network(config, dtype=np.float32):
    """A new network from a ``network_config`` dict (unknown cells raise ValueError)."""
    config = dict(config)
    cell = config.pop("cell", None)
    if cell not in NETWORKS:
        raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(NETWORKS)}")
    nonlinearity = config.pop("nonlinearity", "tanh")
    reset_after = config.pop("reset_after", True)
    if cell == "rnn":
        config["nonlinearity"] = nonlinearity
    if cell == "gru":
        config["reset_after"] = reset_after
    return NETWORKS[cell](dtype=dtype, **config)


# ---------------------------------------------------------------- PyTorch


def from_torch(module: Any) -> RNN | LSTM | GRU:
    """A pyrnn network equal to a ``torch.nn.RNN``, ``LSTM`` or ``GRU`` module.

    The hyper-parameters (input_size, hidden_size, num_layers, bias, batch_first, dropout,
    bidirectional, nonlinearity) are read from the module and its ``state_dict`` is loaded by
    name; the dtype follows the module's parameters (float32 or float64). LSTMs with
    ``proj_size > 0`` have no pyrnn equivalent and raise ValueError.
    """
    import torch

    kinds = {torch.nn.RNN: "rnn", torch.nn.LSTM: "lstm", torch.nn.GRU: "gru"}
    cell = next((c for cls, c in kinds.items() if type(module) is cls), None)
    if cell is None:
        raise TypeError(
            f"from_torch takes a torch.nn.RNN, LSTM or GRU, got {type(module).__name__}"
        )
    if getattr(module, "proj_size", 0):
        raise ValueError("LSTM with proj_size > 0 (projected hidden state) has no pyrnn equivalent")
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    dtype = next(iter(state.values())).dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"module parameters must be float32 or float64, got {dtype}")
    config = {
        "cell": cell,
        "input_size": module.input_size,
        "hidden_size": module.hidden_size,
        "num_layers": module.num_layers,
        "bidirectional": module.bidirectional,
        "batch_first": module.batch_first,
        "merge_mode": "concat",
        "bias": module.bias,
        "nonlinearity": getattr(module, "nonlinearity", "tanh"),
        "reset_after": True,
    }
    net = build_network(config, dtype)
    net.dropout = float(module.dropout)
    net.load_state_dict(state)
    return net


# ---------------------------------------------------------------- ONNX


def _load_model(model):
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model
    try:
        return onnx.load(model)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ValueError(f"could not read an ONNX model from {model!r}: {exc}") from None


def _rnn_nodes(graph):
    nodes = [n for n in graph.node if n.op_type in _CELL_OF_OP and n.domain in ("", "ai.onnx")]
    if not nodes:
        raise ValueError("the ONNX graph has no RNN, LSTM or GRU node")
    if len({n.op_type for n in nodes}) > 1:
        raise ValueError(
            f"the ONNX graph mixes different recurrent ops: {sorted({n.op_type for n in nodes})}"
        )
    return nodes


def _attributes(node):
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _inferred_config(graph, nodes, W):
    """Architecture read from the nodes of a graph another tool wrote."""
    attrs = _attributes(nodes[0])
    cell = _CELL_OF_OP[nodes[0].op_type]
    for key in ("clip", "input_forget"):
        if attrs.get(key):
            raise ValueError(f"the {nodes[0].op_type} node uses '{key}', which pyrnn does not have")
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction not in ("forward", "bidirectional"):
        raise ValueError(f"a {direction!r} recurrent node has no pyrnn equivalent")
    D = 2 if direction == "bidirectional" else 1
    defaults = {"rnn": ["Tanh"], "gru": ["Sigmoid", "Tanh"], "lstm": ["Sigmoid", "Tanh", "Tanh"]}
    nonlinearity = "tanh"
    if cell == "rnn" and acts:
        if acts[0] not in _NONLINEARITY or acts != acts[:1] * D:
            raise ValueError(f"RNN activations {acts}: pyrnn has Tanh or Relu (same both ways)")
        nonlinearity = _NONLINEARITY[acts[0]]
    elif acts and acts != defaults[cell] * D:
        raise ValueError(f"activations {acts} are not the standard ones {defaults[cell] * D}")
    consumers = {i for n in graph.node for i in n.input if n.op_type == "ReduceSum"}
    G = len(GATE_ORDER[cell])
    return {
        "cell": cell,
        "input_size": int(W.shape[2]),
        "hidden_size": int(attrs.get("hidden_size", W.shape[1] // G)),
        "num_layers": len(nodes),
        "bidirectional": D == 2,
        "batch_first": attrs.get("layout", 0) == 1,
        "merge_mode": "sum" if nodes[0].output[0] in consumers else "concat",
        "bias": len(nodes[0].input) > 3 and nodes[0].input[3] != "",
        "nonlinearity": nonlinearity,
        "reset_after": bool(attrs.get("linear_before_reset", 0)),
    }


def _initializer(inits, node, index, what):
    name = node.input[index] if len(node.input) > index else ""
    if not name:
        return None
    if name not in inits:
        raise ValueError(
            f"{what} of the {node.op_type} node ({name!r}) is not a constant "
            "initializer of the graph; only constant weights can be imported"
        )
    return inits[name]


def _layer_state_dict(net, layer, node, inits):
    """PyTorch-named parameters of one layer from its ONNX node, shapes checked."""
    D, H, G = net.num_directions, net.hidden_size, len(GATE_ORDER[net.cell])
    I = net.input_size if layer == 0 else net.output_size
    expected = {"W": (D, G * H, I), "R": (D, G * H, H), "B": (D, 2 * G * H)}
    arrays = {}
    for index, key in ((1, "W"), (2, "R"), (3, "B")):
        a = _initializer(inits, node, index, key)
        if a is None and key != "B":
            raise ValueError(f"the {node.op_type} node of layer {layer} has no {key}")
        if a is not None and a.shape != expected[key]:
            raise ValueError(f"layer {layer}: {key} has shape {a.shape}, expected {expected[key]}")
        arrays[key] = a
    peep = _initializer(inits, node, 7, "P") if node.op_type == "LSTM" else None
    if peep is not None and np.any(peep):
        raise ValueError("the LSTM node has peephole weights P, which pyrnn does not have")
    out = {}
    for d in range(D):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        out["weight_ih" + sfx] = reorder_gates(arrays["W"][d], net.cell, to_onnx=False)
        out["weight_hh" + sfx] = reorder_gates(arrays["R"][d], net.cell, to_onnx=False)
        if net.bias:
            b_ih, b_hh = np.split(arrays["B"][d], 2)
            out["bias_ih" + sfx] = reorder_gates(b_ih, net.cell, to_onnx=False)
            out["bias_hh" + sfx] = reorder_gates(b_hh, net.cell, to_onnx=False)
    return out


def from_onnx(model: str | os.PathLike[str] | Any) -> RNN | LSTM | GRU:
    """A pyrnn network from an ONNX model (a path or an ``onnx.ModelProto``).

    Reads the graphs ``to_onnx`` writes for networks (their exact configuration is in the
    model's metadata) and graphs of ``RNN``/``LSTM``/``GRU`` nodes written by other tools:
    one node per layer, weights as initializers, standard activations (Tanh or Relu for RNN),
    no peepholes, ``clip`` or ``input_forget``; ``layout=1`` becomes ``batch_first=True``.
    Anything else raises ValueError. Returns a float32 ``pyrnn.RNN``/``LSTM``/``GRU``.
    """
    import onnx

    model = _load_model(model)
    nodes = _rnn_nodes(model.graph)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    meta = {p.key: p.value for p in model.metadata_props}
    if META_KEY in meta:
        try:
            config = json.loads(meta[META_KEY])
        except ValueError:
            raise ValueError(f"the model's {META_KEY} metadata is not JSON") from None
        if not isinstance(config, dict):
            raise ValueError(f"the model's {META_KEY} metadata is not a JSON object")
    else:
        W = _initializer(inits, nodes[0], 1, "W")
        if W is None or W.ndim != 3:
            raise ValueError("the first recurrent node has no 3-D weight W")
        config = _inferred_config(model.graph, nodes, W)
    try:
        net = build_network(config)
    except TypeError as exc:
        raise ValueError(f"bad network configuration {config}: {exc}") from None
    if len(nodes) != net.num_layers:
        raise ValueError(f"the graph has {len(nodes)} recurrent nodes for {net.num_layers} layers")
    state = {}
    for layer, node in enumerate(nodes):
        state.update(_layer_state_dict(net, layer, node, inits))
    net.load_state_dict(state)
    return net
