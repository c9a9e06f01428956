"""tensorgate as an AWS Lambda function: the in-process engine behind Lambda's events.

The model repository loads once per execution environment, at init (Lambda's init
phase), with the engine's warm-up inference; every invocation then reuses it:

* HTTP events (Function URLs, API Gateway 1.0 and 2.0) run through the server's own
  ASGI routes in-process, so the answers, limits and errors are the server's:
  ``POST /v2/models/NAME/classify`` with a raw or multipart image, ``.../classify/sources``
  with ``{"sources": [...]}``, V2 ``/infer``, the health and metadata routes;
* S3 event notifications: each new object is classified and its answer written as JSON
  to ``s3://OUTPUT_BUCKET/OUTPUT_PREFIX<key>.json`` (objects under the output prefix of
  the output bucket are skipped, so the function never triggers itself);
* direct invocations: ``{"model": ..., "image": "<base64>"}`` or ``{"sources": [...]}``
  answered with the route's JSON; a refused one raises the tensorgate error of its
  status, which the runtime reports as the invocation's error.

Configuration is by environment variables (``FunctionSettings.from_environ``).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tensorgate.config import EngineSettings, ServerSettings, default_repository
from tensorgate.engine import Engine, preflight
from tensorgate.errors import ConfigError, ProtocolError, error_for_status
from tensorgate.protocol.numbers import is_decimal
from tensorgate.serverless.asgi import AsgiAnswer, call_asgi
from tensorgate.serverless.events import (
    HttpRequest,
    S3Object,
    event_kind,
    http_answer,
    read_direct,
    read_http,
    read_s3,
)
from tensorgate.sources import S3Policy, SourcePolicy
from tensorgate.tasks import TASKS

__all__ = ["FunctionSettings", "LambdaFunction"]

DEFAULT_OUTPUT_PREFIX = "tensorgate-results/"


@dataclass(frozen=True, slots=True)
class FunctionSettings:
    """What the function serves and where S3 answers go.

    Attributes:
        repository: the model repository (``$TENSORGATE_REPOSITORY``; in a Lambda
            package, ``$LAMBDA_TASK_ROOT/models``).
        models: load only these (``$TENSORGATE_MODELS``, space-separated; empty: all).
        model: the model of S3 events and of direct invocations that name none
            (``$TENSORGATE_MODEL``; default: the repository's only model).
        output_bucket: where S3 events' answers go (``$TENSORGATE_OUTPUT_BUCKET``;
            default: the object's own bucket).
        output_prefix: the key prefix of those answers (``$TENSORGATE_OUTPUT_PREFIX``).
        s3_endpoint: an S3-compatible endpoint (``$TENSORGATE_S3_ENDPOINT``).
        s3_allow: buckets / prefixes that ``sources`` requests may read
            (``$TENSORGATE_S3_ALLOW``, space-separated).
        instances: instances per model (``$TENSORGATE_INSTANCES``; default one).
    """

    repository: Path
    models: tuple[str, ...] = ()
    model: str | None = None
    output_bucket: str | None = None
    output_prefix: str = DEFAULT_OUTPUT_PREFIX
    s3_endpoint: str | None = None
    s3_allow: tuple[str, ...] = ()
    instances: int = 1

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> FunctionSettings:
        task_root = environ.get("LAMBDA_TASK_ROOT")
        fallback = Path(task_root) / "models" if task_root else default_repository()
        instances = environ.get("TENSORGATE_INSTANCES", "1")
        if not is_decimal(instances) or int(instances) < 1:
            raise ConfigError(f"TENSORGATE_INSTANCES is {instances!r}; it must be an integer >= 1")
        return cls(
            repository=Path(environ.get("TENSORGATE_REPOSITORY") or fallback),
            models=tuple(environ.get("TENSORGATE_MODELS", "").split()),
            model=environ.get("TENSORGATE_MODEL") or None,
            output_bucket=environ.get("TENSORGATE_OUTPUT_BUCKET") or None,
            output_prefix=environ.get("TENSORGATE_OUTPUT_PREFIX", DEFAULT_OUTPUT_PREFIX),
            s3_endpoint=environ.get("TENSORGATE_S3_ENDPOINT") or None,
            s3_allow=tuple(environ.get("TENSORGATE_S3_ALLOW", "").split()),
            instances=int(instances),
        )


class LambdaFunction:
    """The engine, loaded at construction (Lambda's init phase), and one call per event."""

    def __init__(self, settings: FunctionSettings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        sources = SourcePolicy(
            s3=S3Policy(allowed=settings.s3_allow, endpoint_url=settings.s3_endpoint)
        )
        engine_settings = EngineSettings(
            repository=settings.repository,
            models=settings.models,
            instances=settings.instances,
            pin_threads=False,  # a Lambda environment's cores are not ours to pin
            sources=sources,
        )
        preflight(engine_settings)  # a missing repository or model is an init error
        self._engine = Engine(engine_settings)
        self._server = ServerSettings(access_log=False)
        from tensorgate.server.app import create_app

        self._app = create_app(self._engine, self._server)
        self._loop.run_until_complete(self._engine.start())  # loads and warms every model
        self.model = settings.model or self._only_model()
        self._s3: Any = None

    def _only_model(self) -> str | None:
        names = sorted({status.name for status in self._engine.statuses()})
        return names[0] if len(names) == 1 else None

    def close(self) -> None:
        self._loop.run_until_complete(self._engine.stop())
        self._loop.close()

    def __call__(self, event: Any, context: Any = None) -> Any:
        kind = event_kind(event)
        if kind in ("http-v1", "http-v2"):
            request = read_http(event, kind)
            answer = self._run(request)
            return http_answer(kind, answer.status, answer.headers, bytes(answer.body))
        if kind == "s3":
            return self._s3_event(read_s3(event))
        return self._direct(event)

    def _run(self, request: HttpRequest) -> AsgiAnswer:
        return self._loop.run_until_complete(call_asgi(self._app, request))

    def _post(self, path: str, body: bytes, content_type: str, query: str = "") -> tuple[int, Any]:
        headers = ((b"content-type", content_type.encode()),)
        answer = self._run(HttpRequest("POST", path, query.encode(), headers, body))
        return answer.status, json.loads(answer.body)

    def _model_for(self, named: str | None) -> str:
        model = named or self.model
        if model is None:
            raise ProtocolError(
                "name the model: the repository has several, so give 'model' in the event "
                "or set TENSORGATE_MODEL"
            )
        return model

    def _direct(self, event: dict[str, Any]) -> Any:
        request = read_direct(event, tuple(TASKS))
        model = self._model_for(request.model)
        query = f"top_k={request.top_k}" if request.top_k else ""
        if request.sources:
            body: dict[str, Any] = {"sources": list(request.sources)}
            if request.top_k:
                body["top_k"] = request.top_k
            status, doc = self._post(
                f"/v2/models/{model}/classify/sources",
                json.dumps(body).encode(),
                "application/json",
            )
        elif len(request.images) == 1:
            route = TASKS[request.task].route
            status, doc = self._post(
                f"/v2/models/{model}/{route}", request.images[0], "application/octet-stream", query
            )
        else:
            boundary = "tensorgate-lambda-boundary"
            parts = b"".join(
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                f'filename="image-{i}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                + image
                + b"\r\n"
                for i, image in enumerate(request.images)
            )
            route = TASKS[request.task].route
            status, doc = self._post(
                f"/v2/models/{model}/{route}",
                parts + f"--{boundary}--\r\n".encode(),
                f"multipart/form-data; boundary={boundary}",
                query,
            )
        if status >= 400:
            raise error_for_status(status, str(doc.get("error", doc)))
        return doc

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3  # only S3 events pay for importing boto3

            self._s3 = boto3.client("s3", endpoint_url=self.settings.s3_endpoint)
        return self._s3

    def _s3_event(self, objects: list[S3Object]) -> dict[str, Any]:
        """Classify each object and write its answer; a refused image is an answer too
        (status and error), a failure to read or write raises so Lambda retries."""
        model = self._model_for(None)
        client = self._client()
        limit = self._server.max_image_bytes
        written, skipped, refused = [], [], 0
        for item in objects:
            bucket = self.settings.output_bucket or item.bucket
            if bucket == item.bucket and item.key.startswith(self.settings.output_prefix):
                skipped.append(f"s3://{item.bucket}/{item.key}")  # one of our own answers
                continue
            source = f"s3://{item.bucket}/{item.key}"
            doc: dict[str, Any]
            if item.size is not None and item.size > limit:
                status, doc = 413, {"error": f"{source} is {item.size} bytes; at most {limit}"}
            else:
                data = client.get_object(Bucket=item.bucket, Key=item.key)["Body"].read()
                status, doc = self._post(
                    f"/v2/models/{model}/classify", data, "application/octet-stream"
                )
            if status >= 400:
                refused += 1
                doc = {"status": status, **doc}
            key = f"{self.settings.output_prefix}{item.key}.json"
            client.put_object(
                Bucket=bucket,
                Key=key,
                Body=json.dumps({"source": source, **doc}).encode(),
                ContentType="application/json",
            )
            written.append(f"s3://{bucket}/{key}")
        return {"written": written, "refused": refused, "skipped": skipped}


def from_environment() -> LambdaFunction:
    """The function configured by this process's environment."""
    return LambdaFunction(FunctionSettings.from_environ(os.environ))
