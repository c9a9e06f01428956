"""Garbage and mutated requests over the real server: always a 4xx with an error
message, and the server keeps answering good requests."""

from __future__ import annotations

import json
import random

import httpx
import numpy as np

from tensorgate.server.process import ServerProcess


def mutated(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 6)):
        if data and rng.random() < 0.5:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif data:
            del data[rng.randrange(len(data)) :]
    return bytes(data)


def test_mutated_requests_get_4xx_and_the_server_survives(
    server: ServerProcess, cat_jpeg: bytes
) -> None:
    rng = random.Random(11)
    a = np.ones((2, 16), np.float32)
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": n,
                    "datatype": "FP32",
                    "shape": [2, 16],
                    "parameters": {"binary_data_size": 128},
                }
                for n in ("INPUT0", "INPUT1")
            ]
        }
    ).encode()
    infer_body = header + a.tobytes() + a.tobytes()
    json_body = json.dumps(
        {
            "inputs": [
                {"name": n, "datatype": "FP32", "shape": [1, 16], "data": [0.5] * 16}
                for n in ("INPUT0", "INPUT1")
            ]
        }
    ).encode()
    statuses: set[int] = set()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(300):
            kind = i % 3
            if kind == 0:
                body = mutated(infer_body, rng)
                headers = {
                    "Inference-Header-Content-Length": str(
                        len(header) if rng.random() < 0.7 else rng.randrange(-3, 400)
                    )
                }
                response = client.post(
                    "/v2/models/add_sub_fp32/infer", content=body, headers=headers
                )
            elif kind == 1:
                response = client.post(
                    "/v2/models/add_sub_fp32/infer", content=mutated(json_body, rng)
                )
            else:
                response = client.post(
                    "/v2/models/efficientnet-lite0/classify", content=mutated(cat_jpeg[:4096], rng)
                )
            statuses.add(response.status_code)
            if response.status_code != 200:
                assert 400 <= response.status_code < 500, response.text
                assert response.json()["error"]
        good = client.post("/v2/models/efficientnet-lite0/classify", content=cat_jpeg)
        assert good.status_code == 200
    assert statuses - {200} <= {400, 413, 415}
    # Both outcomes happened: a server that refused (or accepted) everything fails here.
    assert 200 in statuses
    assert statuses - {200}
