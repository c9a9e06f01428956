"""KServe V2 / Open Inference Protocol routes (with Triton's binary tensor extension,
model configuration, statistics and repository index). Infer itself is answered before
the router: server/infer.py."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tensorgate._version import __version__
from tensorgate.config import ServerSettings
from tensorgate.engine import Engine
from tensorgate.errors import (
    ModelNotAvailableError,
    ModelNotFoundError,
    ProtocolError,
    UnavailableError,
)
from tensorgate.protocol import models as describe
from tensorgate.server.http import json_response, path_version, read_body

__all__ = ["v2_routes"]


def v2_routes(engine: Engine, settings: ServerSettings) -> list[Route]:
    """The V2 routes bound to one engine."""

    async def live(request: Request) -> Response:
        return Response(status_code=200)

    async def ready(request: Request) -> Response:
        return Response(status_code=200 if engine.ready else 503)

    async def server_metadata(request: Request) -> Response:
        return json_response(
            {"name": "tensorgate", "version": __version__, "extensions": list(describe.EXTENSIONS)}
        )

    async def model_metadata(request: Request) -> Response:
        name = request.path_params["name"]
        if engine.is_pipeline(name):
            return json_response(describe.pipeline_metadata(engine.pipeline(name)))
        model = engine.model(name, path_version(request))
        return json_response(describe.model_metadata(model, engine.versions(model.name)))

    async def model_ready(request: Request) -> Response:
        version = path_version(request)
        name = request.path_params["name"]
        if engine.is_pipeline(name):  # ready when every step's model is
            return Response(status_code=200 if engine.pipeline(name).ready else 503)
        try:
            engine.model(name, version)
        except ModelNotFoundError as exc:
            return json_response({"error": exc.message}, 404)
        except (UnavailableError, ModelNotAvailableError):
            return Response(status_code=503)
        return Response(status_code=200)

    async def model_config(request: Request) -> Response:
        name = request.path_params["name"]
        if engine.is_pipeline(name):
            return json_response(describe.pipeline_metadata(engine.pipeline(name)))
        model = engine.model(name, path_version(request))
        return json_response(describe.model_config_json(model))

    async def model_stats(request: Request) -> Response:
        name = request.path_params.get("name")
        views = engine.statistics(name, path_version(request))
        return json_response({"model_stats": [describe.statistics_v2(v) for v in views]})

    async def repository_index(request: Request) -> Response:
        body = await read_body(request, settings.max_json_bytes)
        try:
            options = json.loads(body) if body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"repository index body is not valid JSON: {exc}") from None
        if not isinstance(options, dict) or not isinstance(options.get("ready", False), bool):
            raise ProtocolError('repository index body must be {} or {"ready": true|false}')
        index = describe.repository_index(engine.statuses(), options.get("ready", False))
        return json_response(index)

    async def control_body(request: Request) -> dict[str, Any]:
        body = await read_body(request, settings.max_json_bytes)
        try:
            doc = json.loads(body) if body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProtocolError(f"repository request body is not valid JSON: {exc}") from None
        parameters = doc.get("parameters", {}) if isinstance(doc, dict) else None
        if not isinstance(parameters, dict):
            raise ProtocolError('repository request body must be {} or {"parameters": {...}}')
        return parameters

    async def repository_load(request: Request) -> Response:
        parameters = await control_body(request)
        describe.refuse_load_parameters(parameters)
        await engine.load_model(request.path_params["name"])
        return Response(status_code=200)

    async def repository_unload(request: Request) -> Response:
        await control_body(request)  # unload_dependents: there are no dependents here
        await engine.unload_model(request.path_params["name"])
        return Response(status_code=200)

    model_path = "/v2/models/{name}"
    version_path = "/v2/models/{name}/versions/{version}"
    routes = [
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/models/stats", model_stats, methods=["GET"]),
        Route("/v2/repository/index", repository_index, methods=["POST"]),
        Route("/v2/repository/models/{name}/load", repository_load, methods=["POST"]),
        Route("/v2/repository/models/{name}/unload", repository_unload, methods=["POST"]),
    ]
    for base in (model_path, version_path):
        routes += [
            Route(base, model_metadata, methods=["GET"]),
            Route(base + "/ready", model_ready, methods=["GET"]),
            Route(base + "/config", model_config, methods=["GET"]),
            Route(base + "/stats", model_stats, methods=["GET"]),
        ]
    return routes
