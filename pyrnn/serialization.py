"""Safe model files: ``save(obj, path)`` / ``load(path)`` for networks and estimators.

A model file is one safetensors file (see :mod:`pyrnn._safetensors`): the arrays as named
tensors, and in its metadata, under the key ``"pyrnn"``, a JSON document::

    {"format": "pyrnn", "format_version": 1, "pyrnn_version": "0.1.0",
     "root": NODE, "sha256": "<hex digest of the rest of the document and the tensors>"}

NODE describes the object tree the way pickle would (each object's ``__getstate__``), but
as data: JSON null/bool/int/str/list stand for themselves, and every other value is a
tagged object ``{"$": tag, ...}``:

=============  =====================================================================
tag            meaning
=============  =====================================================================
float          a float (``"v"`` a JSON number, or "nan"/"inf"/"-inf")
tuple, dict    ``"items"``: elements / [key, value] pairs (keys may be any NODE)
array          an ndarray: ``"tensor"`` names its tensor, or ``"dtype"``/``"shape"``/
               ``"items"`` for str and object arrays
scalar         a numpy scalar (``"dtype"``, ``"v"``)
dtype, type    ``np.dtype("float32")``, the type ``np.float32`` (float32/float64 only)
random_state   a ``numpy.random.RandomState`` (its ``get_state()`` as NODE)
generator      a ``numpy.random.Generator`` (its bit generator's ``state`` dict)
object         an instance of an allow-listed pyrnn class (``"class"``), ``"state"`` NODE
ref            the value with ``"id"`` seen before (shared arrays: an optimizer's buffers
               are the network's own)
=============  =====================================================================

Loading builds only those values: it never imports a module or calls anything named by the
file (classes come from the allow-list in ``_CLASSES``, built from pyrnn's own modules), and
every structure, size, dtype and parameter shape is checked first, so a damaged or hostile
file raises ``ValueError`` saying what is wrong. Objects whose state holds anything else (a
callable ``analyzer``, say) cannot be saved: ``save`` raises TypeError naming it.
"""

import hashlib
import json
import math
import os
from typing import Any

import numpy as np

from . import _safetensors

FORMAT = "pyrnn"
FORMAT_VERSION = 1
_MAX_DEPTH = 64
_SIMPLE_DTYPES = {
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
}
_TYPES = {"float32": np.float32, "float64": np.float64}
_BIT_GENERATORS = {
    "PCG64": np.random.PCG64,
    "PCG64DXSM": np.random.PCG64DXSM,
    "MT19937": np.random.MT19937,
    "Philox": np.random.Philox,
    "SFC64": np.random.SFC64,
}

__all__ = ["save", "load", "FORMAT_VERSION"]


# ---------------------------------------------------------------- the allow-list


def _count(state, key):
    """A positive int hyper-parameter from an object's saved state (before it is restored)."""
    v = state.get(key)
    if type(v) is not int or v < 1:
        raise ValueError(f"{key} must be a positive int, got {v!r:.40}")
    return v


def _network_size(cls, state):
    """Parameters a network's hyper-parameters call for, computed without allocating."""
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cls.cell]
    H, L, I = _count(state, "hidden_size"), _count(state, "num_layers"), _count(state, "input_size")
    D = 2 if state.get("bidirectional") is True else 1
    out = D * H if state.get("merge_mode") == "concat" else H
    bias = 2 * G * H if state.get("bias") is True else 0
    return D * (G * H * (I + H) + bias + (L - 1) * (G * H * (out + H) + bias))


def _linear_size(cls, state):
    out = _count(state, "out_features")
    return out * _count(state, "in_features") + (out if state.get("has_bias") is True else 0)


def _embedding_size(cls, state):
    return _count(state, "num_embeddings") * _count(state, "embedding_dim")


def _check_optimizer(opt):
    type(opt)._check_pairs(opt.pairs)
    opt.load_state_dict(opt.state_dict())  # validates the buffers against the parameters


