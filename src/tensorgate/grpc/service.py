"""``inference.GRPCInferenceService`` over the Engine, on the server's event loop.

Every RPC maps one engine call; errors leave as the gRPC status of their exception class
(``TensorgateError.grpc_code``) with the same message the HTTP door sends. The shared
memory, trace and log-settings RPCs answer UNIMPLEMENTED (the generated base class).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc
from google.protobuf import json_format

from tensorgate._version import __version__
from tensorgate.access import AccessPolicy
from tensorgate.config import ServerSettings
from tensorgate.engine import Engine
from tensorgate.errors import (
    ConfigError,
    ModelNotAvailableError,
    ModelNotFoundError,
    TensorgateError,
    UnavailableError,
)
from tensorgate.grpc._proto import mc, pb, pb_grpc
from tensorgate.grpc.codec import encode_response, parse_request, parse_version
from tensorgate.protocol import models as describe
from tensorgate.protocol.classification import with_classification
from tensorgate.tracing import traced_request, tracing_enabled

__all__ = ["InferenceService", "create_grpc_server"]

log = logging.getLogger("tensorgate.grpc")

R = TypeVar("R")
#: grpc.aio.ServicerContext (grpcio ships no type information).
Context: TypeAlias = Any


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """The Triton gRPC service, answered by ``engine``."""

    def __init__(self, engine: Engine, access: AccessPolicy) -> None:
        self._engine = engine
        self._access = access

    async def _call(
        self,
        context: Context,
        work: Callable[[], Awaitable[R]],
        *,
        control: bool = False,
        traced: str | None = None,
        model: str | None = None,
    ) -> R:
        """Check the token, run ``work``, map our errors to gRPC statuses. With tracing
        on, a ``traced`` call gets a span of that name (continuing the ``traceparent`` of
        its metadata) with its stages."""
        try:
            self._authorize(context, control=control)
            if traced is None or not tracing_enabled():
                return await work()
            carrier = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
            attributes = {"rpc.system": "grpc", "rpc.method": traced}
            if model:
                attributes["tensorgate.model"] = model
            with traced_request(f"grpc {traced}", carrier, attributes):
                return await work()
        except TensorgateError as exc:
            if exc.http_status >= 500 and not isinstance(exc, UnavailableError):
                log.warning("rpc failed", extra={"error": exc.message})
            await context.abort(grpc.StatusCode[exc.grpc_code], exc.message)
            raise  # abort raises; this line is for type checkers

    def _authorize(self, context: Context, *, control: bool) -> None:
        metadata = dict(context.invocation_metadata() or ())
        self._access.check(metadata.get("authorization"), control=control)

    # ------------------------------------------------------------------ health
    async def ServerLive(self, request: Any, context: Context) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Context) -> Any:
        return pb.ServerReadyResponse(ready=self._engine.ready)

    async def ModelReady(self, request: Any, context: Context) -> Any:
        async def work() -> Any:
            if self._engine.is_pipeline(request.name):  # ready when every step's model is
                return pb.ModelReadyResponse(ready=self._engine.pipeline(request.name).ready)
            try:
                self._engine.model(request.name, parse_version(request.version))
            except (ModelNotFoundError, ModelNotAvailableError, UnavailableError):
                return pb.ModelReadyResponse(ready=False)
            return pb.ModelReadyResponse(ready=True)

        return await self._call(context, work)

    # ---------------------------------------------------------------- metadata
    async def ServerMetadata(self, request: Any, context: Context) -> Any:
        async def work() -> Any:
            return pb.ServerMetadataResponse(
                name="tensorgate", version=__version__, extensions=list(describe.EXTENSIONS)
            )

        return await self._call(context, work)

    async def ModelMetadata(self, request: Any, context: Context) -> Any:
        async def work() -> Any:
            if self._engine.is_pipeline(request.name):
                doc = describe.pipeline_metadata(self._engine.pipeline(request.name))
                return json_format.ParseDict(
                    doc, pb.ModelMetadataResponse(), ignore_unknown_fields=True
                )
            model = self._engine.model(request.name, parse_version(request.version))
            doc = describe.model_metadata(model, self._engine.versions(model.name))
            return json_format.ParseDict(doc, pb.ModelMetadataResponse())

        return await self._call(context, work)

    async def ModelConfig(self, request: Any, context: Context) -> Any:
        async def work() -> Any:
            model = self._engine.model(request.name, parse_version(request.version))
            config = json_format.ParseDict(
                describe.model_config_json(model), mc.ModelConfig(), ignore_unknown_fields=True
            )
            return pb.ModelConfigResponse(config=config)

        return await self._call(context, work)

    async def ModelStatistics(self, request: Any, context: Context) -> Any:
        async def work() -> Any:
            name = request.name or None
            views = self._engine.statistics(name, parse_version(request.version))
            stats = [describe.statistics_v2(v) for v in views]
            return json_format.ParseDict(
                {"model_stats": stats}, pb.ModelStatisticsResponse(), ignore_unknown_fields=True
            )

        return await self._call(context, work)

    # --------------------------------------------------------------- inference
    async def _infer(self, request: Any) -> Any:
        parsed = parse_request(request)
        result = await self._engine.infer_keyed(
            request.model_name,
            parsed.inputs,
            version=parsed.version,
            outputs=parsed.outputs,
            timeout_s=parsed.timeout_s,
        )
        outputs = result.outputs
        if parsed.classification:
            post = self._engine.model(request.model_name, result.key.version).config.postprocess
            outputs = with_classification(outputs, parsed.classification, post)
        return encode_response(request.model_name, result.key.version, request.id, outputs)

    async def ModelInfer(self, request: Any, context: Context) -> Any:
        return await self._call(
            context, lambda: self._infer(request), traced="ModelInfer", model=request.model_name
        )

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[Any], context: Context
    ) -> AsyncIterator[Any]:
        """One response per request, in order; a failed request answers with its
        ``error_message`` and the stream goes on."""
        try:
            self._authorize(context, control=False)
        except TensorgateError as exc:
            await context.abort(grpc.StatusCode[exc.grpc_code], exc.message)
        async for request in request_iterator:
            try:
                response = await self._infer(request)
            except TensorgateError as exc:
                yield pb.ModelStreamInferResponse(error_message=exc.message)
                continue
            yield pb.ModelStreamInferResponse(infer_response=response)

    # -------------------------------------------------------------- repository
    async def RepositoryIndex(self, request: Any, context: Context) -> Any:
        async def work() -> Any:
            index = describe.repository_index(self._engine.statuses(), request.ready)
            return json_format.ParseDict({"models": index}, pb.RepositoryIndexResponse())

        return await self._call(context, work)

    async def RepositoryModelLoad(self, request: Any, context: Context) -> Any:
        async def work() -> Any:
            describe.refuse_load_parameters(request.parameters.keys())
            await self._engine.load_model(request.model_name)
            return pb.RepositoryModelLoadResponse()

        return await self._call(context, work, control=True)

    async def RepositoryModelUnload(self, request: Any, context: Context) -> Any:
        async def work() -> Any:
            await self._engine.unload_model(request.model_name)
            return pb.RepositoryModelUnloadResponse()

        return await self._call(context, work, control=True)


#: Concurrent HTTP/2 streams one client connection may hold (nginx allows 128). Without a
#: bound, an HTTP/2 rapid-reset flood (CVE-2023-44487) piles up calls the server has not
#: yet picked up, past grpc's pending-call limit, and well-behaved clients' calls on
#: other connections were CANCELLED (16 of 22 during a 20,000-stream flood; with the
#: bound, 0 of 175). tests/server/test_hostile.py, bench/hostile.py.
MAX_STREAMS_PER_CONNECTION = 100


def create_grpc_server(engine: Engine, settings: ServerSettings) -> tuple[grpc.aio.Server, int]:
    """A gRPC server bound to ``settings.host:settings.grpc_port`` (not started yet);
    returns it and the port it bound."""
    limit = settings.max_tensor_bytes
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            # Off, so a taken port fails the start, unless `serve --workers` shares it.
            ("grpc.so_reuseport", int(settings.reuse_port)),
            ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
        ]
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceService(engine, settings.access), server
    )
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    port = server.add_insecure_port(f"{host}:{settings.grpc_port or 0}")
    if port == 0:
        raise ConfigError(
            f"cannot bind gRPC to {settings.host}:{settings.grpc_port}; the port is taken "
            "or not allowed — pick another with --grpc-port"
        )
    return server, port
