"""``tensorgate serve``: a model repository over HTTP and gRPC."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from tensorgate.cli._shared import pull_named_zoo_models
from tensorgate.config import EngineSettings, ServerSettings, default_repository

__all__ = ["serve"]


class DecodeOn(enum.StrEnum):
    """Where a CPU model's images are decoded (EngineSettings.decode_on)."""

    instance = "instance"
    pool = "pool"


class PadBatches(enum.StrEnum):
    """Which models' batches are padded to bucket sizes (EngineSettings.pad_batches)."""

    gpu = "gpu"
    always = "always"
    never = "never"


class SessionsPerSize(enum.StrEnum):
    """Which padded models get a runtime per bucket size (EngineSettings.sessions_per_size)."""

    auto = "auto"
    always = "always"
    never = "never"


def serve(
    repository: Annotated[
        Path | None,
        typer.Argument(
            envvar="TENSORGATE_REPOSITORY", help="Model repository (default: the zoo's cache)."
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(envvar="TENSORGATE_HOST", help="Bind address.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="TENSORGATE_PORT", help="TCP port (0: any free one).")
    ] = 8000,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            envvar="TENSORGATE_MODELS",
            help="Load only these models (repeatable); a zoo model missing from the "
            "repository is pulled first (NAME-pytorch: its torch.export form).",
        ),
    ] = None,
    instances: Annotated[
        int | None,
        typer.Option(
            envvar="TENSORGATE_INSTANCES",
            help="Instances per device for every model (default: config, else one per core).",
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(envvar="TENSORGATE_DEVICE", help="auto, cpu or cuda:N for every model."),
    ] = None,
    max_batch_size: Annotated[
        int | None,
        typer.Option(
            envvar="TENSORGATE_MAX_BATCH_SIZE", help="Override every model's max_batch_size."
        ),
    ] = None,
    max_queue_delay_ms: Annotated[
        float | None,
        typer.Option(
            envvar="TENSORGATE_MAX_QUEUE_DELAY_MS",
            help="Override every model's batching delay, in ms.",
        ),
    ] = None,
    decode_threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            envvar="TENSORGATE_DECODE_THREADS",
            help="Image decode threads (default: one per CPU core).",
        ),
    ] = None,
    decode_on: Annotated[
        DecodeOn,
        typer.Option(
            envvar="TENSORGATE_DECODE_ON",
            help="Decode a CPU model's images on the instance thread that runs their batch "
            "('instance'), or in the decode pool as they arrive ('pool').",
        ),
    ] = DecodeOn.instance,
    pad_batches: Annotated[
        PadBatches,
        typer.Option(
            envvar="TENSORGATE_PAD_BATCHES",
            help="Pad batches with zero rows to the next power of two (each size run once "
            "at load): 'gpu' models only (their runtimes set up seconds per new batch "
            "size), 'always' or 'never'.",
        ),
    ] = PadBatches.gpu,
    sessions_per_size: Annotated[
        SessionsPerSize,
        typer.Option(
            envvar="TENSORGATE_SESSIONS_PER_SIZE",
            help="Give a padded model's instance one runtime per bucket size: 'auto' "
            "(runtimes that set up again at every change of batch size: onnxruntime on "
            "CUDA or TensorRT), 'always' or 'never'.",
        ),
    ] = SessionsPerSize.auto,
    request_timeout: Annotated[
        float,
        typer.Option(
            envvar="TENSORGATE_REQUEST_TIMEOUT", help="Request deadline in seconds (504 after)."
        ),
    ] = 30.0,
    auth_token: Annotated[
        str | None, typer.Option(envvar="TENSORGATE_AUTH_TOKEN", help="Require this bearer token.")
    ] = None,
    allow_unauthenticated: Annotated[
        bool,
        typer.Option(
            "--allow-unauthenticated",
            envvar="TENSORGATE_ALLOW_UNAUTHENTICATED",
            help="Bind a non-loopback address without a token (a mesh or gateway "
            "authenticates in front, as on KServe).",
        ),
    ] = False,
    log_level: Annotated[
        str,
        typer.Option(envvar="TENSORGATE_LOG_LEVEL", help="debug shows per-batch device time."),
    ] = "info",
    s3_allow: Annotated[
        list[str] | None,
        typer.Option(
            "--s3-allow",
            envvar="TENSORGATE_S3_ALLOW",
            help="BUCKET or BUCKET/PREFIX remote sources may read.",
        ),
    ] = None,
    s3_endpoint: Annotated[
        str | None, typer.Option(envvar="TENSORGATE_S3_ENDPOINT", help="S3-compatible endpoint.")
    ] = None,
    s3_region: Annotated[
        str | None, typer.Option(envvar="TENSORGATE_S3_REGION", help="S3 region name.")
    ] = None,
    allow_urls: Annotated[
        bool,
        typer.Option(
            "--allow-urls",
            envvar="TENSORGATE_ALLOW_URLS",
            help="Let remote sources fetch https:// URLs.",
        ),
    ] = False,
    url_allow_http: Annotated[
        bool,
        typer.Option(
            "--url-allow-http", envvar="TENSORGATE_URL_ALLOW_HTTP", help="Also plain http:// URLs."
        ),
    ] = False,
    url_trust_network: Annotated[
        list[str] | None,
        typer.Option(
            envvar="TENSORGATE_URL_TRUST_NETWORK",
            help="CIDR trusted even though not public (repeatable).",
        ),
    ] = None,
    grpc_port: Annotated[
        int,
        typer.Option(
            envvar="TENSORGATE_GRPC_PORT", help="gRPC port (0: any free one; -1: no gRPC)."
        ),
    ] = 8001,
    model_control: Annotated[
        bool,
        typer.Option(
            "--model-control",
            envvar="TENSORGATE_MODEL_CONTROL",
            help="Serve repository load/unload (needs --control-token).",
        ),
    ] = False,
    control_token: Annotated[
        str | None,
        typer.Option(
            envvar="TENSORGATE_CONTROL_TOKEN",
            help="Bearer token of load/unload (default: --auth-token).",
        ),
    ] = None,
    memory_budget: Annotated[
        list[str] | None,
        typer.Option(
            "--memory-budget",
            envvar="TENSORGATE_MEMORY_BUDGET",
            help="Model memory per device: 4GiB (cpu) or cuda:0=20GiB (repeatable).",
        ),
    ] = None,
    repository_poll: Annotated[
        float | None,
        typer.Option(
            "--repository-poll",
            envvar="TENSORGATE_REPOSITORY_POLL",
            help="Re-read the repository every SECONDS (new models and versions load).",
        ),
    ] = None,
    shutdown_delay: Annotated[
        float,
        typer.Option(
            envvar="TENSORGATE_SHUTDOWN_DELAY",
            help="After SIGTERM, seconds to keep serving with readiness off.",
        ),
    ] = 0.0,
    drain_timeout: Annotated[
        float,
        typer.Option(
            envvar="TENSORGATE_DRAIN_TIMEOUT",
            help="After the shutdown delay, seconds accepted requests may take to finish.",
        ),
    ] = 30.0,
    header_timeout: Annotated[
        float,
        typer.Option(
            envvar="TENSORGATE_HEADER_TIMEOUT",
            help="Seconds a request's headers may take to arrive (else 408).",
        ),
    ] = 10.0,
    no_access_log: Annotated[
        bool,
        typer.Option(
            "--no-access-log",
            envvar="TENSORGATE_NO_ACCESS_LOG",
            help="Drop the JSON line per request (model, status, bytes, stage ms).",
        ),
    ] = False,
    no_infer_lane: Annotated[
        bool,
        typer.Option(
            "--no-infer-lane",
            envvar="TENSORGATE_NO_INFER_LANE",
            help="Send V2 infer through the ASGI app too (the lane answers plain ones "
            "from the HTTP parser).",
        ),
    ] = False,
    tracing: Annotated[
        bool,
        typer.Option(
            "--tracing",
            envvar="TENSORGATE_TRACING",
            help="OpenTelemetry spans per request and stage, exported as OTEL_* say.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="TENSORGATE_WORKERS",
            help="Server processes sharing the ports (SO_REUSEPORT), each pinned to its "
            "share of the cores and of --memory-budget; past one process's GIL ceiling.",
        ),
    ] = 1,
) -> None:
    """Serve a model repository over HTTP (KServe V2 and /classify) and gRPC."""
    from tensorgate.server.runner import serve as run_server
    from tensorgate.sources import S3Policy, SourcePolicy, UrlPolicy

    sources = SourcePolicy(
        urls=UrlPolicy(
            enabled=allow_urls,
            schemes=("https", "http") if url_allow_http else ("https",),
            allow_networks=tuple(url_trust_network or ()),
        ),
        s3=S3Policy(allowed=tuple(s3_allow or ()), endpoint_url=s3_endpoint, region=s3_region),
    )
    from tensorgate.memory import parse_budget

    root = repository or default_repository()
    pull_named_zoo_models(root, model or [])
    engine_settings = EngineSettings(
        repository=root,
        memory_budget=parse_budget(memory_budget or []),
        repository_poll_s=repository_poll,
        models=tuple(model or ()),
        instances=instances,
        device=device,
        max_batch_size=max_batch_size,
        max_queue_delay_ms=max_queue_delay_ms,
        request_timeout_s=request_timeout,
        drain_timeout_s=drain_timeout,
        sources=sources,
        decode_threads=decode_threads,
        decode_on=decode_on.value,
        pad_batches=pad_batches.value,
        sessions_per_size=sessions_per_size.value,
    )
    server_settings = ServerSettings(
        host=host,
        port=port,
        auth_token=auth_token,
        allow_unauthenticated=allow_unauthenticated,
        model_control=model_control,
        control_token=control_token,
        grpc_port=None if grpc_port < 0 else grpc_port,
        shutdown_delay_s=shutdown_delay,
        header_timeout_s=header_timeout,
        access_log=not no_access_log,
        tracing=tracing,
        infer_lane=not no_infer_lane,
    )
    if workers == 1:
        run_server(engine_settings, server_settings, log_level=log_level)
        return
    from tensorgate.server.workers import supervise

    code = supervise(workers, engine_settings, server_settings, log_level=log_level)
    if code:
        raise typer.Exit(code)
