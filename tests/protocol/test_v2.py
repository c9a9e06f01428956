"""V2 request parsing and response encoding, JSON and binary."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from tensorgate.errors import InvalidInputError, ProtocolError
from tensorgate.protocol.datatypes import decode_binary, encode_binary
from tensorgate.protocol.v2 import (
    InferRequest,
    RequestedOutput,
    encode_infer_response,
    parse_header_length,
    parse_infer_request,
)


def binary_request(header: Mapping[str, Any], *blobs: bytes) -> tuple[bytes, int]:
    text = json.dumps(header).encode()
    return text + b"".join(blobs), len(text)


def test_json_request_with_nested_data() -> None:
    body = json.dumps(
        {
            "id": "7",
            "inputs": [
                {"name": "a", "datatype": "INT32", "shape": [2, 2], "data": [[1, 2], [3, 4]]}
            ],
            "outputs": [{"name": "b", "parameters": {"binary_data": True}}],
            "parameters": {"timeout": 2_500_000},
        }
    ).encode()
    request = parse_infer_request(body, None)
    assert request.id == "7"
    np.testing.assert_array_equal(request.inputs["a"], np.array([[1, 2], [3, 4]], np.int32))
    assert request.outputs == (RequestedOutput("b", True),)
    assert request.timeout_s == 2.5


def test_binary_request_of_several_datatypes() -> None:
    floats = np.arange(6, dtype=np.float32).reshape(2, 3)
    words = np.array([b"ab", b""], dtype=object)
    body, length = binary_request(
        {
            "inputs": [
                {
                    "name": "f",
                    "datatype": "FP32",
                    "shape": [2, 3],
                    "parameters": {"binary_data_size": 24},
                },
                {
                    "name": "s",
                    "datatype": "BYTES",
                    "shape": [2],
                    "parameters": {"binary_data_size": 10},
                },
            ]
        },
        encode_binary(floats),
        encode_binary(words),
    )
    request = parse_infer_request(body, length)
    np.testing.assert_array_equal(request.inputs["f"], floats)
    assert list(request.inputs["s"]) == [b"ab", b""]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "request is missing the required field 'inputs'"),
        ({"inputs": []}, "request 'inputs' is empty"),
        (
            {"inputs": [{"name": "a", "shape": [1], "data": [1]}]},
            "input 'a' is missing the required field 'datatype'",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "FP32", "shape": [3], "data": [1, 2]}]},
            "input 'a': shape [3] needs 3 elements, but 'data' holds 2",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "BF17", "shape": [1], "data": [1]}]},
            "datatype 'BF17' is not supported",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "INT8", "shape": [1], "data": [1.5]}]},
            "input 'a': 'data' does not fit INT8",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1], "data": [1e300]}]},
            "input 'a': 'data' does not fit FP32",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "UINT8", "shape": [1], "data": [256]}]},
            "input 'a': 'data' does not fit UINT8",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "FP32", "shape": [-1], "data": []}]},
            "input 'a' 'shape' must be a list of integers >= 0",
        ),
        (
            {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1]}]},
            "input 'a' has neither 'data' nor binary_data_size",
        ),
        (
            {
                "inputs": [{"name": "a", "datatype": "FP32", "shape": [1], "data": [1]}],
                "parameters": {"timeout": -1},
            },
            "parameter timeout must be microseconds > 0",
        ),
    ],
)
def test_malformed_json_requests_name_the_problem(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_infer_request(json.dumps(doc).encode(), None)
    assert message in info.value.message


def test_binary_sizes_must_add_up() -> None:
    header: dict[str, Any] = {
        "inputs": [
            {"name": "f", "datatype": "FP32", "shape": [2], "parameters": {"binary_data_size": 8}}
        ]
    }
    body, length = binary_request(header, bytes(4))
    with pytest.raises(ProtocolError, match="binary_data_size is 8 but only 4 bytes"):
        parse_infer_request(body, length)
    body, length = binary_request(header, bytes(12))
    with pytest.raises(ProtocolError, match="the body has 4 bytes after the inputs' binary data"):
        parse_infer_request(body, length)
    header["inputs"][0]["parameters"]["binary_data_size"] = 4
    body, length = binary_request(header, bytes(4))
    with pytest.raises(ProtocolError, match="needs 8 bytes, but binary_data_size is 4"):
        parse_infer_request(body, length)


def test_header_length_is_checked() -> None:
    with pytest.raises(ProtocolError, match="must be an integer, got 'x'"):
        parse_header_length("x", 10)
    with pytest.raises(ProtocolError, match="is 11 but the body has 10 bytes"):
        parse_header_length("11", 10)
    assert parse_header_length(None, 10) is None


def test_bytes_tensor_framing_errors() -> None:
    with pytest.raises(ProtocolError, match="BYTES element 0 claims 9 bytes but only 2 remain"):
        decode_binary("s", "BYTES", (1,), memoryview(struct.pack("<I", 9) + b"ab"))
    with pytest.raises(ProtocolError, match="BYTES tensor ends after 1 of 2 elements"):
        decode_binary("s", "BYTES", (2,), memoryview(struct.pack("<I", 1) + b"a"))


def test_response_mixes_json_and_binary_outputs() -> None:
    request = InferRequest(
        id="x",
        inputs={},
        outputs=(RequestedOutput("a", True), RequestedOutput("b", None)),
        binary_output=False,
        timeout_s=None,
    )
    a = np.array([[1.5, 2.5]], np.float32)
    b = np.array([[7]], np.int64)
    body, length = encode_infer_response("m", "1", request, {"a": a, "b": b})
    assert length is not None
    header = json.loads(body[:length])
    assert header["id"] == "x"
    assert header["outputs"][0] == {
        "name": "a",
        "datatype": "FP32",
        "shape": [1, 2],
        "parameters": {"binary_data_size": 8},
    }
    assert header["outputs"][1] == {"name": "b", "datatype": "INT64", "shape": [1, 1], "data": [7]}
    np.testing.assert_array_equal(np.frombuffer(body[length:], np.float32), a.reshape(-1))


def test_all_json_response_has_no_header_length() -> None:
    request = InferRequest(None, {}, None, False, None)
    body, length = encode_infer_response(
        "m", "1", request, {"y": np.array([[b"hi"]], dtype=object)}
    )
    assert length is None
    assert json.loads(body)["outputs"][0]["data"] == ["hi"]
