"""Lambda events, read into one request shape, and answers written back into theirs.

Pure functions, no I/O. Four kinds of event reach a function:

* **HTTP, payload format 2.0**: Function URLs and API Gateway HTTP APIs
  (``version: "2.0"``, ``rawPath``, ``rawQueryString``, ``requestContext.http.method``);
* **HTTP, payload format 1.0**: API Gateway REST APIs (``httpMethod``, ``path``,
  ``multiValueHeaders`` / ``headers``, ``multiValueQueryStringParameters``);
* **S3 event notifications**: ``Records`` whose ``eventSource`` is ``aws:s3``;
* **direct invocations**: any other JSON object (``Invoke`` from an SDK or another
  function), ``{"model": ..., "sources": [...]}`` or ``{"model": ..., "image": <base64>}``.

HTTP bodies arrive as text, or base64 with ``isBase64Encoded`` (binary media, as image
bodies are); answers go back as text when they are JSON or text, else base64.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from tensorgate.errors import ProtocolError

__all__ = [
    "DirectRequest",
    "HttpRequest",
    "S3Object",
    "event_kind",
    "http_answer",
    "read_direct",
    "read_http",
    "read_s3",
]

EventKind = Literal["http-v2", "http-v1", "s3", "direct"]
_TEXT_TYPES = ("application/json", "text/", "application/problem+json")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An HTTP request as the ASGI app takes it."""

    method: str
    path: str
    query: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    source_ip: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class S3Object:
    """One object an S3 event notification names (the key URL-decoded)."""

    bucket: str
    key: str
    size: int | None


@dataclass(frozen=True, slots=True)
class DirectRequest:
    """A direct invocation: images inline (base64) or as sources, for one model."""

    model: str | None
    task: str
    sources: tuple[str, ...]
    images: tuple[bytes, ...]
    top_k: int | None


def event_kind(event: object) -> EventKind:
    """Which of the four kinds ``event`` is."""
    if not isinstance(event, dict):
        raise ProtocolError(f"a Lambda event must be a JSON object, got {type(event).__name__}")
    records = event.get("Records")
    if (
        isinstance(records, list)
        and records
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:s3" for r in records)
    ):
        return "s3"
    context = event.get("requestContext")
    if event.get("version") == "2.0" and isinstance(context, dict) and "http" in context:
        return "http-v2"
    if "httpMethod" in event and "path" in event:
        return "http-v1"
    return "direct"


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise ProtocolError(f"the event's body must be a string, got {type(body).__name__}")
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(
                "the event's body is marked isBase64Encoded but is not base64"
            ) from None
    return body.encode()


def _header_pairs(items: dict[str, Any] | None) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    for name, value in (items or {}).items():
        values = value if isinstance(value, list) else [value]
        pairs += [(str(name).lower().encode("latin-1"), str(v).encode("latin-1")) for v in values]
    return pairs


def read_http(event: dict[str, Any], kind: EventKind) -> HttpRequest:
    """The HTTP request in an API Gateway (1.0 or 2.0) or Function URL event."""
    if kind == "http-v2":
        http = event["requestContext"]["http"]
        headers = _header_pairs(event.get("headers"))
        cookies = event.get("cookies") or []
        if cookies:
            headers.append((b"cookie", "; ".join(cookies).encode("latin-1")))
        return HttpRequest(
            method=str(http.get("method", "GET")).upper(),
            path=str(event.get("rawPath") or http.get("path") or "/"),
            query=str(event.get("rawQueryString") or "").encode("latin-1"),
            headers=tuple(headers),
            body=_body(event),
            source_ip=str(http.get("sourceIp") or "127.0.0.1"),
        )
    multi_headers = event.get("multiValueHeaders")
    headers = _header_pairs(multi_headers if multi_headers else event.get("headers"))
    multi_query = event.get("multiValueQueryStringParameters")
    if multi_query:
        query = urllib.parse.urlencode(
            [(k, v) for k, values in multi_query.items() for v in values]
        )
    else:
        query = urllib.parse.urlencode(event.get("queryStringParameters") or {})
    identity = (event.get("requestContext") or {}).get("identity") or {}
    return HttpRequest(
        method=str(event["httpMethod"]).upper(),
        path=str(event["path"]),
        query=query.encode("latin-1"),
        headers=tuple(headers),
        body=_body(event),
        source_ip=str(identity.get("sourceIp") or "127.0.0.1"),
    )


def http_answer(
    kind: EventKind, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> dict[str, Any]:
    """The function's result for an HTTP event: API Gateway / Function URL's shape."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        if name == "content-length":
            continue  # API Gateway sets its own
        multi.setdefault(name, []).append(value)
        single[name] = value if name not in single else f"{single[name]}, {value}"
    content_type = single.get("content-type", "")
    text = content_type.startswith(_TEXT_TYPES)
    answer: dict[str, Any] = {
        "statusCode": status,
        "headers": single,
        "body": body.decode() if text else base64.b64encode(body).decode(),
        "isBase64Encoded": not text,
    }
    if kind == "http-v1":
        answer["multiValueHeaders"] = multi
    return answer


def read_s3(event: dict[str, Any]) -> list[S3Object]:
    """The objects an S3 event notification names."""
    objects = []
    for record in event["Records"]:
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        entry = s3.get("object") or {}
        key = entry.get("key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            raise ProtocolError("an S3 event record lacks s3.bucket.name or s3.object.key")
        size = entry.get("size")
        objects.append(
            S3Object(
                bucket, urllib.parse.unquote_plus(key), size if isinstance(size, int) else None
            )
        )
    return objects


def read_direct(event: dict[str, Any], tasks: tuple[str, ...]) -> DirectRequest:
    """A direct invocation's request; a malformed one is a ProtocolError naming the field."""
    model = event.get("model")
    if model is not None and not isinstance(model, str):
        raise ProtocolError(f"'model' must be a string, got {model!r:.40}")
    task = event.get("task", "classify")
    if task not in tasks:
        raise ProtocolError(f"'task' is {task!r:.40}; it must be one of {', '.join(tasks)}")
    sources = event.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ProtocolError("'sources' must be a list of s3:// or https:// strings")
    raw_images = event.get("images", [])
    if "image" in event:
        raw_images = [event["image"], *raw_images]
    if not isinstance(raw_images, list) or not all(isinstance(i, str) for i in raw_images):
        raise ProtocolError("'image' / 'images' must be base64 strings")
    images = []
    for i, text in enumerate(raw_images):
        try:
            images.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            raise ProtocolError(f"image {i} is not valid base64") from None
    if bool(sources) == bool(images):
        raise ProtocolError(
            "a direct invocation gives images or sources, not both nor neither: "
            '{"image": "<base64>"} or {"sources": ["s3://bucket/key"]}'
        )
    if sources and task != "classify":
        raise ProtocolError(f"'sources' are classified only; task {task!r} takes 'images'")
    top = event.get("top_k")
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or top < 1):
        raise ProtocolError(f"'top_k' must be an integer >= 1, got {top!r:.40}")
    return DirectRequest(model, task, tuple(sources), tuple(images), top)


def json_body(doc: object) -> bytes:
    """Compact JSON, as the server writes it."""
    return json.dumps(doc, separators=(",", ":")).encode()
