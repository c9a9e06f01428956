"""The infer lane (server/lane.py) against real servers over loopback: the same answers
as the ASGI route, byte for byte; pipelined requests in order; refusals; the requests
it leaves to the ASGI path; its access-log line."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as httpclient

from tensorgate import Engine, EngineSettings
from tensorgate.config import ServerSettings
from tensorgate.server.lane import Admitted, InferLane, LaneRequest
from tensorgate.server.process import ServerProcess, spawn_server
from tensorgate.server.sending import Sender
from tests.helpers import build_test_repository

TOKEN = "lane-secret"
X = np.arange(16, dtype=np.float32).reshape(1, 16)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, lite0_dir: Path) -> Path:
    return build_test_repository(tmp_path_factory.mktemp("lane") / "repo", lite0_dir)


@pytest.fixture(scope="module")
def servers(repo: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    args = ("--grpc-port", "-1", "--instances", "1")
    with spawn_server(repo, *args) as lane, spawn_server(repo, *args, "--no-infer-lane") as asgi:
        yield lane, asgi


def binary_request(model: str = "add_sub_fp32") -> bytes:
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": [1, 16],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 64},
                }
                for name in ("INPUT0", "INPUT1")
            ],
            "outputs": [{"name": "OUTPUT0", "parameters": {"binary_data": True}}],
        }
    ).encode()
    return (
        b"POST /v2/models/%s/infer HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n"
        b"inference-header-content-length: %d\r\n\r\n%s%s%s"
        % (model.encode(), len(header) + 128, len(header), header, X.tobytes(), X.tobytes())
    )


def json_request(path: str, body: bytes, *extra: bytes) -> bytes:
    head = b"POST %s HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n" % (path.encode(), len(body))
    return head + b"".join(h + b"\r\n" for h in extra) + b"\r\n" + body


def exchange(server: ServerProcess, data: bytes, answers: int = 1) -> list[bytes]:
    """Send ``data`` at once on one connection; the ``answers`` responses, whole."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(data)
        stream = connection.makefile("rb")
        out = []
        for _ in range(answers):
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += stream.readline()
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            out.append(head + stream.read(length))
        return out


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


def test_the_lane_answers_as_the_asgi_route_does(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    lane, asgi = servers
    valid = json.dumps(
        {
            "inputs": [
                {"name": n, "shape": [1, 16], "datatype": "FP32", "data": X[0].tolist()}
                for n in ("INPUT0", "INPUT1")
            ]
        }
    ).encode()
    requests = [
        binary_request(),
        json_request("/v2/models/add_sub_fp32/infer", valid),
        json_request("/v2/models/add_sub_fp32/infer", b"not json"),
        json_request("/v2/models/missing/infer", valid),
        json_request("/v2/models/add_sub_fp32/versions/0/infer", valid),
        json_request("/v2/models/add_sub_fp32/versions/7/infer", valid),
        json_request("/v2/models/add_sub_fp32/infer", valid.replace(b"[1, 16]", b"[1, 15]")),
    ]
    for request in requests:
        (ours,), (theirs,) = exchange(lane, request), exchange(asgi, request)
        assert (status(ours), body(ours)) == (status(theirs), body(theirs)), request[:60]
    answers = [status(exchange(lane, r)[0]) for r in requests]
    assert answers == [200, 200, 400, 404, 400, 404, 400]
    result = httpclient.InferenceServerClient(lane.host_port).infer(
        "add_sub_fp32",
        [
            httpclient.InferInput(n, [1, 16], "FP32").set_data_from_numpy(X)
            for n in ("INPUT0", "INPUT1")
        ],
    )
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), X + X)


def test_the_lane_answers_image_tasks_as_their_routes_do(
    servers: tuple[ServerProcess, ServerProcess], cat_jpeg: bytes
) -> None:
    lane, asgi = servers
    classify = "/v2/models/efficientnet-lite0/classify"
    boundary = b"lane-boundary"
    form = (
        b"--%s\r\ncontent-disposition: form-data; name=image; filename=cat.jpg\r\n"
        b"content-type: image/jpeg\r\n\r\n%s\r\n--%s--\r\n" % (boundary, cat_jpeg, boundary)
    )
    requests = [
        json_request(classify + "?top_k=2", cat_jpeg),
        json_request(classify, cat_jpeg),
        json_request("/v2/models/efficientnet-lite0/versions/1/classify?top_k=1", cat_jpeg),
        json_request(classify + "?top_k=0", cat_jpeg),
        json_request(classify + "?top_k=2&top_k=x", cat_jpeg),
        json_request(classify, b"not an image"),
        json_request("/v2/models/missing/classify", cat_jpeg),
        json_request("/v2/models/add_sub_fp32/classify", cat_jpeg),
        json_request(
            classify, form, b"content-type: multipart/form-data; boundary=" + boundary
        ),  # the ASGI path in both
    ]
    for request in requests:
        (ours,), (theirs,) = exchange(lane, request), exchange(asgi, request)
        assert (status(ours), body(ours)) == (status(theirs), body(theirs)), request[:80]
    answers = [status(exchange(lane, r)[0]) for r in requests]
    assert answers == [200, 200, 200, 400, 400, 400, 404, 400, 200]
    first = json.loads(body(exchange(lane, requests[0])[0]))
    labels = [p["label"] for p in first["results"][0]["predictions"]]
    assert len(labels) == 2
    assert "Egyptian cat" in labels


