"""Load shedding at the door: a request to a model whose queue is full is refused with
503 and ``Retry-After`` as soon as its headers are read, before the body is read and
before the request reaches the application.

Under overload the event loop is the scarce resource: a refusal that went through body
reading, routing and the handler cost it as much as an answered request, and refusals
queued behind each other (measured: 503s at 2x capacity took 80-140 ms). Here one costs
a path match and two counters. Only requests that could be served are shed: an unknown
model, a pipeline, a model that is loading, or a wrong token go the normal way and get
the normal answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from tensorgate.access import AccessPolicy
from tensorgate.engine import Engine
from tensorgate.errors import TensorgateError
from tensorgate.protocol.numbers import is_decimal
from tensorgate.server.http import error_response
from tensorgate.tasks import TASKS

__all__ = ["Shedder", "engine_refusal", "shedder"]

#: Decides, from a request's scope (headers read, body not), whether to refuse it now:
#: the app that answers the refusal, or None to let the request in.
Shedder = Callable[[Scope], ASGIApp | None]

_ROUTES = "|".join(sorted({re.escape(t.route) for t in TASKS.values()} | {"infer"}))
_MODEL_PATH = re.compile(
    rf"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[0-9]{{1,9}}))?/(?:{_ROUTES})$"
)


def engine_refusal(engine: Engine, name: str, version: str | None) -> TensorgateError | None:
    """The refusal the engine would give a request to ``name`` at admission now (its
    queue is full), from the path's version segment; None lets the request in, and a
    malformed version is left to the route's 400."""
    if version is not None and not is_decimal(version):
        return None
    return engine.shed(name, int(version) if version else None)


def shedder(engine: Engine, access: AccessPolicy) -> Shedder:
    """The shedder for one server: model routes only, and only well-authenticated
    requests (anything else takes the normal path to its 4xx)."""

    def shed(scope: Scope) -> ASGIApp | None:
        if scope.get("method") != "POST":
            return None
        match = _MODEL_PATH.match(scope.get("path", ""))
        if match is None:
            return None
        if access.auth_token is not None:
            authorization = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"),
                None,
            )
            try:
                access.check(authorization, control=False)
            except TensorgateError:
                return None
        refusal = engine_refusal(engine, match["name"], match["version"])
        if refusal is None:
            return None
        response = error_response(refusal)

        async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
            await response(scope, receive, send)

        return refuse

    return shed
