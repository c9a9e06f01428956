"""``POST /v2/models/{name}/classify``: images in (raw body or multipart), labels out."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tensorgate.config import ServerSettings
from tensorgate.engine import Engine
from tensorgate.errors import ImageError, InvalidInputError, ProtocolError
from tensorgate.server.http import json_response, path_version, read_body, until_disconnect

__all__ = ["image_routes"]


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


def image_routes(engine: Engine, settings: ServerSettings) -> list[Route]:
    """Our image endpoint, beside the V2 routes."""

    async def classify(request: Request) -> Response:
        name = request.path_params["name"]
        version = path_version(request)
        raw_top = request.query_params.get("top_k")
        top = None
        if raw_top is not None:
            if not raw_top.isdigit() or int(raw_top) < 1:
                raise InvalidInputError(f"top_k must be an integer >= 1, got {raw_top!r}")
            top = int(raw_top)
        model = engine.model(name, version)
        images = await _images(request, settings)
        answers = await until_disconnect(
            request,
            engine.classify(name, [data for _, data in images], top=top, version=model.key.version),
        )
        results: list[dict[str, Any]] = [
            {
                "filename": filename,
                "predictions": [
                    {"label": c.label, "index": c.index, "score": round(c.score, 6)} for c in answer
                ],
            }
            for (filename, _), answer in zip(images, answers, strict=True)
        ]
        return json_response(
            {"model_name": name, "model_version": str(model.key.version), "results": results}
        )

    return [
        Route("/v2/models/{name}/classify", classify, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/classify", classify, methods=["POST"]),
    ]