def test_pipelined_requests_are_answered_in_order(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    lane, _ = servers
    probe = b"GET /v2/health/ready HTTP/1.1\r\nhost: t\r\n\r\n"
    bad = json_request("/v2/models/add_sub_fp32/infer", b"{}")
    answers = exchange(lane, binary_request() + probe + bad + binary_request(), answers=4)
    assert [status(a) for a in answers] == [200, 200, 400, 200]
    assert b"inputs" in body(answers[2])


def test_a_body_over_the_limit_is_refused_and_the_connection_closed(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    lane, _ = servers
    head = b"POST /v2/models/add_sub_fp32/infer HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n\r\n"
    (answer,) = exchange(lane, head % (64 * 1024 * 1024))  # the JSON limit is 10 MiB
    assert status(answer) == 413
    assert b"connection: close" in answer.lower()
    assert b"the limit is 10,485,760" in body(answer)


def test_what_the_lane_leaves_to_the_asgi_path_is_still_answered(repo: Path) -> None:
    # A wrong token, Expect: 100-continue and an escaped path take the ASGI path.
    with spawn_server(repo, "--grpc-port", "-1", "--instances", "1", "--auth-token", TOKEN) as s:
        request = binary_request()
        (refused,) = exchange(s, request)
        assert status(refused) == 401
        assert b"www-authenticate: bearer" in refused.lower()
        auth = b"authorization: Bearer %s\r\n" % TOKEN.encode()
        authorised = request.replace(b"host: t\r\n", b"host: t\r\n" + auth)
        assert status(exchange(s, authorised)[0]) == 200
        escaped = authorised.replace(b"/add_sub_fp32/", b"/add%5Fsub_fp32/")
        assert status(exchange(s, escaped)[0]) == 200
        head, payload = authorised.split(b"\r\n\r\n", 1)
        port = int(s.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(head + b"\r\nexpect: 100-continue\r\n\r\n")
            stream = connection.makefile("rb")
            assert stream.readline().startswith(b"HTTP/1.1 100 ")
            assert stream.readline() == b"\r\n"
            connection.sendall(payload)
            assert stream.readline().startswith(b"HTTP/1.1 200 ")
    lines = [json.loads(line) for line in s.output if '"tensorgate.access"' in line]
    taken = [(line["status"], line["lane"]) for line in lines if line["path"].endswith("/infer")]
    # refused, authorised, escaped, expecting: only the plain authorised one took the lane
    assert taken == [(401, False), (200, True), (200, False), (200, False)]


def test_the_access_log_has_the_lane_s_requests(repo: Path, cat_jpeg: bytes) -> None:
    classify = json_request("/v2/models/efficientnet-lite0/classify", cat_jpeg)
    with spawn_server(repo, "--grpc-port", "-1", "--instances", "1") as server:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as gone:
            gone.sendall(binary_request()[:-100])  # hangs up before its body is all in
        assert status(exchange(server, binary_request())[0]) == 200
        assert status(exchange(server, json_request("/v2/models/nope/infer", b"{}"))[0]) == 400
        assert status(exchange(server, classify)[0]) == 200
    lines = [json.loads(line) for line in server.output if '"tensorgate.access"' in line]
    (image,) = (line for line in lines if line["path"].endswith("/classify"))
    infer = [line for line in lines if line["path"].endswith("/infer")]
    assert [(line["status"], line["lane"]) for line in infer].count((499, True)) == 1
    assert (image["status"], image["lane"], image["bytes_in"]) == (200, True, len(cat_jpeg))
    assert image["decode_ms"] > 0
    assert image["compute_ms"] > 0
    ok, bad = (line for line in infer if line["status"] != 499)
    assert (ok["status"], ok["model"], ok["batch"], ok["instance"]) == (200, "add_sub_fp32", 1, 0)
    assert ok["bytes_in"] == len(body(binary_request()))
    assert ok["bytes_out"] > 64
    assert ok["compute_ms"] > 0
    assert (bad["status"], bad["model"]) == (400, "nope")
    assert ok["lane"] is True
    assert bad["lane"] is True


async def test_a_body_that_does_not_arrive_in_time_is_a_408(tmp_path: Path) -> None:
    # The lane's body deadline, fired by hand (its timer would take 30 s).
    written: list[bytes] = []
    closed: list[bool] = []

    class Transport:
        def writelines(self, parts: list[bytes]) -> None:
            written.append(b"".join(parts))

        def is_closing(self) -> bool:
            return bool(closed)

        def close(self) -> None:
            closed.append(True)

        def get_extra_info(self, name: str, default: object = None) -> object:
            return default  # no socket: the sender hands every write to the transport

    lane = InferLane(Engine(EngineSettings(repository=tmp_path)), ServerSettings(access_log=False))
    done: list[bool] = []
    headers = {b"content-length": "100"}
    transport = Transport()
    request = LaneRequest(
        lane,
        transport,  # type: ignore[arg-type]
        Sender(transport),  # type: ignore[arg-type]
        [],
        lambda: done.append(True),
        set(),
        Admitted("m", None, None, headers),
        "/v2/models/m/infer",
        keep_alive=True,
    )
    request.feed(b"{")
    request._too_slow()
    assert written[0].startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"did not arrive within 30 s (1 bytes came)" in written[0]
    assert b"connection: close" in written[0]
    assert closed
    assert done
    request.complete()  # a body that ends after its answer starts nothing
    await asyncio.sleep(0)
    assert len(written) == 1
