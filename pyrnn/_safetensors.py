"""Read and write the safetensors file format: named arrays plus string metadata, no code.

Layout: an 8-byte little-endian header size N, N bytes of JSON header
``{"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [...], "data_offsets":
[begin, end]}, ...}``, then the raw little-endian bytes of every array. The ``safetensors``
package reads and writes it when installed (``pip install "pyrnn-cpu[onnx]"``); otherwise the
numpy code here does, with the same checks (every offset, size and dtype is validated against
the file before anything is allocated), so files are the same either way.
"""

import json

import numpy as np

DTYPES = {
    "BOOL": "|b1",
    "U8": "|u1",
    "I8": "|i1",
    "I16": "<i2",
    "U16": "<u2",
    "F16": "<f2",
    "I32": "<i4",
    "U32": "<u4",
    "F32": "<f4",
    "F64": "<f8",
    "I64": "<i8",
    "U64": "<u8",
}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
MAX_HEADER = 100_000_000  # the safetensors package's own limit


def _library():
    try:
        import safetensors.numpy

        return safetensors
    except ImportError:
        return None


def dumps(arrays, metadata, use_library=None):
    """bytes of a safetensors file holding ``arrays`` (dict name -> ndarray) and ``metadata``
    (dict str -> str). ``use_library``: None = the package when installed."""
    lib = _library() if use_library in (None, True) else None
    if use_library and lib is None:
        raise ImportError("the safetensors package is not installed")
    arrays = {
        k: np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<")) for k, v in arrays.items()
    }
    if lib is not None:
        return lib.numpy.save(arrays, metadata=metadata)
    header, chunks, offset = {"__metadata__": dict(metadata)}, [], 0
    for name in sorted(arrays):
        a = arrays[name]
        data = a.tobytes()
        header[name] = {
            "dtype": CODES[a.dtype],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def loads(data, use_library=None):
    """(arrays, metadata) from the bytes of a safetensors file; ValueError if malformed."""
    lib = _library() if use_library in (None, True) else None
    if use_library and lib is None:
        raise ImportError("the safetensors package is not installed")
    header = _header(data)  # also validates what the package checks, with our messages
    if lib is not None:
        try:
            arrays = lib.numpy.load(bytes(data))
        except Exception as exc:  # SafetensorError and friends
            raise ValueError(f"not a valid safetensors file: {exc}") from None
    else:
        arrays = _arrays(data, header)
    metadata = header.pop("__metadata__", None) or {}
    return {k: np.array(v) for k, v in arrays.items()}, metadata


def _header(data):
    if len(data) < 8:
        raise ValueError(f"file too short ({len(data)} bytes) to be a safetensors file")
    n = int.from_bytes(data[:8], "little")
    if n > min(MAX_HEADER, len(data) - 8):
        raise ValueError(
            f"header size {n} exceeds the file ({len(data)} bytes): truncated "
            "or not a safetensors file"
        )
    try:
        header = json.loads(bytes(data[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("the safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise ValueError("the safetensors header is not a JSON object")
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise ValueError("safetensors __metadata__ must map str to str")
    size = len(data) - 8 - n
    spans = []
    for name, info in header.items():
        if name != "__metadata__":
            spans.append(_check_entry(name, info, size))
    spans.sort()
    end = 0
    for begin, stop, name in spans:
        if begin != end:
            raise ValueError(f"array {name!r} overlaps another or leaves a gap in the data")
        end = stop
    if end != size:
        raise ValueError(f"the arrays cover {end} bytes of a {size}-byte data section")
    return header


def _check_entry(name, info, size):
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        raise ValueError(f"array {name!r}: expected keys dtype, shape, data_offsets")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in DTYPES:
        raise ValueError(f"array {name!r}: unsupported dtype {dtype!r}")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        raise ValueError(f"array {name!r}: shape must be a list of ints >= 0, got {shape!r}")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(o) is int for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= size
    ):
        raise ValueError(
            f"array {name!r}: data_offsets {offsets!r} outside the {size}-byte data section"
        )
    nbytes = int(np.prod(shape, dtype=object)) * np.dtype(DTYPES[dtype]).itemsize
    if offsets[1] - offsets[0] != nbytes:
        raise ValueError(
            f"array {name!r}: shape {shape} needs {nbytes} bytes, its offsets "
            f"span {offsets[1] - offsets[0]}"
        )
    return offsets[0], offsets[1], name


def _arrays(data, header):
    base = 8 + int.from_bytes(data[:8], "little")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        a = np.frombuffer(
            data,
            dtype=DTYPES[info["dtype"]],
            count=(end - begin) // np.dtype(DTYPES[info["dtype"]]).itemsize,
            offset=base + begin,
        )
        out[name] = a.reshape(info["shape"]).astype(a.dtype.newbyteorder("="))
    return out
