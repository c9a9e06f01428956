"""The one exception tree of tensorgate.

Every error a user can trigger is one of these. Each class knows the HTTP status and the
gRPC status code it maps to, so every adapter answers the same failure the same way::

    TensorgateError                      500  INTERNAL
    ├── InvalidInputError                400  INVALID_ARGUMENT   malformed request or tensor
    │   ├── ProtocolError                400  INVALID_ARGUMENT   body is not valid V2
    │   ├── ImageError                   400  INVALID_ARGUMENT   corrupt / truncated / empty image
    │   │   ├── UnsupportedImageError    415  INVALID_ARGUMENT   format we do not decode
    │   │   └── ImageTooLargeError       413  INVALID_ARGUMENT   pixel or side limit exceeded
    │   ├── PayloadTooLargeError         413  INVALID_ARGUMENT   body over the byte limit
    │   ├── SlowRequestError             408  INVALID_ARGUMENT   body not sent in time
    │   └── SourceError                  400  INVALID_ARGUMENT   a URL could not be fetched
    │       ├── BlockedSourceError       403  PERMISSION_DENIED  URL, bucket or address not allowed
    │       ├── SourceNotFoundError      404  NOT_FOUND          no such object / URL
    │       └── SourceTooLargeError      413  INVALID_ARGUMENT   fetched body over the limit
    ├── ConfigError                      500  INVALID_ARGUMENT   bad config.yaml / settings
    ├── ModelLoadError                   400  INVALID_ARGUMENT   a load request failed
    ├── MemoryBudgetError                507  RESOURCE_EXHAUSTED model does not fit the budget
    ├── UnauthenticatedError             401  UNAUTHENTICATED    missing or wrong bearer token
    ├── PermissionDeniedError            403  PERMISSION_DENIED  the caller may not do this
    │   ├── ControlDisabledError         403  PERMISSION_DENIED  model control is off
    │   └── BlockedSourceError           (also a SourceError, above)
    ├── ModelNotFoundError               404  NOT_FOUND          unknown model or version
    ├── ModelNotAvailableError           400  NOT_FOUND          no version loaded (unloaded)
    ├── UnavailableError                 503  UNAVAILABLE        cannot take the request now
    │   ├── ModelNotReadyError           503  UNAVAILABLE        model is not READY
    │   ├── QueueFullError               503  UNAVAILABLE        batcher queue at its bound
    │   └── ShuttingDownError            503  UNAVAILABLE        server is draining
    ├── DeadlineExceededError            504  DEADLINE_EXCEEDED  request ran past its deadline
    ├── InferenceError                   500  INTERNAL           the runtime failed on a batch
    ├── ConversionError                  500  INTERNAL           convert / optimize failed
    │   └── AccuracyError                500  INTERNAL           result disagrees with its source
    └── JobError                         400  INVALID_ARGUMENT   a batch job cannot start or resume

Messages say what was wrong, the offending value, and how to fix it.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccuracyError",
    "BlockedSourceError",
    "ConfigError",
    "ControlDisabledError",
    "ConversionError",
    "DeadlineExceededError",
    "ImageError",
    "ImageTooLargeError",
    "InferenceError",
    "InvalidInputError",
    "JobError",
    "MemoryBudgetError",
    "ModelLoadError",
    "ModelNotAvailableError",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "QueueFullError",
    "ShuttingDownError",
    "SlowRequestError",
    "SourceError",
    "SourceNotFoundError",
    "SourceTooLargeError",
    "TensorgateError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnsupportedImageError",
    "error_for_status",
]


class TensorgateError(Exception):
    """Base class of every error tensorgate raises on purpose."""

    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[str] = "INTERNAL"

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class PermissionDeniedError(TensorgateError):
    """The caller may not do this: a URL or bucket outside the allowed sources, or model
    control on a server started without it."""

    http_status = 403
    grpc_code = "PERMISSION_DENIED"


class InvalidInputError(TensorgateError):
    """A request's content is wrong: unknown input name, wrong dtype or shape, bad value."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class ProtocolError(InvalidInputError):
    """A request body does not follow the V2 inference protocol (JSON or binary extension)."""


class ImageError(InvalidInputError):
    """An image is empty, corrupt or truncated and cannot be decoded."""


class UnsupportedImageError(ImageError):
    """An image is of a format tensorgate does not decode (only JPEG, PNG and WebP are)."""

    http_status = 415


class ImageTooLargeError(ImageError):
    """An image has more pixels, or a longer side, than the configured limits allow."""

    http_status = 413


class PayloadTooLargeError(InvalidInputError):
    """A request body is larger than the configured byte limit."""

    http_status = 413


