"""V2 tensor datatypes <-> numpy, and the raw encodings of the binary tensor extension.

Pure functions, no I/O. ``BYTES`` tensors are numpy ``object`` arrays of ``bytes``; on the
wire each element is a 4-byte little-endian length followed by its bytes (Triton's
layout).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from tensorgate.errors import InvalidInputError, ProtocolError
from tensorgate.types import Array

__all__ = [
    "DATATYPES",
    "datatype_of",
    "decode_binary",
    "decode_json",
    "element_size",
    "encode_binary",
    "encode_json",
    "numpy_dtype",
]

_TO_NUMPY: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
_FROM_NUMPY: dict[np.dtype[Any], str] = {v: k for k, v in _TO_NUMPY.items()}

#: Every datatype this server accepts, in the protocol's spelling.
DATATYPES: tuple[str, ...] = tuple(_TO_NUMPY)


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    """Return the numpy dtype of a V2 datatype name such as ``"FP32"``."""
    try:
        return _TO_NUMPY[datatype]
    except KeyError:
        raise InvalidInputError(
            f"datatype {datatype!r} is not supported; use one of {', '.join(DATATYPES)}"
        ) from None


def datatype_of(array: Array) -> str:
    """Return the V2 datatype name of a numpy array (strings and bytes map to BYTES)."""
    if array.dtype.kind in ("U", "S", "O"):
        return "BYTES"
    try:
        return _FROM_NUMPY[array.dtype]
    except KeyError:
        raise InvalidInputError(
            f"numpy dtype {array.dtype} has no V2 datatype; cast to one of "
            f"{', '.join(str(d) for d in _FROM_NUMPY)}"
        ) from None


def element_size(datatype: str) -> int:
    """Bytes per element of a fixed-size datatype (BYTES has none and raises)."""
    if datatype == "BYTES":
        raise InvalidInputError("BYTES elements have no fixed size")
    return numpy_dtype(datatype).itemsize


def _element_count(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        if dim < 0:
            raise ProtocolError(f"shape {list(shape)} has a negative dimension; sizes are >= 0")
        count *= dim
    return count


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            flat.append(item)
    return flat


_END = object()


def decode_json(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> Array:
    """Build the array of one JSON input tensor (``data`` flat or nested, row-major)."""
    dtype = numpy_dtype(datatype)
    count = _element_count(shape)
    flat = _flatten(data)
    if len(flat) != count:
        raise ProtocolError(
            f"input {name!r}: shape {list(shape)} needs {count} elements, "
            f"but 'data' holds {len(flat)}"
        )
    if datatype == "BYTES":
        out = np.empty(count, dtype=object)
        for i, item in enumerate(flat):
            if not isinstance(item, str):
                raise ProtocolError(
                    f"input {name!r}: BYTES elements in JSON must be strings, "
                    f"got {type(item).__name__}; use the binary extension for raw bytes"
                )
            out[i] = item.encode("utf-8")
        return out.reshape(shape)
    try:
        if datatype == "BOOL":
            if not all(isinstance(v, bool) for v in flat):
                raise TypeError("BOOL data must be true/false")
        elif dtype.kind in "iu" and not all(
            isinstance(v, int) and not isinstance(v, bool) for v in flat
        ):
            raise TypeError(f"{datatype} data must be integers")
        with np.errstate(over="raise", invalid="raise"):
            array = np.array(flat, dtype=dtype)
    except (TypeError, ValueError, OverflowError, FloatingPointError) as exc:
        raise ProtocolError(f"input {name!r}: 'data' does not fit {datatype}: {exc}") from None
    return array.reshape(shape)


def encode_json(array: Array) -> list[Any]:
    """Flatten an array into the JSON ``data`` list of a V2 response."""
    if array.dtype.kind in ("O", "S"):
        return [
            v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
            for v in array.reshape(-1)
        ]
    if array.dtype.kind == "U":
        return [str(v) for v in array.reshape(-1)]
    flat: list[Any] = array.reshape(-1).tolist()
    return flat


def decode_binary(name: str, datatype: str, shape: tuple[int, ...], raw: memoryview) -> Array:
    """Build the array of one binary input tensor from its raw little-endian bytes."""
    count = _element_count(shape)
    if datatype == "BYTES":
        return _decode_bytes_tensor(name, shape, count, raw)
    dtype = numpy_dtype(datatype)
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise ProtocolError(
            f"input {name!r}: shape {list(shape)} of {datatype} needs {expected} bytes, "
            f"but binary_data_size is {len(raw)}"
        )
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=count)
    return array.reshape(shape)


def _decode_bytes_tensor(name: str, shape: tuple[int, ...], count: int, raw: memoryview) -> Array:
    out = np.empty(count, dtype=object)
    offset = 0
    size = len(raw)
    for i in range(count):
        if offset + 4 > size:
            raise ProtocolError(
                f"input {name!r}: BYTES tensor ends after {i} of {count} elements; "
                "each element is a 4-byte little-endian length then its bytes"
            )
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > size:
            raise ProtocolError(
                f"input {name!r}: BYTES element {i} claims {length} bytes but only "
                f"{size - offset} remain"
            )
        out[i] = bytes(raw[offset : offset + length])
        offset += length
    if offset != size:
        raise ProtocolError(
            f"input {name!r}: {size - offset} bytes left over after {count} BYTES elements"
        )
    return out.reshape(shape)


def encode_binary(array: Array) -> bytes:
    """Raw bytes of an output tensor for the binary extension."""
    if array.dtype.kind in ("O", "S", "U"):
        parts: list[bytes] = []
        for value in array.reshape(-1):
            item = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(item)))
            parts.append(item)
        return b"".join(parts)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return np.ascontiguousarray(little).tobytes()
