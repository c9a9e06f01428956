"""The web console: static pages shipped in the package, and the JSON they read.

``GET /console`` serves one page (``tensorgate/console/``: HTML, CSS and JavaScript,
no build step, nothing fetched from elsewhere). The page itself holds no data and is
public, like the health probes; everything it shows comes from the JSON routes below,
which the access policy guards like any API route. The page asks for the token and
sends it in the ``Authorization`` header (it is kept in the tab's session storage, never
in a URL).

- ``GET /console/access`` (public): whether the API needs a token, and whether model
  control is on, so that the page asks before it calls anything.
- ``GET /console/api/models``: every model version and pipeline, its state, memory
  against the device's budget, instances and batch settings.
- ``GET /console/api/live``: the cumulative counters and histograms of every model,
  taken from the Prometheus instruments; the page turns two snapshots a second apart
  into rates, p50 / p99 and the decode / queue / compute split.
- ``GET /console/api/server``: version, limits, devices, settings.

Every console response carries a strict Content-Security-Policy (scripts and styles
from the server only, no inline code, no framing) and the usual security headers.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from prometheus_client import Metric
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tensorgate._version import __version__
from tensorgate.config import ServerSettings
from tensorgate.engine import Engine
from tensorgate.errors import TensorgateError
from tensorgate.server.http import json_response

__all__ = ["CONSOLE_FILES", "SECURITY_HEADERS", "console_routes"]

#: The files the console is made of (package data), by the name they are served under.
CONSOLE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}

#: The instruments the live view reads, and the name each has in its snapshot.
_LIVE = {
    "tensorgate_requests": "requests",
    "tensorgate_request_duration_seconds": "latency",
    "tensorgate_decode_duration_seconds": "decode",
    "tensorgate_queue_duration_seconds": "queue",
    "tensorgate_compute_duration_seconds": "compute",
    "tensorgate_batch_size": "batch",
    "tensorgate_queue_depth": "queue_depth",
    "tensorgate_rejected_requests": "rejected",
}


def _file(name: str) -> bytes:
    return resources.files("tensorgate.console").joinpath(name).read_bytes()


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def live_snapshot(engine: Engine) -> dict[str, Any]:
    """Cumulative counters per model: ``requests`` by outcome, ``rejected`` by reason,
    histograms as ``{"sum", "count", "buckets": [[le, cumulative count], ...]}`` (the
    last ``le`` is null: +Inf), and
    ``queue_depth`` now."""
    models: dict[str, dict[str, Any]] = {}
    for metric in engine.metrics.registry.collect():
        field = _LIVE.get(metric.name) or _LIVE.get(metric.name.removesuffix("_total"))
        if field is None:
            continue
        _collect(metric, field, models)
    return {"time": time.time(), "models": models}


def _collect(metric: Metric, field: str, models: dict[str, dict[str, Any]]) -> None:
    for sample in metric.samples:
        model = sample.labels.get("model")
        if model is None or sample.name.endswith("_created"):
            continue
        entry = models.setdefault(model, {})
        if metric.type == "counter":
            key = sample.labels.get("outcome") or sample.labels.get("reason", "")
            counts = entry.setdefault(field, {})
            counts[key] = counts.get(key, 0) + sample.value
        elif metric.type == "gauge":
            entry[field] = sample.value
        elif metric.type == "histogram":
            histogram = entry.setdefault(field, {"sum": 0.0, "count": 0.0, "buckets": {}})
            if sample.name.endswith("_bucket"):  # summed over devices where labelled so
                le = sample.labels["le"]
                histogram["buckets"][le] = histogram["buckets"].get(le, 0) + sample.value
            elif sample.name.endswith("_sum"):
                histogram["sum"] += sample.value
            elif sample.name.endswith("_count"):
                histogram["count"] += sample.value
    for entry in models.values():
        histogram = entry.get(field)
        if isinstance(histogram, dict) and isinstance(histogram.get("buckets"), dict):
            ordered = sorted((float(le), count) for le, count in histogram["buckets"].items())
            # JSON has no infinity: the last bucket's bound (+Inf) is null
            histogram["buckets"] = [[le if le != float("inf") else None, n] for le, n in ordered]


def models_document(engine: Engine) -> dict[str, Any]:
    """Every model version and pipeline as the Models view shows it."""
    rows: list[dict[str, Any]] = []
    for status in engine.statuses():
        row: dict[str, Any] = {
            "name": status.name,
            "version": status.version,
            "state": status.state.value,
            "reason": status.reason,
            "pipeline": engine.is_pipeline(status.name),
            "steps": [
                {"name": s.name, "kind": s.kind, "model": s.model, "state": s.state.value}
                for s in status.steps
            ],
        }
        if not row["pipeline"] and status.version is not None:
            try:
                view = engine.model(status.name, status.version)
            except TensorgateError:
                view = None
            if view is not None:
                batching = view.config.batching
                row.update(
                    # an image task only where images can be sent: tensors only otherwise
                    task=view.config.task if view.config.preprocess is not None else None,
                    platform=view.platform,
                    device=view.device,
                    instances=view.instances,
                    memory=view.memory,
                    load_seconds=round(view.load_seconds, 3),
                    max_batch_size=view.config.max_batch_size,
                    max_queue_delay_ms=round(batching.max_queue_delay_s * 1000, 3),
                    preferred_batch_sizes=list(batching.preferred_batch_sizes),
                    queue_rows=view.queue_rows,
                )
        elif row["pipeline"]:
            row["task"] = engine.pipeline(status.name).task
        rows.append(row)
    return {"budget": dict(engine.settings.memory_budget), "models": rows}


def server_document(engine: Engine, settings: ServerSettings) -> dict[str, Any]:
    """What the Server view shows: version, limits, devices and settings."""
    inventory = engine.inventory()
    engine_settings = engine.settings
    return {
        "version": __version__,
        "state": engine.state.value,
        "ready": engine.ready,
        "devices": {
            "cpu": {
                "model": inventory.cpu.model,
                "cores": inventory.cpu.cores,
                "logical": inventory.cpu.logical,
            },
            "gpus": [
                {"device": g.device, "name": g.name, "memory": g.memory_total}
                for g in inventory.gpus
            ],
            "onnxruntime_providers": list(inventory.onnxruntime_providers),
        },
        "limits": {
            "max_image_bytes": settings.max_image_bytes,
            "max_json_bytes": settings.max_json_bytes,
            "max_tensor_bytes": settings.max_tensor_bytes,
            "max_images_per_request": settings.max_images_per_request,
            "header_timeout_s": settings.header_timeout_s,
            "request_timeout_s": engine_settings.request_timeout_s,
            "drain_timeout_s": engine_settings.drain_timeout_s,
            "hang_timeout_s": engine_settings.hang_timeout_s,
        },
        "settings": {
            "repository": str(engine_settings.repository),
            "host": settings.host,
            "port": settings.port,
            "grpc_port": settings.grpc_port,
            "auth": settings.auth_token is not None,
            "model_control": settings.model_control,
            "memory_budget": dict(engine_settings.memory_budget),
        },
    }


def console_routes(engine: Engine, settings: ServerSettings) -> list[Route]:
    """The console's page, its files and its JSON routes."""
    files = {name: _file(name) for name in CONSOLE_FILES}

    async def page(request: Request) -> Response:
        return _secured(Response(files["index.html"], media_type=CONSOLE_FILES["index.html"]))

    async def static(request: Request) -> Response:
        name = request.path_params["file"]
        if name not in files:
            return _secured(json_response({"error": f"no console file {name!r}"}, 404))
        return _secured(Response(files[name], media_type=CONSOLE_FILES[name]))

    async def access(request: Request) -> Response:
        # Public, like the page: whether to ask for tokens before calling the API.
        doc = {"auth": settings.auth_token is not None, "model_control": settings.model_control}
        return _secured(json_response(doc))

    async def models(request: Request) -> Response:
        return _secured(json_response(models_document(engine)))

    async def live(request: Request) -> Response:
        return _secured(json_response(live_snapshot(engine)))

    async def server(request: Request) -> Response:
        return _secured(json_response(server_document(engine, settings)))

    return [
        Route("/console", page, methods=["GET"]),
        Route("/console/static/{file}", static, methods=["GET"]),
        Route("/console/access", access, methods=["GET"]),
        Route("/console/api/models", models, methods=["GET"]),
        Route("/console/api/live", live, methods=["GET"]),
        Route("/console/api/server", server, methods=["GET"]),
    ]