def _class_table():
    """class name -> (class, before, after): ``before(cls, state)`` gives the size of the flat
    ``params`` the saved hyper-parameters call for (checked before the state is restored),
    ``after(obj)`` checks the restored object; either may be None."""
    import pyrnn.estimators as estimators

    from . import heads, network, optim

    table = {}
    for name in ("RNN", "LSTM", "GRU"):
        table[name] = (getattr(network, name), _network_size, None)
    table["Linear"] = (heads.Linear, _linear_size, None)
    table["Embedding"] = (heads.Embedding, _embedding_size, None)
    for name in optim.__all__:  # optimizers and learning-rate schedules
        cls = getattr(optim, name)
        if isinstance(cls, type) and cls is not optim.Optimizer:
            table[name] = (
                cls,
                None,
                _check_optimizer if issubclass(cls, optim.Optimizer) else None,
            )
    for name in estimators.__all__:
        table[name] = (getattr(estimators, name), None, None)
    from .conv import Conv1d
    from .forecasting import RNNForecaster
    from .preprocessing import SequenceScaler

    table["Conv1d"] = (Conv1d, None, _check_layout)
    table["RNNForecaster"] = (RNNForecaster, None, None)
    table["SequenceScaler"] = (SequenceScaler, None, None)
    return table


def _check_layout(obj):
    """A restored module's flat buffers hold exactly what its named layout needs."""
    size = sum(math.prod(shape) for _, shape in obj._layout())
    if obj.params.ndim != 1 or obj.params.size != size or obj.grad.shape != obj.params.shape:
        raise ValueError(
            f"{type(obj).__name__}.params has {obj.params.size} values; its layout needs {size}"
        )


def _check_params(name, state, size):
    """Flat ``params``/``grad`` buffers of the size the hyper-parameters call for."""
    p = state.get("params")
    for attr in ("params", "grad"):
        a = state.get(attr)
        if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype not in (np.float32, np.float64):
            raise ValueError(f"{name}.{attr} must be a 1-D float32/float64 array")
        if a.size != size or a.dtype != p.dtype or state.get("dtype", p.dtype) != p.dtype:
            raise ValueError(
                f"{name}.{attr} has {a.size} {a.dtype} values; its "
                f"hyper-parameters call for {size} {state.get('dtype')!r:.20}"
            )


# ---------------------------------------------------------------- encoding


