"""Inputs made on the instance's thread just before their batch runs.

A request may be queued as a :class:`Deferred` instead of tensors: a function that makes
its tensors (decoding and preprocessing an image, say), the shape they will have (so it
can share a batch before it exists), and room for what else the function returns (the
image's geometry). The batcher calls it on the instance thread that runs the batch, so
the work never competes with a running batch for the cores: each instance decodes, then
computes, as one sequence (docs/perf.md, "decode on the instance").

A failure of the function fails only its own request; the others of the batch run.
The result or the failure is kept, so a batch retried one request at a time does not
make an input twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tensorgate.batching.tensors import ShapeKey, shape_key
from tensorgate.errors import InferenceError, TensorgateError
from tensorgate.types import Array, Tensors

if TYPE_CHECKING:
    import torch

__all__ = ["Deferred", "DeviceInputs", "DeviceMaker", "Part", "detached"]

#: One request's outputs, or the error that failed it alone (its input could not be made).
Part = dict[str, Array] | TensorgateError


def detached(error: TensorgateError) -> TensorgateError:
    """``error`` without its traceback (nor its causes' tracebacks).

    A failure kept beside what it failed on (in the Deferred, in the batch's list of
    parts) would otherwise hold, through its traceback, the frames that made it, and
    they hold the error again: a reference cycle that keeps a whole batch's images and
    tensors alive until the rare full garbage collection (the soak measured +358 MiB in
    two minutes with 10 % bad images). Raised again, it gets a fresh traceback.
    """
    seen: BaseException | None = error
    while seen is not None:
        seen.__traceback__ = None
        seen = seen.__cause__ or seen.__context__
    return error


class DeviceMaker(Protocol):
    """Makes many requests' inputs on the device in one call."""

    def prepare_many(
        self, datas: Sequence[bytes]
    ) -> Sequence[tuple[torch.Tensor, object] | TensorgateError]:
        """Per payload, in order: its tensor on the device (no batch axis) and what the
        request gets beside it (an image's geometry), or the error it alone gets."""
        ...


@dataclass(frozen=True, slots=True)
class DeviceInputs:
    """How a model's queued payloads become its input on the device (equal when they
    share a maker and an input: such requests may be made as one batch).

    Attributes:
        maker: makes the tensors from the requests' payloads.
        input_name: the model input the stacked tensors feed.
    """

    maker: DeviceMaker
    input_name: str


@dataclass(eq=False, slots=True)
class Deferred:
    """One queue entry's inputs (one or more rows of a request), to be made by ``make``
    on the instance thread.

    Attributes:
        make: returns the tensors (with the batch axis, ``rows`` rows) and an extra
            value for the caller (kept in ``extra``).
        key: what the tensors will be, as ``batching.tensors.shape_key`` would say.
        rows: rows the tensors will have.
        extra: what ``make`` returned beside the tensors, once it has run.
        error: its failure, once it has failed.
        started, ended: ``time.monotonic()`` around the call, once it has run.
        device: how a whole batch of such requests is made on the model's device
            instead, from their ``payloads`` (batching/device.py); None: host path only.
        payloads: what ``device`` makes the inputs from, a row each (images' bytes).
    """

    make: Callable[[], tuple[Tensors, object]]
    key: ShapeKey
    rows: int = 1
    device: DeviceInputs | None = None
    payloads: tuple[bytes, ...] = ()
    extra: object = None
    error: TensorgateError | None = None
    started: float = 0.0
    ended: float = 0.0
    _tensors: Tensors | None = field(default=None, repr=False)

    def materialize(self) -> Tensors:
        """The tensors, made on the first call (instance thread).

        Raises:
            TensorgateError: ``make`` failed (a bad image: its own 4xx error; anything
                else becomes an InferenceError naming it).
        """
        if self._tensors is not None:
            return self._tensors
        if self.error is not None:
            raise self.error
        self.started = time.monotonic()
        try:
            tensors, self.extra = self.make()
        except TensorgateError as exc:
            self.error = exc
            raise
        except Exception as exc:
            self.error = InferenceError(
                f"making this request's inputs failed: {type(exc).__name__}: {exc}"
            )
            raise self.error from exc
        finally:
            self.ended = time.monotonic()
        got = shape_key(tensors)
        if got != self.key:
            self.error = InferenceError(
                f"an input made on the instance has {got}, not the {self.key} it was queued "
                "as; this is a bug in the preprocessing's declared shape"
            )
            raise self.error
        self._tensors = tensors
        return tensors

    def release(self) -> None:
        """Drop the tensors and the failure once the request is settled (its outputs or
        its error are on its future): nothing then keeps a batch's pixels alive, even
        if a traceback cycle keeps this object itself alive for a while."""
        self._tensors = None
        self.error = None
