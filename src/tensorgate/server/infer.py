"""``POST /v2/models/{name}[/versions/{version}]/infer``, answered before the router.

The busiest route is plain ASGI: Starlette's router would try the request's path against
every route's pattern before this one, then pass it through two exception middlewares
and build a Request and a Response around it (0.09 ms more at concurrency 1 in one
interleaved ad-hoc run, near that run's resolution). It answers the infer requests the
lane (server/lane.py) leaves to ASGI, and every one under another ASGI server. What it
does is a route's: the same limits, errors and answers, a queued request dropped when
its client goes away; the access guard, the drain's ``Connection: close`` and the
access log / tracing wrap it as they wrap every route. Any other method on the path is
a 405 naming POST.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tensorgate.config import ServerSettings
from tensorgate.engine import Engine
from tensorgate.protocol.classification import with_classification
from tensorgate.protocol.v2 import encode_infer_response, parse_header_length, parse_infer_request
from tensorgate.server.http import (
    error_answer,
    json_response,
    not_allowed,
    parse_version,
    receive_body,
    until_disconnect,
)

__all__ = [
    "INFER_PATH",
    "INFER_ROUTES",
    "InferAnswer",
    "InferRoute",
    "infer_answer",
    "infer_body_limit",
]

#: The paths it answers, in the router's notation (for the OpenAPI document's checks).
INFER_ROUTES = ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer")
#: The same paths, as Starlette's ``{name}`` / ``{version}`` parameters match them.
INFER_PATH = re.compile(r"/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?/infer")


def infer_body_limit(settings: ServerSettings, header_length: str | None) -> int:
    """An infer body's byte limit: binary tensors' (Inference-Header-Content-Length
    given) or JSON's."""
    return settings.max_json_bytes if header_length is None else settings.max_tensor_bytes


class InferRoute:
    """ASGI: answers the V2 infer path itself and passes every other request to ``app``."""

    def __init__(self, app: ASGIApp, engine: Engine, settings: ServerSettings) -> None:
        self.app = app
        self.engine = engine
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = INFER_PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            message = not_allowed(scope["method"], scope["path"])
            response = json_response({"error": message}, 405, {"Allow": "POST"})
        else:
            try:
                response = await self._infer(scope, receive, match["name"], match["version"])
            except Exception as exc:  # every failure is an answer, as a route's would be
                response = error_answer(exc, scope["path"])
        await response(scope, receive, send)

    async def _infer(
        self, scope: Scope, receive: Receive, name: str, raw_version: str | None
    ) -> Response:
        settings = self.settings
        version = parse_version(raw_version)
        header = declared = encoding = None
        for key, value in scope["headers"]:
            if key == b"inference-header-content-length":
                header = value.decode("latin-1")
            elif key == b"content-length":
                declared = value.decode("latin-1")
            elif key == b"content-encoding":
                encoding = value.decode("latin-1")
        limit = infer_body_limit(settings, header)
        body = await receive_body(
            receive, limit, "infer request body", declared=declared, encoding=encoding
        )
        answer = await until_disconnect(
            receive, infer_answer(self.engine, name, version, header, body), scope
        )
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in answer.headers()}
        return Response(answer.payload, headers=headers)


@dataclass(frozen=True, slots=True)
class InferAnswer:
    """An infer response's bytes; ``header_length`` is set when it uses the binary
    tensor extension (the JSON header's length), None for a JSON-only answer."""

    payload: bytes
    header_length: int | None

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Its Content-Type, and its JSON header's length with the binary extension."""
        if self.header_length is None:
            return [(b"content-type", b"application/json")]
        return [
            (b"content-type", b"application/octet-stream"),
            (b"inference-header-content-length", b"%d" % self.header_length),
        ]


async def infer_answer(
    engine: Engine, name: str, version: int | None, header: str | None, body: bytearray
) -> InferAnswer:
    """Parse one infer request's body (``header``: its Inference-Header-Content-Length),
    run it and encode the answer: what every door that takes V2 infer over HTTP does."""
    parsed = parse_infer_request(body, parse_header_length(header, len(body)))
    wanted = None if parsed.outputs is None else [o.name for o in parsed.outputs]
    result = await engine.infer_keyed(
        name, parsed.inputs, version=version, outputs=wanted, timeout_s=parsed.timeout_s
    )
    classes = {o.name: o.classification for o in parsed.outputs or () if o.classification}
    outputs = result.outputs
    if classes:
        post = engine.model(name, result.key.version).config.postprocess
        outputs = with_classification(outputs, classes, post)
    payload, header_length = encode_infer_response(name, str(result.key.version), parsed, outputs)
    return InferAnswer(payload, header_length)
