"""KServe V2 / Open Inference Protocol routes (with Triton's binary tensor extension,
model configuration, statistics and repository index)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tensorgate._version import __version__
from tensorgate.config import ServerSettings
from tensorgate.engine import Engine, LoadedModel
from tensorgate.errors import (
    ModelNotFoundError,
    ProtocolError,
    UnavailableError,
)
from tensorgate.protocol.v2 import encode_infer_response, parse_header_length, parse_infer_request
from tensorgate.server.http import json_response, path_version, read_body, until_disconnect
from tensorgate.types import TensorSpec

__all__ = ["EXTENSIONS", "model_config_json", "v2_routes"]

#: Protocol extensions this server implements, as reported by server metadata.
EXTENSIONS = ("binary_tensor_data", "model_configuration", "statistics", "image_classification")

_TRITON_TYPES = {"BYTES": "TYPE_STRING"}


def _tensor_json(spec: TensorSpec, batched: bool) -> dict[str, Any]:
    return {
        "name": spec.name,
        "datatype": spec.datatype,
        "shape": ([-1] if batched else []) + list(spec.shape),
    }


def model_config_json(model: LoadedModel) -> dict[str, Any]:
    """The model's effective configuration in Triton's model-config JSON shape."""
    cfg = model.config

    def tensors(specs: tuple[TensorSpec, ...]) -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "data_type": _TRITON_TYPES.get(s.datatype, f"TYPE_{s.datatype}"),
                "dims": list(s.shape),
            }
            for s in specs
        ]

    device = model.runtimes[0].device
    policy = cfg.version_policy
    version_policy: dict[str, Any] = (
        {"all": {}}
        if policy.kind == "all"
        else {"specific": {"versions": list(policy.versions)}}
        if policy.kind == "specific"
        else {"latest": {"num_versions": policy.latest}}
    )
    doc: dict[str, Any] = {
        "name": cfg.name,
        "platform": model.platform,
        "backend": cfg.backend,
        "version_policy": version_policy,
        "max_batch_size": cfg.max_batch_size,
        "input": tensors(cfg.inputs),
        "output": tensors(cfg.outputs),
        "dynamic_batching": {
            "preferred_batch_size": list(cfg.batching.preferred_batch_sizes),
            "max_queue_delay_microseconds": round(cfg.batching.max_queue_delay_s * 1e6),
            "default_queue_policy": {"max_queue_size": model.batcher.policy.max_queue_rows},
        },
        "instance_group": [
            {
                "name": f"{cfg.name}_0",
                "kind": "KIND_CPU" if device == "cpu" else "KIND_GPU",
                "count": len(model.runtimes),
                "gpus": [] if device == "cpu" else [int(device.partition(":")[2] or 0)],
            }
        ],
        "default_model_filename": cfg.default_model_filename,
    }
    if cfg.preprocess is not None:
        p = cfg.preprocess
        doc["parameters"] = {
            "preprocess": {
                "string_value": (
                    f"resize={p.resize} mode={p.mode} crop={p.crop} mean={list(p.mean)} "
                    f"std={list(p.std)} layout={p.layout} color={p.color}"
                )
            }
        }
    return doc


def v2_routes(engine: Engine, settings: ServerSettings) -> list[Route]:
    """The V2 routes bound to one engine."""

    async def live(request: Request) -> Response:
        return Response(status_code=200)

    async def ready(request: Request) -> Response:
        return Response(status_code=200 if engine.ready else 503)

    async def server_metadata(request: Request) -> Response:
        return json_response(
            {"name": "tensorgate", "version": __version__, "extensions": list(EXTENSIONS)}
        )

    async def model_metadata(request: Request) -> Response:
        name = request.path_params["name"]
        model = engine.model(name, path_version(request))
        versions = [str(s.version) for s in engine.statuses() if s.name == name and s.version]
        return json_response(
            {
                "name": name,
                "versions": versions,
                "platform": model.platform,
                "inputs": [_tensor_json(s, True) for s in model.config.inputs],
                "outputs": [_tensor_json(s, True) for s in model.config.outputs],
            }
        )

    async def model_ready(request: Request) -> Response:
        version = path_version(request)
        try:
            engine.model(request.path_params["name"], version)
        except ModelNotFoundError:
            return Response(status_code=404)
        except UnavailableError:
            return Response(status_code=503)
        return Response(status_code=200)

    async def model_config(request: Request) -> Response:
        model = engine.model(request.path_params["name"], path_version(request))
        return json_response(model_config_json(model))

    async def model_stats(request: Request) -> Response:
        name = request.path_params.get("name")
        return json_response({"model_stats": engine.statistics(name, path_version(request))})

    async def repository_index(request: Request) -> Response:
        body = await read_body(request, settings.max_json_bytes)
        try:
            options = json.loads(body) if body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"repository index body is not valid JSON: {exc}") from None
        if not isinstance(options, dict) or not isinstance(options.get("ready", False), bool):
            raise ProtocolError('repository index body must be {} or {"ready": true|false}')
        ready_only = options.get("ready", False)
        index = [
            {
                "name": s.name,
                "version": "" if s.version is None else str(s.version),
                "state": s.state.value,
                "reason": s.reason,
            }
            for s in engine.statuses()
            if not ready_only or s.state.value == "READY"
        ]
        return json_response(index)

    async def infer(request: Request) -> Response:
        name = request.path_params["name"]
        version = path_version(request)
        header = request.headers.get("inference-header-content-length")
        limit = settings.max_json_bytes if header is None else settings.max_tensor_bytes
        body = await read_body(request, limit, "infer request body")
        parsed = parse_infer_request(body, parse_header_length(header, len(body)))
        wanted = None if parsed.outputs is None else [o.name for o in parsed.outputs]
        model = engine.model(name, version)
        outputs = await until_disconnect(
            request,
            engine.infer(
                name,
                parsed.inputs,
                version=model.key.version,
                outputs=wanted,
                timeout_s=parsed.timeout_s,
            ),
        )
        payload, header_length = encode_infer_response(
            name, str(model.key.version), parsed, outputs
        )
        if header_length is None:
            return Response(payload, media_type="application/json")
        return Response(
            payload,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(header_length)},
        )

    model_path = "/v2/models/{name}"
    version_path = "/v2/models/{name}/versions/{version}"
    routes = [
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/models/stats", model_stats, methods=["GET"]),
        Route("/v2/repository/index", repository_index, methods=["POST"]),
    ]
    for base in (model_path, version_path):
        routes += [
            Route(base, model_metadata, methods=["GET"]),
            Route(base + "/ready", model_ready, methods=["GET"]),
            Route(base + "/config", model_config, methods=["GET"]),
            Route(base + "/stats", model_stats, methods=["GET"]),
            Route(base + "/infer", infer, methods=["POST"]),
        ]
    return routes
