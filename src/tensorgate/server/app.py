"""The ASGI application: V2 routes, image routes, metrics, errors as JSON, lifespan."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tensorgate.access import AccessPolicy
from tensorgate.config import ServerSettings
from tensorgate.engine import Engine
from tensorgate.errors import TensorgateError
from tensorgate.protocol.openapi import openapi_document
from tensorgate.server.console import console_routes
from tensorgate.server.http import ClientDisconnected, error_answer, json_response, not_allowed
from tensorgate.server.images import image_routes
from tensorgate.server.infer import InferRoute
from tensorgate.server.observe import Observe
from tensorgate.server.v2 import v2_routes
from tensorgate.tracing import tracing_enabled

__all__ = ["CONTROL_PATH", "PUBLIC_PATHS", "AccessGuard", "create_app"]


#: Paths answered without a token even when one is set (probes must work).
PUBLIC_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
#: The console's page and files hold no data (what it shows comes from guarded routes).
PUBLIC_PREFIX = "/console/static/"
CONSOLE_PUBLIC = frozenset({"/console", "/console/access"})
#: Model-control paths (Triton's repository extension): guarded by the control token.
CONTROL_PATH = re.compile(r"^/v2/repository/models/[^/]+/(load|unload)$")


def is_public(path: str) -> bool:
    """Whether ``path`` is served without a token (probes, the console's page)."""
    return path in PUBLIC_PATHS or path in CONSOLE_PUBLIC or path.startswith(PUBLIC_PREFIX)


class AccessGuard:
    """Applies the AccessPolicy to every HTTP request before routing."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_public(scope["path"]):
            given = dict(scope["headers"]).get(b"authorization")
            try:
                self.policy.check(
                    given.decode("latin-1") if given is not None else None,
                    control=scope["method"] == "POST"
                    and CONTROL_PATH.match(scope["path"]) is not None,
                )
            except TensorgateError as exc:
                headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
                response = json_response({"error": exc.message}, exc.http_status, headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CloseWhenDraining:
    """Once the engine drains, every response says ``Connection: close``: clients open
    a new connection for their next request, so none is left on a kept-alive connection
    that the server closes when it exits (a refused connect is a clean refusal)."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.engine.draining:
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


async def _error(request: Request, exc: Exception) -> Response:
    return error_answer(exc, request.url.path)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.url.path!r}; see /v2 for the API"
    elif exc.status_code == 405:
        message = not_allowed(request.method, request.url.path)
    else:
        message = str(exc.detail)
    return json_response({"error": message}, exc.status_code, dict(exc.headers or {}))


def create_app(engine: Engine, settings: ServerSettings | None = None) -> ASGIApp:
    """The ASGI app serving ``engine``; the lifespan starts and stops the engine."""
    settings = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    async def metrics(request: Request) -> Response:
        text = engine.render_metrics()
        return Response(text.body, media_type=text.content_type)

    document = json.dumps(openapi_document()).encode()

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    routes = [
        *v2_routes(engine, settings),
        *image_routes(engine, settings),
        *console_routes(engine, settings),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            TensorgateError: _error,
            HTTPException: _http_error,
            ClientDisconnected: _error,
            Exception: _error,
        },
    )
    routed = InferRoute(app, engine, settings)  # the busiest route, before the router
    guarded = AccessGuard(CloseWhenDraining(routed, engine), settings.access)
    if settings.access_log or tracing_enabled():
        return Observe(guarded, access_log=settings.access_log)
    return guarded
