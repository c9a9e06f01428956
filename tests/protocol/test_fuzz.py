"""Mutated V2 requests: the parser answers with our own 4xx errors or a valid request,
never anything else. Deterministic (seeded), a few thousand cases."""

from __future__ import annotations

import json
import random
from typing import Any

import numpy as np
import pytest

from tensorgate.errors import InvalidInputError
from tensorgate.protocol.datatypes import encode_binary
from tensorgate.protocol.v2 import parse_header_length, parse_infer_request

ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 2**70, "", "FP32", "BYTES", [], [[]], [-1], [2**40],
    {}, {"binary_data_size": -5}, {"binary_data_size": 2**62}, "\u0000", [1, "a"], 1e308,
]  # fmt: skip


def valid_json_request() -> dict[str, Any]:
    return {
        "id": "r",
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [2, 2], "data": [1.0, 2.0, 3.0, 4.0]},
            {"name": "b", "datatype": "BYTES", "shape": [1], "data": ["x"]},
        ],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        "parameters": {"binary_data_output": False},
    }


def mutate_structure(doc: Any, rng: random.Random) -> Any:
    """Replace one value somewhere in the document with an odd one."""
    if isinstance(doc, dict) and doc:
        key = rng.choice(list(doc))
        copy = dict(doc)
        copy[key] = (
            rng.choice(ODD_VALUES) if rng.random() < 0.4 else mutate_structure(doc[key], rng)
        )
        return copy
    if isinstance(doc, list) and doc:
        index = rng.randrange(len(doc))
        items = list(doc)
        items[index] = (
            rng.choice(ODD_VALUES) if rng.random() < 0.4 else mutate_structure(doc[index], rng)
        )
        return items
    return rng.choice(ODD_VALUES)


def mutate_bytes(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.4 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.7 and data:
            del data[rng.randrange(len(data)) :]
        else:
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
    return bytes(data)


def parse(body: bytes, header: str | None) -> bool:
    """True when the parser accepted the body, False when it refused it with our error;
    any other exception fails the test."""
    try:
        parse_infer_request(body, parse_header_length(header, len(body)))
    except InvalidInputError:
        return False
    return True


@pytest.mark.parametrize("seed", range(4))
def test_structured_mutations_raise_only_our_errors(seed: int) -> None:
    rng = random.Random(seed)
    outcomes = [
        parse(json.dumps(mutate_structure(valid_json_request(), rng)).encode(), None)
        for _ in range(500)
    ]
    # A parser that refused everything (or accepted everything) would fail here.
    assert 0 < outcomes.count(True) < len(outcomes)
    assert parse(json.dumps(valid_json_request()).encode(), None)


@pytest.mark.parametrize("seed", range(4))
def test_byte_mutations_of_binary_requests_raise_only_our_errors(seed: int) -> None:
    rng = random.Random(seed)
    floats = encode_binary(np.arange(4, dtype=np.float32))
    words = encode_binary(np.array([b"ab", b"c"], dtype=object))
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "f",
                    "datatype": "FP32",
                    "shape": [4],
                    "parameters": {"binary_data_size": 16},
                },
                {
                    "name": "s",
                    "datatype": "BYTES",
                    "shape": [2],
                    "parameters": {"binary_data_size": len(words)},
                },
            ]
        }
    ).encode()
    body = header + floats + words
    assert parse(body, str(len(header)))  # the unmutated request is accepted
    accepted = refused = 0
    for _ in range(500):
        mutated = mutate_bytes(body, rng)
        length = (
            str(len(header)) if rng.random() < 0.8 else str(rng.randrange(-5, len(mutated) + 5))
        )
        if parse(mutated, length):
            accepted += 1
        else:
            refused += 1
    assert accepted > 0
    assert refused > 0
    assert accepted + refused == 500
