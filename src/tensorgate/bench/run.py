"""Drive a running server: a concurrency sweep (closed loop) and Poisson rates (open
loop), over HTTP or gRPC, with tensor or image payloads; one ``Step`` per level.

Closed loop: C callers, each with one request in flight, as perf_analyzer's
concurrency mode. Open loop: requests leave at the times of a seeded Poisson process
whatever the server does, and latency is counted from the scheduled time, so a server
that falls behind shows it (no coordinated omission). The server's own statistics are
read before and after each step for the queue / compute split.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import aiohttp
import numpy as np

from tensorgate.bench.stats import Latency, ServerSplit, arrivals, latency, server_split
from tensorgate.client._common import encode_infer_request
from tensorgate.errors import ConfigError, TensorgateError
from tensorgate.protocol.datatypes import datatype_of, numpy_dtype

__all__ = ["BenchConfig", "Step", "best_within", "image_request", "run_bench"]

Send = Callable[[], Awaitable[None]]
#: Open-loop requests allowed in flight before new ones count as dropped.
MAX_IN_FLIGHT = 4096
#: How long a closed-loop caller waits after a failed request before the next.
ERROR_BACKOFF_S = 0.1


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to load and how.

    Attributes:
        url: the server's HTTP base URL (statistics are always read over HTTP).
        model: the model to call.
        protocol: ``http`` or ``grpc``.
        payload: ``tensor`` (random rows of the model's input) or ``image`` (a JPEG to
            ``/classify``; HTTP only).
        grpc_url: ``host:port`` of the gRPC door (protocol ``grpc``).
        image: the encoded image (payload ``image``).
        rows: rows per tensor request, or images per image request (the same image
            ``rows`` times: as many file parts of a form, or a ``[rows, 1]`` V2 tensor).
        seconds: measured time per step (after ``warmup_s``).
        concurrency: closed-loop levels; rates: open-loop levels (requests/s).
        endpoint: for image payloads, the path the image is POSTed to (default
            tensorgate's ``/v2/models/{model}/classify``, or ``/v2/models/{model}/infer``
            with ``image_as="v2"``; another server's route, such as TorchServe's
            ``/predictions/NAME``, to load it the same way).
        image_as: how an image payload travels: ``body`` (the raw bytes are the request
            body), ``form`` (one file part named ``field`` of a multipart/form-data body,
            as an HTML upload) or ``v2`` (a ``[rows, 1]`` BYTES tensor named ``field`` in a
            KServe V2 infer request, binary extension, as Triton takes encoded images).
        field: the form field or V2 input name for ``image_as`` ``form`` / ``v2``.
    """

    url: str
    model: str
    protocol: Literal["http", "grpc"] = "http"
    payload: Literal["tensor", "image"] = "tensor"
    grpc_url: str | None = None
    image: bytes | None = None
    rows: int = 1
    seconds: float = 5.0
    warmup_s: float = 1.0
    concurrency: tuple[int, ...] = (1, 2, 4, 8)
    rates: tuple[float, ...] = ()
    seed: int = 0
    timeout_s: float = 30.0
    endpoint: str | None = None
    image_as: Literal["body", "form", "v2"] = "body"
    field: str = "image"

    def __post_init__(self) -> None:
        if self.protocol not in ("http", "grpc"):
            raise ConfigError(f"protocol {self.protocol!r} is unknown; use http or grpc")
        if self.payload not in ("tensor", "image"):
            raise ConfigError(f"payload {self.payload!r} is unknown; use tensor or image")
        if self.payload == "image" and self.protocol == "grpc":
            raise ConfigError("gRPC carries tensors only here; image payloads go over http")
        if self.payload == "image" and not self.image:
            raise ConfigError("image payloads need an image: pass --image FILE")
        if not self.concurrency and not self.rates:
            raise ConfigError("give at least one concurrency level or one request rate")
        if any(c < 1 for c in self.concurrency) or any(r <= 0 for r in self.rates):
            raise ConfigError("concurrency levels must be ≥ 1 and rates > 0")
        if self.endpoint is not None and (
            self.payload != "image" or not self.endpoint.startswith("/")
        ):
            raise ConfigError(
                f"endpoint {self.endpoint!r}: give a path starting with / for image payloads"
            )
        if self.image_as not in ("body", "form", "v2"):
            raise ConfigError(f"image_as {self.image_as!r} is unknown; use body, form or v2")
        if self.image_as != "body" and (self.payload != "image" or not self.field):
            raise ConfigError(f"image_as {self.image_as!r} needs an image payload and a field name")
        if self.payload == "image" and self.image_as == "body" and self.rows > 1:
            raise ConfigError(
                f"a raw body carries one image, not rows={self.rows}; send several images "
                "per request with image_as 'form' or 'v2'"
            )
        if self.rows < 1 or self.seconds <= 0 or self.warmup_s < 0:
            raise ConfigError("rows must be ≥ 1, seconds > 0 and warm-up ≥ 0")


