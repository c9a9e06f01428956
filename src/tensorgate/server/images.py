"""``POST /v2/models/{name}/classify``: images in (raw body or multipart), labels out."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tensorgate.config import ServerSettings
from tensorgate.engine import Engine
from tensorgate.errors import ImageError, InvalidInputError, ProtocolError, TensorgateError
from tensorgate.protocol.answers import answer_json
from tensorgate.protocol.numbers import is_decimal
from tensorgate.server.http import json_response, path_version, read_body, until_disconnect
from tensorgate.tasks import TASKS
from tensorgate.tasks.results import Classes

__all__ = ["image_routes", "task_document", "top_k"]


async def _replay(body: bytearray) -> AsyncGenerator[bytes, None]:
    yield bytes(body)


async def _images(request: Request, settings: ServerSettings) -> list[tuple[str | None, bytes]]:
    body = await read_body(request, settings.max_image_bytes, "image body")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return [(None, bytes(body))]
    parser = MultiPartParser(
        request.headers,
        _replay(body),
        max_files=settings.max_images_per_request,
        max_fields=16,
        max_part_size=settings.max_image_bytes,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ProtocolError(f"multipart body is malformed: {exc.message}") from None
    images: list[tuple[str | None, bytes]] = []
    try:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                images.append((value.filename, await value.read()))
    finally:
        await form.close()
    if not images:
        raise ImageError("the multipart body has no file part; attach images as files")
    return images


def top_k(raw: str | None) -> int | None:
    """The ``top_k`` query parameter (None when absent)."""
    if raw is None:
        return None
    if not is_decimal(raw) or int(raw) < 1:
        raise InvalidInputError(f"top_k must be an integer >= 1, got {raw!r}")
    return int(raw)


async def task_document(
    engine: Engine,
    name: str,
    version: int | None,
    task: str,
    top: int | None,
    images: list[tuple[str | None, bytes]],
) -> dict[str, Any]:
    """Run one image-task request and build its JSON answer (what every door that takes
    images over HTTP answers)."""
    # The engine gets the version asked for (not one looked up now): an evicted model
    # loads again, and a version swapped in while the images decode answers them and is
    # the version named in the answer.
    result = await engine.run_images(
        name, [data for _, data in images], task=task, top=top, version=version
    )
    results = [
        {"filename": filename, **answer_json(answer)}
        for (filename, _), answer in zip(images, result.answers, strict=True)
    ]
    doc: dict[str, Any] = {"model_name": name, "model_version": str(result.key.version)}
    if task != "classify":
        doc["task"] = task
    return {**doc, "results": results}


def image_routes(engine: Engine, settings: ServerSettings) -> list[Route]:
    """Our image endpoints, one per task (``/classify``, ``/detect``, ``/embed``), beside
    the V2 routes."""

    def task_route(task: str) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            name = request.path_params["name"]
            version = path_version(request)
            top = top_k(request.query_params.get("top_k")) if task == "classify" else None
            images = await _images(request, settings)
            doc = await until_disconnect(
                request, task_document(engine, name, version, task, top, images)
            )
            return json_response(doc)

        return answer

    async def classify_sources(request: Request) -> Response:
        name = request.path_params["name"]
        version = path_version(request)
        body = await read_body(request, settings.max_json_bytes, "sources request body")
        sources, top = _sources_request(body, settings.max_images_per_request)
        answered = await until_disconnect(
            request, engine.classify_sources(name, sources, top=top, version=version)
        )
        results: list[dict[str, Any]] = []
        for source, answer in zip(sources, answered.answers, strict=True):
            if isinstance(answer, TensorgateError):
                results.append(
                    {"source": source, "status": answer.http_status, "error": answer.message}
                )
            else:
                results.append({"source": source, **answer_json(Classes(tuple(answer)))})
        return json_response(
            {"model_name": name, "model_version": str(answered.key.version), "results": results}
        )

    routes: list[Route] = []
    for task in TASKS.values():
        handler = task_route(task.name)
        routes += [
            Route(f"/v2/models/{{name}}/{task.route}", handler, methods=["POST"]),
            Route(
                f"/v2/models/{{name}}/versions/{{version}}/{task.route}", handler, methods=["POST"]
            ),
        ]
    return [
        *routes,
        Route("/v2/models/{name}/classify/sources", classify_sources, methods=["POST"]),
        Route(
            "/v2/models/{name}/versions/{version}/classify/sources",
            classify_sources,
            methods=["POST"],
        ),
    ]


def _sources_request(body: bytearray, limit: int) -> tuple[list[str], int | None]:
    """``{"sources": ["s3://…", "https://…"], "top_k": 5}`` → (sources, top_k)."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError(f"sources request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ProtocolError('sources request body must be {"sources": [...], "top_k": N}')
    sources = doc.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(s, str) for s in sources):
        raise ProtocolError("'sources' must be a non-empty list of s3:// or https:// strings")
    if len(sources) > limit:
        raise ProtocolError(f"'sources' has {len(sources)} items; at most {limit} per request")
    top = doc.get("top_k")
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
        raise ProtocolError(f"'top_k' must be an integer >= 1, got {top!r:.40}")
    return sources, top
