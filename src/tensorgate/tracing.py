"""OpenTelemetry tracing: a span per request, and one per stage inside it.

Off by default. ``configure_tracing()`` (the server's ``--tracing``) builds a tracer
provider of our own (the host application's global one is left alone): its sampler and
exporter follow the standard variables: ``OTEL_TRACES_SAMPLER`` /
``OTEL_TRACES_SAMPLER_ARG`` (e.g. ``parentbased_traceidratio`` and ``0.1``),
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OTLP over
HTTP, batched in the background) and ``OTEL_SERVICE_NAME`` (default ``tensorgate``).
Tests hand in an in-memory exporter.

A request's span continues the caller's trace when it sends a W3C ``traceparent``
(HTTP header or gRPC metadata). While the request runs, its stages are recorded as
intervals (``tensorgate.timing``): read body, decode (per image), queue wait, batch run
(with the batch's rows, requests, instance and device), postprocess, and a pipeline's
steps. When it ends, they become child spans with their own start and end times. A
request the sampler drops records nothing.

Needs the ``tracing`` extra (opentelemetry-sdk and the OTLP HTTP exporter).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tensorgate.errors import ConfigError
from tensorgate.timing import RequestTiming, timed

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

__all__ = ["configure_tracing", "disable_tracing", "traced_request", "tracing_enabled"]

_tracer: Tracer | None = None
_shutdown: list[Any] = []


def configure_tracing(exporter: SpanExporter | None = None) -> None:
    """Turn tracing on: the OTLP exporter of the ``OTEL_*`` variables, or ``exporter``
    (spans are then handed over as each ends).

    Raises:
        ConfigError: the ``tracing`` extra is not installed.
    """
    global _tracer
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        raise ConfigError(
            "tracing needs OpenTelemetry: pip install 'tensorgate[tracing]'"
        ) from None
    name = os.environ.get("OTEL_SERVICE_NAME", "tensorgate")
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _tracer = provider.get_tracer("tensorgate")
    _shutdown.append(provider.shutdown)


def disable_tracing() -> None:
    """Turn tracing off again, flushing what the exporter still holds."""
    global _tracer
    _tracer = None
    while _shutdown:
        _shutdown.pop()()


def tracing_enabled() -> bool:
    return _tracer is not None


@contextlib.contextmanager
def traced_request(
    name: str, carrier: Mapping[str, str], attributes: Mapping[str, Any]
) -> Iterator[tuple[RequestTiming, Span | None]]:
    """Time one request; with tracing on, also its server span (continuing the trace of
    a ``traceparent`` in ``carrier``) and, when sampled, a child span per stage."""
    if _tracer is None:
        with timed() as timing:
            yield timing, None
        return
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract(carrier)
    with _tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=dict(attributes)
    ) as span:
        recording = span.is_recording()
        offset = time.time_ns() - time.monotonic_ns()
        with timed(stages=recording) as timing:
            try:
                yield timing, span
            except BaseException as exc:
                if recording:
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                if recording:
                    _stage_spans(_tracer, span, timing, offset)


def _stage_spans(tracer: Tracer, parent: Span, timing: RequestTiming, offset: int) -> None:
    from opentelemetry.trace import set_span_in_context

    context = set_span_in_context(parent)
    for stage in timing.stages or ():
        child = tracer.start_span(
            stage.name,
            context=context,
            start_time=offset + int(stage.start * 1e9),
            attributes=stage.attributes,
        )
        child.end(end_time=offset + int(stage.end * 1e9))