class _Encoder:
    def __init__(self, table):
        self.classes = {entry[0]: name for name, entry in table.items()}
        self.tensors, self.ids, self.keep = {}, {}, []

    def _memo(self, value):
        """(node for a value already seen, or None; and the id to give a new one)."""
        key = id(value)
        if key in self.ids:
            return {"$": "ref", "id": self.ids[key]}, None
        self.ids[key] = len(self.ids)
        self.keep.append(value)  # ids stay unique while encoding
        return None, self.ids[key]

    def encode(self, value, path):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:
            return value
        if type(value) is float:
            return {"$": "float", "v": value if math.isfinite(value) else repr(value)}
        if type(value) is list:
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if type(value) is tuple:
            return {
                "$": "tuple",
                "items": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)],
            }
        if type(value) is dict:
            return {
                "$": "dict",
                "items": [
                    [self.encode(k, f"{path} key"), self.encode(v, f"{path}[{k!r}]")]
                    for k, v in value.items()
                ],
            }
        if isinstance(value, np.generic) and value.dtype.name in _SIMPLE_DTYPES:
            return {"$": "scalar", "dtype": value.dtype.name, "v": self.encode(value.item(), path)}
        if isinstance(value, np.dtype) and value.name in _SIMPLE_DTYPES:
            return {"$": "dtype", "name": value.name}
        if isinstance(value, type) and value in _TYPES.values():
            return {"$": "type", "name": np.dtype(value).name}
        ref, new_id = self._memo(value)
        if ref is not None:
            return ref
        if isinstance(value, np.ndarray):
            return self._array(value, new_id, path)
        if type(value) is np.random.RandomState:
            return {
                "$": "random_state",
                "id": new_id,
                "state": self.encode(value.get_state(legacy=True), path),
            }
        if type(value) is np.random.Generator:
            return {
                "$": "generator",
                "id": new_id,
                "state": self.encode(value.bit_generator.state, path),
            }
        cls_name = self.classes.get(type(value))
        if cls_name is None:
            raise TypeError(
                f"pyrnn.save stores data only; {path} is a "
                f"{type(value).__module__}.{type(value).__qualname__} "
                f"({value!r:.60}), which it cannot store (use pickle or skops)"
            )
        state = value.__getstate__()
        return {
            "$": "object",
            "id": new_id,
            "class": cls_name,
            "state": self.encode(state, f"{path}.{cls_name}"),
        }

    def _array(self, a, new_id, path):
        if a.dtype.name in _SIMPLE_DTYPES:
            key = f"t{len(self.tensors)}"
            self.tensors[key] = np.ascontiguousarray(a)
            return {"$": "array", "id": new_id, "tensor": key}
        if a.dtype.kind in "UO":
            return {
                "$": "array",
                "id": new_id,
                "dtype": a.dtype.str,
                "shape": list(a.shape),
                "items": [self.encode(v, f"{path} item") for v in a.ravel().tolist()],
            }
        raise TypeError(f"pyrnn.save cannot store {path}: an array of dtype {a.dtype}")


# ---------------------------------------------------------------- decoding


def _fail(msg):
    raise ValueError(f"corrupt or unsupported pyrnn model file: {msg}")


def _expect(node, keys):
    if set(node) != set(keys):
        _fail(f"a {node.get('$')!r} node must have keys {sorted(keys)}, got {sorted(node)}")