class SlowRequestError(InvalidInputError):
    """The client did not send its request body within the deadline (a slow or stalled
    client, or slowloris)."""

    http_status = 408


class SourceError(InvalidInputError):
    """An image source (a URL) could not be fetched: unreachable, slow, or not HTTP 200."""


class BlockedSourceError(SourceError, PermissionDeniedError):
    """A URL, a redirect or the address it resolves to is not allowed (SSRF guard)."""

    http_status = 403
    grpc_code = "PERMISSION_DENIED"


class SourceNotFoundError(SourceError):
    """The object (or URL) does not exist."""

    http_status = 404
    grpc_code = "NOT_FOUND"


class SourceTooLargeError(SourceError):
    """A fetched body is larger than the configured byte limit."""

    http_status = 413


class ConfigError(TensorgateError):
    """A model's config.yaml, the repository layout or a setting is invalid.

    The message names the file, the field, what was wrong and what is allowed.
    """

    grpc_code = "INVALID_ARGUMENT"


class ModelLoadError(TensorgateError):
    """A load request (or a repository poll) could not load a model version; whatever
    versions were serving keep serving."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


class MemoryBudgetError(TensorgateError):
    """A model does not fit the device's memory budget, even after evicting every idle
    model (or it is larger than the whole budget)."""

    http_status = 507
    grpc_code = "RESOURCE_EXHAUSTED"


class UnauthenticatedError(TensorgateError):
    """A request lacks the bearer token its route needs, or sent a wrong one."""

    http_status = 401
    grpc_code = "UNAUTHENTICATED"


class ControlDisabledError(PermissionDeniedError):
    """A model-control request (load / unload) reached a server started without it."""

    http_status = 403
    grpc_code = "PERMISSION_DENIED"


class ModelNotFoundError(TensorgateError):
    """No model (or no such version of it) is in the repository."""

    http_status = 404
    grpc_code = "NOT_FOUND"


class ModelNotAvailableError(TensorgateError):
    """The model is in the repository but no version of it is loaded: it was unloaded by
    request, or every version failed to load. Retrying will not help until it is loaded
    again, so this is not a 503 (Triton answers the same way: "has no available
    versions")."""

    http_status = 400
    grpc_code = "NOT_FOUND"


class UnavailableError(TensorgateError):
    """The server cannot take this request now; retrying later may succeed."""

    http_status = 503
    grpc_code = "UNAVAILABLE"
    #: Seconds a client should wait before retrying, sent as ``Retry-After``.
    retry_after: float = 1.0


class ModelNotReadyError(UnavailableError):
    """The model exists but is not READY (loading, unloading or failed)."""


class QueueFullError(UnavailableError):
    """The model's request queue is at its bound; the request was not accepted."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ShuttingDownError(UnavailableError):
    """The server is draining for shutdown and accepts no new requests."""


class DeadlineExceededError(TensorgateError):
    """A request was not answered before its deadline; its work was dropped."""

    http_status = 504
    grpc_code = "DEADLINE_EXCEEDED"


class InferenceError(TensorgateError):
    """The runtime failed while running a batch; every request of that batch gets this."""


class ConversionError(TensorgateError):
    """``convert`` or ``optimize`` could not produce a model faithful to its source."""


class AccuracyError(ConversionError):
    """A converted or optimized model disagrees with its source beyond the threshold;
    nothing was written. ``report`` holds what was measured, where there is one."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class JobError(TensorgateError):
    """An offline batch job cannot start or resume: no inputs matched, an output format
    we cannot write, or another job's unfinished state where this one would write."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"


def _depth(kind: type[TensorgateError]) -> int:
    return sum(1 for base in kind.__mro__ if issubclass(base, TensorgateError))


def _status_table() -> dict[int, type[TensorgateError]]:
    """For each HTTP status, the most general class of this tree that answers with it
    (the fewest ancestors; on a tie, the one declared first)."""
    table: dict[int, type[TensorgateError]] = {}
    for kind in list(globals().values()):  # in the order the classes are declared
        if not isinstance(kind, type) or not issubclass(kind, TensorgateError):
            continue
        known = table.get(kind.http_status)
        if known is None or _depth(kind) < _depth(known):
            table[kind.http_status] = kind
    return table


_BY_STATUS = _status_table()


def error_for_status(status: int, message: str) -> TensorgateError:
    """The exception an HTTP error answer of ``status`` stands for, with ``message``.

    Derived from this tree, so a class added here is found by status without a second
    table: 401 is ``UnauthenticatedError``, 403 ``PermissionDeniedError``, 503
    ``UnavailableError``; a status no class answers with is a ``TensorgateError``.
    """
    return _BY_STATUS.get(status, TensorgateError)(message)
