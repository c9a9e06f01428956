"""Frozen settings of the engine and the server, and where things live on disk.

Settings are plain data; the CLI builds them from its options (which default to
``TENSORGATE_*`` environment variables). Nothing here reads a file or the network.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tensorgate.access import AccessPolicy
from tensorgate.errors import ConfigError
from tensorgate.imaging.spec import ImageLimits
from tensorgate.sources import SourcePolicy

__all__ = [
    "EngineSettings",
    "ServerSettings",
    "default_repository",
    "tensorgate_home",
]

MiB = 1024 * 1024


def tensorgate_home() -> Path:
    """Cache root for exported models and scratch: ``$TENSORGATE_HOME`` or
    ``$XDG_CACHE_HOME/tensorgate`` (``~/.cache/tensorgate``). Never inside a checkout."""
    explicit = os.environ.get("TENSORGATE_HOME")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "tensorgate"


def default_repository() -> Path:
    """The repository that ``tensorgate zoo pull`` fills and ``serve`` uses by default."""
    return tensorgate_home() / "repository"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """How the engine loads and runs models.

    Attributes:
        repository: the model repository directory.
        models: names to load (empty: every model in the repository).
        instances: instances per device for every model, overriding config.yaml.
        device: device for every model (``auto``, ``cpu``, ``cuda:N``), overriding config.
        max_batch_size: overrides every model's max_batch_size (bounded by nothing else).
        max_queue_delay_ms: overrides every model's batching delay.
        request_timeout_s: deadline of a request that names none (504 after it).
        drain_timeout_s: how long stop() lets accepted requests finish.
        decode_threads: image decode pool size (default: the CPU count).
        decode_on: where a CPU model's images are decoded: ``instance`` (on the thread of
            the instance that runs their batch, just before it runs, so decoding never
            time-slices a running batch; for preprocessing of a fixed output shape) or
            ``pool`` (in the decode pool as soon as they arrive). docs/perf.md.
        image_limits: bounds on decoded images.
        pin_threads: pin each CPU instance's thread to one core (round robin).
        sources: which S3 buckets and URLs remote-source requests may read (none).
        memory_budget: bytes of models allowed per device (``cpu``, ``cuda:N``); loading
            past it evicts the least recently used idle model. Absent devices: no limit.
        repository_poll_s: re-read the repository this often (None: never).
        gpu_decode: decode JPEGs on a model's GPU when a GPU JPEG decoder is installed
            (torchvision or nvImageCodec); False keeps every decode on the CPU.
        hang_timeout_s: a batch running longer than this means its instance hangs: the
            model version is replaced by a fresh copy (its requests got 504 at their
            deadlines already). Keep it above the slowest real batch.
        pad_batches: pad each batch with zero rows up to the next power of two (or the
            model's max_batch_size), and run each such size once at load: ``gpu`` (the
            default: models on ``cuda:N``, whose runtimes set up seconds per new batch
            size), ``always`` or ``never`` (batching/buckets.py).
        sessions_per_size: give a padded model's instance one runtime per bucket size:
            ``auto`` (the default: runtimes that set up again at every change of batch
            size, i.e. onnxruntime on its CUDA or TensorRT provider), ``always`` or
            ``never`` (one runtime an instance, which sees every size).
    """

    repository: Path = field(default_factory=default_repository)
    models: tuple[str, ...] = ()
    instances: int | None = None
    device: str | None = None
    max_batch_size: int | None = None
    max_queue_delay_ms: float | None = None
    request_timeout_s: float = 30.0
    drain_timeout_s: float = 30.0
    decode_threads: int | None = None
    decode_on: str = "instance"
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    pin_threads: bool = True
    sources: SourcePolicy = field(default_factory=SourcePolicy)
    memory_budget: Mapping[str, int] = field(default_factory=dict)
    repository_poll_s: float | None = None
    gpu_decode: bool = True
    hang_timeout_s: float = 60.0
    pad_batches: str = "gpu"
    sessions_per_size: str = "auto"

    def __post_init__(self) -> None:
        if self.decode_on not in ("instance", "pool"):
            raise ConfigError(f"decode_on is {self.decode_on!r}; use 'instance' or 'pool'")
        if self.pad_batches not in ("gpu", "always", "never"):
            raise ConfigError(
                f"pad_batches is {self.pad_batches!r}; use 'gpu', 'always' or 'never'"
            )
        if self.sessions_per_size not in ("auto", "always", "never"):
            raise ConfigError(
                f"sessions_per_size is {self.sessions_per_size!r}; use 'auto', 'always' or 'never'"
            )
        if self.hang_timeout_s <= 0:
            raise ConfigError(f"hang_timeout_s is {self.hang_timeout_s}; it must be > 0")
        if self.repository_poll_s is not None and self.repository_poll_s <= 0:
            raise ConfigError(
                f"repository_poll_s is {self.repository_poll_s}; it must be > 0 (or unset)"
            )
        if self.instances is not None and self.instances < 1:
            raise ConfigError(f"instances is {self.instances}; it must be at least 1")
        if self.max_batch_size is not None and self.max_batch_size < 1:
            raise ConfigError(f"max_batch_size is {self.max_batch_size}; it must be at least 1")
        if self.max_queue_delay_ms is not None and self.max_queue_delay_ms < 0:
            raise ConfigError(f"max_queue_delay_ms is {self.max_queue_delay_ms}; it must be >= 0")
        if self.request_timeout_s <= 0:
            raise ConfigError(f"request_timeout_s is {self.request_timeout_s}; it must be > 0")
        if self.drain_timeout_s < 0:
            raise ConfigError(f"drain_timeout_s is {self.drain_timeout_s}; it must be >= 0")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the HTTP server listens and what it accepts.

    Attributes:
        host: bind address; 127.0.0.1 by default. Any other needs ``auth_token``.
        port: TCP port (0 picks a free one and reports it).
        auth_token: bearer token required on every route but health when set.
        allow_unauthenticated: serve a non-loopback address without a token; only for a
            server that something in front authenticates for (a service mesh, KServe).
        max_image_bytes: raw or multipart image body limit (413 above).
        max_json_bytes: JSON V2 body limit (413 above).
        max_tensor_bytes: V2 body limit with the binary tensor extension (413 above).
        max_images_per_request: images in one classify request at most.
        model_control: serve repository load / unload (HTTP and gRPC); needs a token.
        control_token: bearer token of load / unload (None: ``auth_token``).
        grpc_port: port of the gRPC door (0 picks a free one; None: no gRPC).
        shutdown_delay_s: after SIGTERM, keep serving this long with readiness off
            (so load balancers stop sending) before refusing new requests and draining.
        header_timeout_s: a request's headers must arrive within this many seconds of
            its first byte (or of the connection opening), else 408 and close.
        access_log: one JSON line per HTTP request on the ``tensorgate.access`` logger.
        tracing: OpenTelemetry spans per request and stage, exported as the ``OTEL_*``
            variables say (``tensorgate.tracing``; the ``tracing`` extra).
        reuse_port: bind both ports with ``SO_REUSEPORT``, so that several server
            processes share them and the kernel spreads connections over them (set by
            ``serve --workers``).
        infer_lane: answer plain V2 infer requests from the HTTP parser's callbacks,
            without ASGI (``tensorgate.server.lane``); off: every request takes the
            ASGI path.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    auth_token: str | None = None
    allow_unauthenticated: bool = False
    max_image_bytes: int = 20 * MiB
    max_json_bytes: int = 10 * MiB
    max_tensor_bytes: int = 64 * MiB
    max_images_per_request: int = 64
    model_control: bool = False
    control_token: str | None = None
    grpc_port: int | None = None
    shutdown_delay_s: float = 0.0
    header_timeout_s: float = 10.0
    access_log: bool = True
    tracing: bool = False
    reuse_port: bool = False
    infer_lane: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port is {self.port}; it must be 0–65535")
        if self.grpc_port is not None and not 0 <= self.grpc_port <= 65535:
            raise ConfigError(f"grpc_port is {self.grpc_port}; it must be 0–65535")
        if self.shutdown_delay_s < 0:
            raise ConfigError(f"shutdown_delay_s is {self.shutdown_delay_s}; it must be >= 0")
        self.access  # noqa: B018 (validates the token settings)
        if not self.is_loopback and not self.auth_token and not self.allow_unauthenticated:
            raise ConfigError(
                f"host {self.host!r} is not a loopback address; binding it exposes the server, "
                "so set an auth token (--auth-token or TENSORGATE_AUTH_TOKEN), bind 127.0.0.1, or "
                "say --allow-unauthenticated when a mesh or gateway authenticates in front"
            )

    @property
    def access(self) -> AccessPolicy:
        """The token policy both doors enforce."""
        return AccessPolicy(self.auth_token, self.model_control, self.control_token)

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
