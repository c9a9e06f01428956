"""Parse and encode V2 (Open Inference Protocol) infer messages, JSON and binary.

Pure functions over bytes. The binary tensor extension (Triton's) puts a JSON header of
``Inference-Header-Content-Length`` bytes first, then the raw tensors in the order the
header lists them, each ``parameters.binary_data_size`` bytes long.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tensorgate.errors import ProtocolError
from tensorgate.protocol.datatypes import (
    datatype_of,
    decode_binary,
    decode_json,
    encode_binary,
    encode_json,
)
from tensorgate.types import Array

__all__ = [
    "InferRequest",
    "RequestedOutput",
    "encode_infer_response",
    "parse_header_length",
    "parse_infer_request",
]


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    """One entry of a request's ``outputs`` list.

    Attributes:
        name: the output tensor's name.
        binary: True/False when the request set ``binary_data``; None follows the
            request-wide ``binary_data_output``.
        classification: ``k`` when the request asked for Triton's classification
            extension (the ``k`` best classes as ``score:index:label``), else None.
    """

    name: str
    binary: bool | None = None
    classification: int | None = None


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A parsed infer request.

    Attributes:
        id: the client's request id, echoed back in the response.
        inputs: the input tensors by name, rows first.
        outputs: the outputs asked for, or None for all of them.
        binary_output: the request-wide ``binary_data_output`` parameter.
        timeout_s: the client's ``timeout`` parameter (sent in microseconds), if any.
    """

    id: str | None
    inputs: dict[str, Array]
    outputs: tuple[RequestedOutput, ...] | None
    binary_output: bool
    timeout_s: float | None


def parse_header_length(value: str | None, body_size: int) -> int | None:
    """Validate the ``Inference-Header-Content-Length`` header against the body size."""
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise ProtocolError(
            f"Inference-Header-Content-Length must be an integer, got {value!r}"
        ) from None
    if not 0 < length <= body_size:
        raise ProtocolError(
            f"Inference-Header-Content-Length is {length} but the body has {body_size} bytes; "
            "it must count the JSON header only"
        )
    return length


def _load_json(raw: bytes | memoryview) -> dict[str, Any]:
    try:
        doc = json.loads(bytes(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"request body must be a JSON object, got {type(doc).__name__}")
    return doc


def _field(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ProtocolError(f"{where} is missing the required field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ProtocolError(
            f"{where} field {key!r} must be {names}, got {type(value).__name__}: {value!r:.80}"
        )
    return value


def _parameters(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    params = obj.get("parameters", {})
    if not isinstance(params, dict):
        raise ProtocolError(f"{where} 'parameters' must be an object, got {params!r:.80}")
    return params


def _shape(raw: Any, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in raw
    ):
        raise ProtocolError(f"{where} 'shape' must be a list of integers >= 0, got {raw!r:.80}")
    return tuple(raw)


def parse_infer_request(body: bytes | bytearray, header_length: int | None) -> InferRequest:
    """Parse a V2 infer request body.

    Args:
        body: the whole HTTP body.
        header_length: ``Inference-Header-Content-Length`` if the binary extension is used.

    Raises:
        ProtocolError: the body is not a valid request; the message says which part.
    """
    view = memoryview(body)
    header = view if header_length is None else view[:header_length]
    doc = _load_json(header)
    binary = view[len(view) :] if header_length is None else view[header_length:]
    used = 0

    raw_inputs = _field(doc, "inputs", list, "request")
    if not raw_inputs:
        raise ProtocolError("request 'inputs' is empty; send at least one input tensor")
    inputs: dict[str, Array] = {}
    for index, raw in enumerate(raw_inputs):
        where = f"inputs[{index}]"
        if not isinstance(raw, dict):
            raise ProtocolError(f"{where} must be an object")
        name = _field(raw, "name", str, where)
        where = f"input {name!r}"
        if name in inputs:
            raise ProtocolError(f"{where} appears twice in 'inputs'")
        datatype = _field(raw, "datatype", str, where)
        shape = _shape(_field(raw, "shape", list, where), where)
        size = _parameters(raw, where).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ProtocolError(f"{where} binary_data_size must be an integer >= 0")
            if "data" in raw:
                raise ProtocolError(f"{where} has both 'data' and binary_data_size; send one")
            if used + size > len(binary):
                raise ProtocolError(
                    f"{where} binary_data_size is {size} but only {len(binary) - used} "
                    "bytes of binary data remain in the body"
                )
            inputs[name] = decode_binary(name, datatype, shape, binary[used : used + size])
            used += size
        else:
            if "data" not in raw:
                raise ProtocolError(f"{where} has neither 'data' nor binary_data_size")
            inputs[name] = decode_json(name, datatype, shape, raw["data"])
    if used != len(binary):
        raise ProtocolError(
            f"the body has {len(binary) - used} bytes after the inputs' binary data; "
            "binary_data_size values must add up to the body after the JSON header"
        )

    params = _parameters(doc, "request")
    binary_output = params.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise ProtocolError(
            f"parameter binary_data_output must be true or false, got {binary_output!r}"
        )
    timeout = params.get("timeout")
    if timeout is not None and (
        not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0
    ):
        raise ProtocolError(f"parameter timeout must be microseconds > 0, got {timeout!r}")

    outputs: tuple[RequestedOutput, ...] | None = None
    if "outputs" in doc:
        raw_outputs = _field(doc, "outputs", list, "request")
        requested: list[RequestedOutput] = []
        for index, raw in enumerate(raw_outputs):
            if not isinstance(raw, dict):
                raise ProtocolError(f"outputs[{index}] must be an object")
            name = _field(raw, "name", str, f"outputs[{index}]")
            output_params = _parameters(raw, f"output {name!r}")
            flag = output_params.get("binary_data")
            if flag is not None and not isinstance(flag, bool):
                raise ProtocolError(f"output {name!r} binary_data must be true or false")
            k = output_params.get("classification")
            if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 1):
                raise ProtocolError(
                    f"output {name!r} classification must be an integer >= 1, got {k!r:.40}"
                )
            requested.append(RequestedOutput(name, flag, k))
        outputs = tuple(requested)

    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(f"request 'id' must be a string, got {request_id!r:.80}")
    return InferRequest(
        id=request_id,
        inputs=inputs,
        outputs=outputs,
        binary_output=binary_output,
        timeout_s=None if timeout is None else timeout / 1e6,
    )


def encode_infer_response(
    model_name: str,
    model_version: str,
    request: InferRequest,
    outputs: Mapping[str, Array],
) -> tuple[bytes, int | None]:
    """Encode a V2 infer response.

    Returns:
        The body and, when any output is binary, the JSON header's length to send as
        ``Inference-Header-Content-Length`` (None for a pure JSON body).
    """
    if request.outputs is None:
        order = [(name, request.binary_output) for name in outputs]
    else:
        order = [
            (o.name, request.binary_output if o.binary is None else o.binary)
            for o in request.outputs
        ]
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, as_binary in order:
        array = outputs[name]
        entry: dict[str, Any] = {
            "name": name,
            "datatype": datatype_of(array),
            "shape": list(array.shape),
        }
        if as_binary:
            blob = encode_binary(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = encode_json(array)
        entries.append(entry)
    doc: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        doc["id"] = request.id
    doc["outputs"] = entries
    header = json.dumps(doc, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)