@dataclass(frozen=True, slots=True)
class Step:
    """One level's result."""

    mode: Literal["closed", "open"]
    level: float
    protocol: str
    payload: str
    requests: int
    errors: int
    seconds: float
    images_per_s: float
    latency: Latency
    server: ServerSplit
    first_error: str = field(default="")

    def flat(self) -> dict[str, Any]:
        """One flat record for CSV / JSON."""
        record = asdict(self)
        lat, server = record.pop("latency"), record.pop("server")
        record.update({f"{k}_ms": v for k, v in lat.items()})
        record.update(
            {
                "server_requests": server["requests"],
                "server_queue_ms": server["queue_ms"],
                "server_compute_ms": server["compute_ms"],
                "server_batch_size": server["batch_size"],
            }
        )
        return record


def best_within(steps: Sequence[Step], p99_target_ms: float | None) -> Step | None:
    """The closed-loop step with the highest throughput among those that answered
    without errors and, given a target, with p99 within it; None if there is none."""
    fitting = [
        s
        for s in steps
        if s.mode == "closed"
        and s.requests
        and not s.errors
        and (p99_target_ms is None or s.latency.p99 <= p99_target_ms)
    ]
    return max(fitting, key=lambda s: s.images_per_s) if fitting else None


class _Tally:
    """Latencies of answered requests, and failures with the first one's message."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.first_error = ""

    def fail(self, message: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or message[:300]


async def _tensor_request(
    client: aiohttp.ClientSession, config: BenchConfig
) -> tuple[str, np.ndarray]:
    async with client.get(f"{config.url}/v2/models/{config.model}") as answer:
        text = await answer.text()
        if answer.status != 200:
            raise ConfigError(
                f"{config.url}: model {config.model!r} answered {answer.status}: {text[:200]}"
            )
    (spec, *others) = json.loads(text)["inputs"]
    if others:
        raise ConfigError(
            f"model {config.model!r} has several inputs; bench sends one-input models"
        )
    dims = [int(d) for d in spec["shape"][1:]]
    if any(d < 0 for d in dims):
        raise ConfigError(
            f"model {config.model!r} input {spec['name']!r} has variable dims {spec['shape']}"
        )
    generator = np.random.default_rng(config.seed)
    rows = generator.standard_normal((config.rows, *dims)).astype(numpy_dtype(spec["datatype"]))
    return str(spec["name"]), rows


def image_request(config: BenchConfig) -> tuple[str, bytes, dict[str, str]]:
    """The path, body and headers of one image request as ``config.image_as`` says."""
    assert config.image is not None  # checked by BenchConfig
    if config.image_as == "v2":
        path = config.endpoint or f"/v2/models/{config.model}/infer"
        tensor = np.empty((config.rows, 1), dtype=object)  # an image per row
        tensor[:, 0] = [config.image] * config.rows
        body, headers = encode_infer_request({config.field: tensor})
        return path, body, headers
    path = config.endpoint or f"/v2/models/{config.model}/classify?top_k=1"
    if config.image_as == "form":
        boundary = "tensorgate-bench-" + hashlib.sha1(config.image).hexdigest()[:16]
        head = (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{config.field}"; filename="image.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        body = b"\r\n".join([head + config.image] * config.rows)
        body += f"\r\n--{boundary}--\r\n".encode()
        return path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return path, config.image, {"Content-Type": "application/octet-stream"}


async def _http_sender(client: aiohttp.ClientSession, config: BenchConfig) -> Send:
    if config.payload == "image":
        path, body, headers = image_request(config)
    else:
        name, rows = await _tensor_request(client, config)
        path = f"/v2/models/{config.model}/infer"
        body, headers = encode_infer_request({name: rows})  # binary tensor extension

    url = f"{config.url}{path}"

    async def send() -> None:
        async with client.post(url, data=body, headers=headers) as response:
            answer = await response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {answer[:200]!r}")

    return send


async def _grpc_sender(
    client: aiohttp.ClientSession, config: BenchConfig
) -> tuple[Send, Callable[[], Awaitable[None]]]:
    if not config.grpc_url:
        raise ConfigError("gRPC needs the server's gRPC address: pass --grpc-url HOST:PORT")
    try:
        import tritonclient.grpc.aio as grpcclient
    except ImportError:
        raise ConfigError(
            "gRPC load needs tritonclient[grpc]: pip install 'tensorgate[grpc]'"
        ) from None
    name, rows = await _tensor_request(client, config)
    triton = grpcclient.InferenceServerClient(config.grpc_url)
    tensor = grpcclient.InferInput(name, list(rows.shape), datatype_of(rows))
    tensor.set_data_from_numpy(rows)

    async def send() -> None:
        await triton.infer(config.model, [tensor], client_timeout=config.timeout_s)

    return send, triton.close


async def _closed(send: Send, concurrency: int, seconds: float) -> tuple[_Tally, float]:
    tally = _Tally()
    started = time.perf_counter()
    stop_at = started + seconds

    async def caller() -> None:
        while time.perf_counter() < stop_at:
            begun = time.perf_counter()
            try:
                await send()
            except Exception as exc:  # counted, never fatal: the load goes on
                tally.fail(f"{type(exc).__name__}: {exc}")
                # A refused caller backs off (as a client honouring Retry-After would)
                # rather than turning the level into a storm of rejections.
                await asyncio.sleep(ERROR_BACKOFF_S)
                continue
            tally.latencies.append(time.perf_counter() - begun)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return tally, time.perf_counter() - started


async def _open(send: Send, rate: float, seconds: float, seed: int) -> tuple[_Tally, float]:
    schedule = arrivals(rate, seconds, seed)
    tally = _Tally()
    in_flight: set[asyncio.Task[None]] = set()
    started = time.perf_counter()

    async def one(due: float) -> None:
        try:
            await send()
        except Exception as exc:
            tally.fail(f"{type(exc).__name__}: {exc}")
            return
        tally.latencies.append(time.perf_counter() - due)

    for offset in schedule:
        due = started + float(offset)
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= MAX_IN_FLIGHT:
            tally.fail(f"dropped: {MAX_IN_FLIGHT} requests already in flight")
            continue
        task = asyncio.create_task(one(due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    return tally, time.perf_counter() - started


async def _stats(client: aiohttp.ClientSession, url: str, model: str) -> dict[str, Any]:
    """The model's V2 statistics; empty (the split unknown) if they cannot be read."""
    try:
        async with client.get(f"{url}/v2/models/{model}/stats") as answer:
            return dict(await answer.json()) if answer.status == 200 else {}
    except (aiohttp.ClientError, TimeoutError):
        return {}


