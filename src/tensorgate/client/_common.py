"""What the clients share: image inputs, predictions, retries and error mapping (pure)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

import numpy as np
from PIL import Image

from tensorgate.errors import (
    BlockedSourceError,
    ImageError,
    ImageTooLargeError,
    InvalidInputError,
    ProtocolError,
    SourceNotFoundError,
    SourceTooLargeError,
    TensorgateError,
    UnavailableError,
    error_for_status,
)
from tensorgate.protocol.answers import answer_from_json
from tensorgate.protocol.datatypes import datatype_of, decode_binary, decode_json, encode_binary
from tensorgate.protocol.numbers import is_decimal
from tensorgate.tasks.results import TaskAnswer
from tensorgate.types import Array, Classification

if TYPE_CHECKING:
    import httpx

__all__ = [
    "Call",
    "ImageInput",
    "ModelIndexEntry",
    "Prediction",
    "RetryPolicy",
    "answer_from",
    "classify_call",
    "control_call",
    "decode_infer_response",
    "encode_infer_request",
    "error_for",
    "image_bytes",
    "index_call",
    "index_from",
    "infer_call",
    "predictions_from",
    "s3_uris",
    "source_results",
    "sources_call",
    "task_call",
    "wait_after_answer",
    "wait_after_failure",
]

A = TypeVar("A", bound=TaskAnswer)

#: What ``predict`` takes per image: a path, encoded bytes, an HWC uint8 array, a PIL image.
ImageInput = Union[str, Path, bytes, bytearray, np.ndarray, Image.Image]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class Prediction:
    """The answer for one image.

    Attributes:
        classes: the best classes, best first.
        source: the file name or key the image came from, if any.
    """

    classes: tuple[Classification, ...]
    source: str | None = None

    @property
    def label(self) -> str:
        """The best class's label."""
        return self.classes[0].label

    @property
    def score(self) -> float:
        """The best class's score."""
        return self.classes[0].score


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of a request answered 503 (or that could not connect).

    Attributes:
        attempts: tries in all (1: no retry).
        backoff_s: first wait; doubled on every retry.
        max_backoff_s: longest single wait (also caps a server's Retry-After).
    """

    attempts: int = 4
    backoff_s: float = 0.1
    max_backoff_s: float = 5.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before try ``attempt + 1`` (attempt counts from 1)."""
        wait: float = self.backoff_s * float(2 ** (attempt - 1))
        if retry_after is not None and is_decimal(retry_after):
            wait = max(wait, float(retry_after))
        return min(wait, self.max_backoff_s)

    def retry_in(self, attempt: int, status: int | None, retry_after: str | None) -> float | None:
        """Seconds to wait before trying again, or None when this answer is final.

        ``status`` is None for a request that failed to connect; 503 is retried too.
        """
        if attempt >= self.attempts or status not in (None, 503):
            return None
        return self.delay(attempt, retry_after)


@dataclass(frozen=True, slots=True)
class Call:
    """One POST to make: the path and httpx's keyword arguments (no I/O here)."""

    path: str
    kwargs: dict[str, Any]


def classify_call(model: str, data: bytes, top_k: int | None) -> Call:
    return task_call(model, "classify", data, top_k)


def task_call(model: str, route: str, data: bytes, top_k: int | None = None) -> Call:
    """One image to a task's route (``classify``, ``detect``, ``embed``)."""
    params = {} if top_k is None else {"top_k": top_k}
    headers = {"Content-Type": "application/octet-stream"}
    return Call(
        f"/v2/models/{model}/{route}", {"content": data, "params": params, "headers": headers}
    )


def answer_from(task: str, doc: Mapping[str, Any], kind: type[A]) -> A:
    """The one answer of a task route's response body, which must be a ``kind``.

    Raises:
        ProtocolError: the body is not one answer of that kind (a server of another
            version, or another server).
    """
    results = doc.get("results") if isinstance(doc, Mapping) else None
    if not isinstance(results, list) or len(results) != 1:
        raise ProtocolError(f"a {task} response must have one result, got {str(doc)[:200]}")
    answer: TaskAnswer = answer_from_json(task, results[0])
    if not isinstance(answer, kind):
        raise ProtocolError(f"a {task} response held a {type(answer).__name__}")
    return answer


def sources_call(model: str, sources: Sequence[str], top_k: int | None) -> Call:
    body: dict[str, Any] = {"sources": list(sources)}
    if top_k is not None:
        body["top_k"] = top_k
    return Call(f"/v2/models/{model}/classify/sources", {"json": body})


def index_call(ready: bool) -> Call:
    return Call("/v2/repository/index", {"json": {"ready": ready}})


def control_call(model: str, action: str, token: str | None) -> Call:
    """A repository ``load`` or ``unload`` (with the control token, if it differs)."""
    if action not in ("load", "unload"):
        raise InvalidInputError(f"repository action {action!r} is not load or unload")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Call(f"/v2/repository/models/{model}/{action}", {"json": {}, "headers": headers})


@dataclass(frozen=True, slots=True)
class ModelIndexEntry:
    """One model version of a server's repository index.

    Attributes:
        name: model name.
        version: version number, or None for a model that failed before any version.
        state: READY, LOADING, UNLOADING or UNAVAILABLE.
        reason: why it is not READY ("" otherwise).
        steps: a pipeline's steps as ``(step, model, state)`` ("" model for a crop step);
            empty for a model.
    """

    name: str
    version: int | None
    state: str
    reason: str = ""
    steps: tuple[tuple[str, str, str], ...] = ()


def index_from(doc: Any) -> list[ModelIndexEntry]:
    """The entries of a ``/v2/repository/index`` response body."""
    return [
        ModelIndexEntry(
            str(item["name"]),
            int(item["version"]) if is_decimal(str(item.get("version", ""))) else None,
            str(item.get("state", "")),
            str(item.get("reason", "")),
            tuple(
                (str(s["name"]), str(s.get("model", "")), str(s.get("state", "")))
                for s in item.get("steps", ())
            ),
        )
        for item in doc
    ]


def infer_call(model: str, inputs: Mapping[str, Array]) -> Call:
    body, headers = encode_infer_request(inputs)
    return Call(f"/v2/models/{model}/infer", {"content": body, "headers": headers})


def image_bytes(image: ImageInput) -> tuple[bytes, str | None]:
    """Encoded bytes of one image input and its name (arrays and PIL images as PNG)."""
    if isinstance(image, bytes | bytearray):
        return bytes(image), None
    if isinstance(image, str | Path):
        path = Path(image)
        try:
            return path.read_bytes(), path.name
        except OSError as exc:
            raise ImageError(f"image file {str(path)!r} cannot be read: {exc.strerror}") from None
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise InvalidInputError(
                f"an image array must be HxW or HxWxC uint8, got {image.dtype} {image.shape}"
            )
        image = Image.fromarray(image)
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        return buffer.getvalue(), None
    raise InvalidInputError(
        f"cannot send {type(image).__name__} as an image; give a path, bytes, "
        "a uint8 numpy array or a PIL image"
    )


def predictions_from(doc: Mapping[str, Any], sources: list[str | None]) -> list[Prediction]:
    """Predictions from a ``/classify`` response body."""
    out = []
    for result, source in zip(doc["results"], sources, strict=True):
        classes = tuple(
            Classification(int(p["index"]), str(p["label"]), float(p["score"]))
            for p in result["predictions"]
        )
        out.append(Prediction(classes, source if source is not None else result.get("filename")))
    return out


def source_results(doc: Mapping[str, Any]) -> list[Prediction | TensorgateError]:
    """Per-item answers of a ``/classify/sources`` response: a Prediction, or the error
    that stopped that item (the others are unaffected)."""
    out: list[Prediction | TensorgateError] = []
    for item in doc["results"]:
        if "error" in item:
            status = int(item["status"])
            kind = _SOURCE_BY_STATUS.get(status)
            if kind is not None:
                out.append(kind(f"HTTP {status}: {item['error']}"))
            else:
                out.append(error_for(status, json.dumps({"error": item["error"]}).encode()))
        else:
            classes = tuple(
                Classification(int(p["index"]), str(p["label"]), float(p["score"]))
                for p in item["predictions"]
            )
            out.append(Prediction(classes, item["source"]))
    return out


def s3_uris(bucket: str, keys: Sequence[str]) -> list[str]:
    """``s3://bucket/key`` for each key."""
    return [f"s3://{bucket}/{key.lstrip('/')}" for key in keys]


_SOURCE_BY_STATUS: dict[int, type[TensorgateError]] = {
    403: BlockedSourceError,
    404: SourceNotFoundError,
    413: SourceTooLargeError,
}


def error_for(status: int, body: bytes) -> TensorgateError:
    """The exception a server's error answer stands for, with the server's message."""
    try:
        message = str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        message = body[:500].decode("utf-8", "replace") or f"HTTP {status}"
    if status == 413 and "pixels" in message:
        return ImageTooLargeError(message)
    return error_for_status(status, f"HTTP {status}: {message}")


def wait_after_failure(retry: RetryPolicy, attempt: int, where: object, error: Exception) -> float:
    """Seconds to wait after attempt ``attempt`` failed to connect.

    Raises:
        UnavailableError: no retry is left.
    """
    wait = retry.retry_in(attempt, None, None)
    if wait is None:
        raise UnavailableError(f"cannot reach {where}: {error}") from None
    return wait


def wait_after_answer(retry: RetryPolicy, attempt: int, response: httpx.Response) -> float | None:
    """Seconds to wait after attempt ``attempt`` got ``response`` (a retryable 503), or
    None when it is the final answer.

    Raises:
        TensorgateError: the final answer is not 200 (the class its status maps to).
    """
    wait = retry.retry_in(attempt, response.status_code, response.headers.get("retry-after"))
    if wait is None and response.status_code != 200:
        raise error_for(response.status_code, response.content)
    return wait


def encode_infer_request(inputs: Mapping[str, Array]) -> tuple[bytes, dict[str, str]]:
    """A binary-extension V2 request body and its headers."""
    entries = []
    blobs = []
    for name, array in inputs.items():
        blob = encode_binary(array)
        entries.append(
            {
                "name": name,
                "datatype": datatype_of(array),
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(blob)},
            }
        )
        blobs.append(blob)
    header = json.dumps({"inputs": entries, "parameters": {"binary_data_output": True}}).encode()
    return b"".join([header, *blobs]), {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream",
    }


def decode_infer_response(body: bytes, header_length: str | None) -> dict[str, Array]:
    """Output tensors of a V2 response (binary or JSON outputs)."""
    length = len(body) if header_length is None else int(header_length)
    doc = json.loads(body[:length])
    view = memoryview(body)[length:]
    offset = 0
    outputs: dict[str, Array] = {}
    for item in doc["outputs"]:
        shape = tuple(item["shape"])
        size = item.get("parameters", {}).get("binary_data_size")
        if size is None:
            outputs[item["name"]] = decode_json(item["name"], item["datatype"], shape, item["data"])
        else:
            raw = view[offset : offset + size]
            outputs[item["name"]] = decode_binary(item["name"], item["datatype"], shape, raw)
            offset += size
    return outputs