class _Decoder:
    def __init__(self, table, tensors):
        self.table, self.tensors, self.memo = table, tensors, {}

    def decode(self, node, depth=0):
        if depth > _MAX_DEPTH:
            _fail(f"nesting deeper than {_MAX_DEPTH}")
        if node is None or isinstance(node, (bool, int, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v, depth + 1) for v in node]
        if not isinstance(node, dict) or not isinstance(node.get("$"), str):
            _fail(f"unexpected JSON value {node!r:.80}")
        handler = getattr(self, "_" + node["$"], None)
        if handler is None or node["$"] not in _TAGS:
            _fail(f"unknown tag {node['$']!r:.40}")
        return handler(node, depth + 1)

    def _register(self, node, value):
        if not isinstance(node.get("id"), int) or node["id"] in self.memo:
            _fail(f"bad or repeated id {node.get('id')!r:.40}")
        self.memo[node["id"]] = value
        return value

    def _float(self, node, depth):
        _expect(node, ("$", "v"))
        v = node["v"]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if v in ("nan", "inf", "-inf"):
            return float(v)
        _fail(f"bad float {v!r:.40}")

    def _items(self, node, depth):
        _expect(node, ("$", "items"))
        if not isinstance(node["items"], list):
            _fail(f"{node['$']} items must be a list")
        return node["items"]

    def _tuple(self, node, depth):
        return tuple(self.decode(v, depth) for v in self._items(node, depth))

    def _dict(self, node, depth):
        out = {}
        for pair in self._items(node, depth):
            if not isinstance(pair, list) or len(pair) != 2:
                _fail("dict items must be [key, value] pairs")
            key = self.decode(pair[0], depth)
            try:
                out[key] = self.decode(pair[1], depth)
            except TypeError:
                _fail(f"unhashable dict key {key!r:.40}")
        return out

    def _scalar(self, node, depth):
        _expect(node, ("$", "dtype", "v"))
        if node["dtype"] not in _SIMPLE_DTYPES:
            _fail(f"scalar dtype {node['dtype']!r:.40}")
        v = self.decode(node["v"], depth)
        if not isinstance(v, (bool, int, float)):
            _fail("a scalar's value must be a number")
        try:
            return np.dtype(node["dtype"]).type(v)
        except (OverflowError, ValueError):
            _fail(f"{v!r:.40} does not fit {node['dtype']}")

    def _dtype(self, node, depth):
        _expect(node, ("$", "name"))
        if node["name"] not in _SIMPLE_DTYPES:
            _fail(f"dtype {node['name']!r:.40}")
        return np.dtype(node["name"])

    def _type(self, node, depth):
        _expect(node, ("$", "name"))
        if node["name"] not in _TYPES:
            _fail(f"type {node['name']!r:.40}")
        return _TYPES[node["name"]]

    def _ref(self, node, depth):
        _expect(node, ("$", "id"))
        if not isinstance(node["id"], int) or node["id"] not in self.memo:
            _fail(f"reference to an unknown id {node['id']!r:.40}")
        return self.memo[node["id"]]

    def _array(self, node, depth):
        if "tensor" in node:
            _expect(node, ("$", "id", "tensor"))
            if node["tensor"] not in self.tensors:
                _fail(f"missing tensor {node['tensor']!r:.40}")
            return self._register(node, self.tensors[node["tensor"]])
        _expect(node, ("$", "id", "dtype", "shape", "items"))
        shape, items = node["shape"], node["items"]
        if not (
            isinstance(shape, list)
            and all(type(d) is int and d >= 0 for d in shape)
            and isinstance(items, list)
        ):
            _fail("an array needs a shape of ints >= 0 and a list of items")
        if math.prod(shape) != len(items):
            _fail(f"array shape {shape} does not hold {len(items)} items")
        dtype = node["dtype"]
        if not (
            isinstance(dtype, str)
            and (dtype == "|O" or (dtype[:2] == "<U" and dtype[2:].isdigit()))
        ):
            _fail(f"array dtype {dtype!r:.40}")
        values = [self.decode(v, depth) for v in items]
        if dtype != "|O" and not all(
            isinstance(v, str) and len(v) <= int(dtype[2:]) for v in values
        ):
            _fail(f"items of a {dtype} array must be short enough strings")
        a = np.empty(len(values), dtype=dtype)
        a[:] = values if dtype != "|O" else _object_items(values)
        return self._register(node, a.reshape(shape))

    def _random_state(self, node, depth):
        _expect(node, ("$", "id", "state"))
        rs = self._register(node, np.random.RandomState())
        state = self.decode(node["state"], depth)
        try:
            rs.set_state(state)
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            _fail(f"bad RandomState state: {exc}")
        return rs

    def _generator(self, node, depth):
        _expect(node, ("$", "id", "state"))
        state = self.decode(node["state"], depth)
        name = state.get("bit_generator") if isinstance(state, dict) else None
        if name not in _BIT_GENERATORS:
            _fail(f"unknown bit generator {name!r:.40}")
        bitgen = _BIT_GENERATORS[name]()
        try:
            bitgen.state = state
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            _fail(f"bad {name} state: {exc}")
        return self._register(node, np.random.Generator(bitgen))

    def _object(self, node, depth):
        _expect(node, ("$", "id", "class", "state"))
        entry = self.table.get(node["class"]) if isinstance(node["class"], str) else None
        if entry is None:
            _fail(
                f"class {node['class']!r:.60} is not one pyrnn can load (allowed: "
                f"{', '.join(sorted(self.table))})"
            )
        cls, before, after = entry
        obj = self._register(node, cls.__new__(cls))
        state = self.decode(node["state"], depth)
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            _fail(f"the state of a {node['class']} must be a dict with str keys")
        try:
            if before is not None:
                _check_params(node["class"], state, before(cls, state))
            if hasattr(cls, "__setstate__"):
                obj.__setstate__(state)
            else:
                obj.__dict__.update(state)
            if after is not None:
                after(obj)
        except ValueError as exc:
            _fail(f"{node['class']}: {exc}")
        except (TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:
            _fail(f"{node['class']}: inconsistent state ({type(exc).__name__}: {exc})")
        return obj


_TAGS = {
    "float",
    "tuple",
    "dict",
    "scalar",
    "dtype",
    "type",
    "ref",
    "array",
    "random_state",
    "generator",
    "object",
}


def _object_items(values):
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # item by item: numpy would unpack tuples
        out[i] = v
    return out


# ---------------------------------------------------------------- public API


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write a network (``pyrnn.RNN``/``LSTM``/``GRU``) or an estimator to ``path``.

    The file is a safetensors file whose metadata holds a versioned JSON description (see
    the module docstring); ``load`` reads it back without running any code from it. Parameters,
    optimizer state and random generators are stored exactly, so a loaded estimator predicts
    the same and ``partial_fit`` continues as the original would. Raises TypeError for objects
    holding something that is not data (e.g. a callable ``analyzer``).
    """
    table = _class_table()
    if type(obj) not in {entry[0] for entry in table.values()}:
        raise TypeError(f"pyrnn.save takes a pyrnn network or estimator, got {type(obj).__name__}")
    from . import __version__

    enc = _Encoder(table)
    root = enc.encode(obj, "obj")
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "pyrnn_version": __version__,
        "root": root,
    }
    doc["sha256"] = _digest(doc, enc.tensors)
    data = _safetensors.dumps(enc.tensors, {"pyrnn": json.dumps(doc, allow_nan=False)})
    with open(os.fspath(path), "wb") as f:
        f.write(data)


def load(path: str | os.PathLike[str]) -> Any:
    """Read a network or estimator written by :func:`save`.

    Raises ValueError for a file that is truncated, corrupted, written by a newer format
    version, names a class pyrnn does not load, or holds arrays whose shape or dtype does not
    match the model's hyper-parameters.
    """
    with open(os.fspath(path), "rb") as f:
        data = f.read()
    tensors, metadata = _safetensors.loads(data)
    doc = _document(metadata)
    try:
        digest = _digest(doc, tensors)
    except (RecursionError, ValueError):
        _fail("its JSON document cannot be re-serialized")
    if doc.get("sha256") != digest:
        _fail("the file does not match its SHA-256 checksum (it is damaged)")
    table = _class_table()
    try:
        obj = _Decoder(table, tensors).decode(doc["root"])
    except RecursionError:
        _fail("nesting too deep")
    if type(obj) not in {entry[0] for entry in table.values()}:
        _fail(f"the file holds a {type(obj).__name__}, not a pyrnn network or estimator")
    return obj


def _digest(doc, tensors):
    """SHA-256 over the JSON document but its "sha256" (canonical form) and the tensors'
    names, dtypes, shapes and bytes, in name order: damage to either is caught first."""
    rest = {k: v for k, v in doc.items() if k != "sha256"}
    h = hashlib.sha256(
        json.dumps(rest, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    )
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _document(metadata):
    if "pyrnn" not in metadata:
        _fail("a safetensors file without pyrnn's metadata (not written by pyrnn.save)")
    try:
        doc = json.loads(metadata["pyrnn"])
    except (ValueError, RecursionError):
        _fail("its JSON document does not parse")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or "root" not in doc:
        _fail("its JSON document is not a pyrnn model description")
    version = doc.get("format_version")
    if type(version) is not int or version < 1:
        _fail(f"bad format_version {version!r:.40}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"the model file has format version {version}, written by a newer "
            f"pyrnn ({doc.get('pyrnn_version')!r:.40}); this pyrnn reads up to "
            f"version {FORMAT_VERSION}: upgrade pyrnn"
        )
    return doc