async def _run(config: BenchConfig, on_step: Callable[[Step], None] | None) -> list[Step]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=config.timeout_s)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        close: Callable[[], Awaitable[None]] | None = None
        if config.protocol == "grpc":
            send, close = await _grpc_sender(client, config)
        else:
            send = await _http_sender(client, config)
        rows = config.rows  # rows or images per request
        levels: list[tuple[Literal["closed", "open"], float]] = [
            ("closed", c) for c in config.concurrency
        ]
        levels += [("open", r) for r in config.rates]
        steps: list[Step] = []
        try:
            for mode, level in levels:
                if config.warmup_s > 0:
                    await _closed(
                        send, max(1, int(level) if mode == "closed" else 2), config.warmup_s
                    )
                before = await _stats(client, config.url, config.model)
                if mode == "closed":
                    tally, elapsed = await _closed(send, int(level), config.seconds)
                else:
                    tally, elapsed = await _open(send, level, config.seconds, config.seed)
                after = await _stats(client, config.url, config.model)
                done = tally.latencies
                step = Step(
                    mode,
                    level,
                    config.protocol,
                    config.payload,
                    len(done),
                    tally.errors,
                    elapsed,
                    len(done) * rows / elapsed,
                    latency(done),
                    server_split(before, after),
                    tally.first_error,
                )
                steps.append(step)
                if on_step is not None:
                    on_step(step)
        finally:
            if close is not None:
                await close()
        return steps


def run_bench(config: BenchConfig, on_step: Callable[[Step], None] | None = None) -> list[Step]:
    """Run every level of ``config`` against the server; ``on_step`` sees each as it ends.

    Raises:
        ConfigError: an unusable combination (gRPC images, no image, unknown model).
    """
    try:
        return asyncio.run(_run(config, on_step))
    except (aiohttp.ClientError, OSError) as exc:
        raise ConfigError(
            f"cannot reach {config.url}: {type(exc).__name__}: {exc}; is the server running?"
        ) from None
    except TensorgateError:
        raise
