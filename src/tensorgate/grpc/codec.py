"""ModelInferRequest → tensors, tensors → ModelInferResponse (pure, no I/O).

Inputs come either as ``raw_input_contents`` (one little-endian blob per input, in
order; BYTES elements length-prefixed, as in the HTTP binary extension) or in the typed
``contents`` fields. Outputs always go back as ``raw_output_contents``, which is what
tritonclient reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tensorgate.errors import ProtocolError
from tensorgate.grpc._proto import pb
from tensorgate.protocol.datatypes import (
    DATATYPES,
    datatype_of,
    decode_binary,
    encode_binary,
    numpy_dtype,
)
from tensorgate.protocol.numbers import is_decimal
from tensorgate.types import Array

__all__ = ["GrpcInferRequest", "encode_response", "parse_request", "parse_version"]

#: Which typed ``contents`` field holds each datatype (FP16 / BF16 come raw only).
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


@dataclass(frozen=True, slots=True)
class GrpcInferRequest:
    """A parsed gRPC infer request.

    Attributes:
        version: the version asked for (None: the highest serving one).
        inputs: input tensors by name, rows first.
        outputs: output names asked for (None: all).
        timeout_s: the ``timeout`` parameter (microseconds on the wire), if any.
        classification: ``k`` per output asked for with Triton's ``classification``
            parameter.
    """

    version: int | None
    inputs: dict[str, Array]
    outputs: tuple[str, ...] | None
    timeout_s: float | None
    classification: dict[str, int] = field(default_factory=dict)


def parse_version(text: str) -> int | None:
    """``""`` → None; ``"3"`` → 3; anything else is a ProtocolError."""
    if text == "":
        return None
    if not is_decimal(text) or int(text) < 1:
        raise ProtocolError(f"model_version {text!r} is not a positive version number")
    return int(text)


def _shape(tensor: Any) -> tuple[int, ...]:
    shape = tuple(int(d) for d in tensor.shape)
    if any(d < 0 for d in shape):
        raise ProtocolError(f"input {tensor.name!r}: shape {list(shape)} has a negative size")
    return shape


def _typed(tensor: Any, shape: tuple[int, ...]) -> Array:
    datatype = tensor.datatype
    field = _CONTENTS.get(datatype)
    if field is None:
        raise ProtocolError(
            f"input {tensor.name!r}: {datatype} tensors must come in raw_input_contents"
        )
    values = getattr(tensor.contents, field)
    count = int(np.prod(shape)) if shape else 1
    if len(values) != count:
        raise ProtocolError(
            f"input {tensor.name!r}: shape {list(shape)} needs {count} elements, but "
            f"contents.{field} holds {len(values)}"
        )
    if datatype == "BYTES":
        out = np.empty(count, dtype=object)
        out[:] = list(values)
        return out.reshape(shape)
    try:
        with np.errstate(over="raise", invalid="raise"):
            array = np.array(values, dtype=numpy_dtype(datatype))
    except (OverflowError, FloatingPointError, ValueError) as exc:
        raise ProtocolError(
            f"input {tensor.name!r}: contents do not fit {datatype}: {exc}"
        ) from None
    return array.reshape(shape)


def _timeout(parameters: Mapping[str, Any]) -> float | None:
    if "timeout" not in parameters:
        return None
    param = parameters["timeout"]
    kind = param.WhichOneof("parameter_choice")
    value = getattr(param, kind) if kind else None
    if kind not in ("int64_param", "uint64_param") or value is None or value <= 0:
        raise ProtocolError(f"parameter timeout must be microseconds > 0, got {value!r}")
    return float(value) / 1e6


def parse_request(request: Any) -> GrpcInferRequest:
    """Tensors and options of a ``ModelInferRequest``.

    Raises:
        ProtocolError: a malformed request (names, datatypes, sizes).
    """
    version = parse_version(request.model_version)
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise ProtocolError(
            f"raw_input_contents holds {len(raw)} blobs for {len(request.inputs)} inputs; "
            "send one per input, in order"
        )
    inputs: dict[str, Array] = {}
    for index, tensor in enumerate(request.inputs):
        if tensor.datatype not in DATATYPES:
            raise ProtocolError(
                f"input {tensor.name!r}: datatype {tensor.datatype!r} is not one of "
                f"{', '.join(DATATYPES)}"
            )
        if tensor.name in inputs:
            raise ProtocolError(f"input {tensor.name!r} appears twice")
        shape = _shape(tensor)
        if raw:
            inputs[tensor.name] = decode_binary(
                tensor.name, tensor.datatype, shape, memoryview(raw[index])
            )
        else:
            inputs[tensor.name] = _typed(tensor, shape)
    if not inputs:
        raise ProtocolError("the request has no inputs")
    outputs = tuple(o.name for o in request.outputs) or None
    classification: dict[str, int] = {}
    for output in request.outputs:
        if "classification" in output.parameters:
            k = output.parameters["classification"].int64_param
            if k < 1:
                raise ProtocolError(
                    f"output {output.name!r} classification must be an integer >= 1, got {k}"
                )
            classification[output.name] = int(k)
    return GrpcInferRequest(
        version=version,
        inputs=inputs,
        outputs=outputs,
        timeout_s=_timeout(request.parameters),
        classification=classification,
    )


def encode_response(name: str, version: int, request_id: str, outputs: Mapping[str, Array]) -> Any:
    """A ``ModelInferResponse`` with every output in ``raw_output_contents``."""
    response = pb.ModelInferResponse(model_name=name, model_version=str(version), id=request_id)
    for output_name, array in outputs.items():
        tensor = response.outputs.add()
        tensor.name = output_name
        tensor.datatype = datatype_of(array)
        tensor.shape.extend(array.shape)
        response.raw_output_contents.append(encode_binary(array))
    return response
