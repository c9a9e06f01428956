"""``Client``: the HTTP client production teams otherwise write by hand.

Calls return ``concurrent.futures.Future`` so a caller can keep many images in flight;
connections are pooled; a 503 (or a failed connection) is retried with exponential
backoff, honouring ``Retry-After``::

    with tensorgate.Client("http://127.0.0.1:8000") as client:
        predictions = client.predict(["cat.jpg", jpeg_bytes]).result()
        print(predictions[0].label)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from tensorgate.client._common import (
    Call,
    ImageInput,
    ModelIndexEntry,
    Prediction,
    RetryPolicy,
    answer_from,
    classify_call,
    control_call,
    decode_infer_response,
    image_bytes,
    index_call,
    index_from,
    infer_call,
    predictions_from,
    s3_uris,
    source_results,
    sources_call,
    task_call,
    wait_after_answer,
    wait_after_failure,
)
from tensorgate.errors import TensorgateError
from tensorgate.tasks.results import Detections, Embedding, TaskAnswer, TextLine, TextRegions
from tensorgate.types import Array

A = TypeVar("A", bound=TaskAnswer)

__all__ = ["Client"]


class Client:
    """A pooled, retrying client of one tensorgate server.

    Args:
        url: the server, e.g. ``http://127.0.0.1:8000``.
        model: the model ``predict`` and ``infer`` use unless told otherwise.
        timeout_s: per HTTP request.
        retry: how 503s and connection failures are retried.
        max_workers: requests in flight at once.
        auth_token: bearer token, if the server requires one.
        control_token: bearer token of load / unload, where it differs from auth_token.
        sleep: how to wait between retries (tests pass a recorder).
        transport: an httpx transport (tests only).
    """

    def __init__(
        self,
        url: str,
        model: str = "efficientnet-lite0",
        *,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        max_workers: int = 8,
        auth_token: str | None = None,
        control_token: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self.model = model
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            timeout=timeout_s,
            headers=headers,
            limits=httpx.Limits(max_connections=max_workers, max_keepalive_connections=max_workers),
            transport=transport,
        )
        self._retry = retry or RetryPolicy()
        self._control = control_token
        self._sleep = sleep
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="tensorgate-client"
        )
        self._closed = False

    def _post(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.post(call.path, **call.kwargs)
            except httpx.TransportError as exc:
                wait = wait_after_failure(self._retry, attempt, self._http.base_url, exc)
            else:
                again = wait_after_answer(self._retry, attempt, response)
                if again is None:
                    return response
                wait = again
            self._sleep(wait)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        if self._closed:
            raise RuntimeError("Cannot use a closed Client; create a new one")
        return self._pool.submit(fn, *args)

    def _classify_one(self, image: ImageInput, model: str, top_k: int | None) -> Prediction:
        data, source = image_bytes(image)
        response = self._post(classify_call(model, data, top_k))
        return predictions_from(response.json(), [source])[0]

    def predict(
        self, images: Sequence[ImageInput], *, model: str | None = None, top_k: int | None = None
    ) -> Future[list[Prediction]]:
        """Classify images (paths, bytes, uint8 arrays, PIL images), one Prediction each,
        in order. Images go in parallel; the server batches them."""
        return _all(
            [self._submit(self._classify_one, i, model or self.model, top_k) for i in images]
        )

    def _answer(self, task: str, kind: type[A], image: ImageInput, model: str) -> A:
        data, _ = image_bytes(image)
        return answer_from(task, self._post(task_call(model, task, data)).json(), kind)

    def _per_image(
        self, task: str, kind: type[A], images: Sequence[ImageInput], model: str | None
    ) -> Future[list[A]]:
        """Each image to ``task``'s route on its own (the server batches them)."""
        name = model or self.model
        return _all([self._submit(self._answer, task, kind, i, name) for i in images])

    def detect(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> Future[list[Detections]]:
        """Detect objects in images (a ``detect`` model): per image, its boxes in the
        original image's pixels (xyxy), best first."""
        return self._per_image("detect", Detections, images, model)

    def embed(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> Future[list[Embedding]]:
        """Embed images (an ``embed`` model): per image, an L2-normalised vector."""
        return self._per_image("embed", Embedding, images, model)

    def detect_text(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> Future[list[TextRegions]]:
        """Find text regions (a ``text-detect`` model): per image, four-point polygons in
        the original image's pixels, in reading order."""
        return self._per_image("text-detect", TextRegions, images, model)

    def read_text(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> Future[list[TextLine]]:
        """Read text lines (a ``text-recognize`` model): per line image, its text."""
        return self._per_image("text-recognize", TextLine, images, model)

    def _sources(
        self, sources: Sequence[str], model: str, top_k: int | None
    ) -> list[Prediction | TensorgateError]:
        return source_results(self._post(sources_call(model, sources, top_k)).json())

    def load_and_predict(
        self,
        bucket: str,
        keys: Sequence[str],
        *,
        model: str | None = None,
        top_k: int | None = None,
    ) -> Future[list[Prediction | TensorgateError]]:
        """Have the server fetch ``s3://bucket/key`` objects and classify them; each key
        gets its Prediction, or the error that stopped it (one bad key fails only itself)."""
        return self.predict_sources(s3_uris(bucket, keys), model=model, top_k=top_k)

    def predict_sources(
        self, sources: Sequence[str], *, model: str | None = None, top_k: int | None = None
    ) -> Future[list[Prediction | TensorgateError]]:
        """Have the server fetch ``s3://`` / ``https://`` sources and classify them; each
        gets its Prediction or its error."""
        return self._submit(self._sources, list(sources), model or self.model, top_k)

    def _infer(self, inputs: Mapping[str, Array], model: str) -> dict[str, Array]:
        response = self._post(infer_call(model, inputs))
        return decode_infer_response(
            response.content, response.headers.get("inference-header-content-length")
        )

    def infer(
        self, inputs: Mapping[str, Array], *, model: str | None = None
    ) -> Future[dict[str, Array]]:
        """Run tensors (rows first) through a model with the V2 binary protocol."""
        return self._submit(self._infer, inputs, model or self.model)

    def repository_index(self, *, ready: bool = False) -> Future[list[ModelIndexEntry]]:
        """Every model version of the server's repository with its state (READY ones
        only with ``ready=True``)."""
        return self._submit(lambda: index_from(self._post(index_call(ready)).json()))

    def _control_op(self, name: str, action: str) -> None:
        self._post(control_call(name, action, self._control))

    def load_model(self, name: str) -> Future[None]:
        """Load (or reload) ``name`` from the server's repository (model control must be
        on; the control token is ``control_token``, else ``auth_token``)."""
        return self._submit(self._control_op, name, "load")

    def unload_model(self, name: str) -> Future[None]:
        """Unload ``name`` on the server (its accepted requests finish first)."""
        return self._submit(self._control_op, name, "unload")

    def close(self) -> None:
        """Finish requests in flight, then close the connections."""
        self._closed = True
        self._pool.shutdown(wait=True)
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _all(parts: list[Future[Any]]) -> Future[list[Any]]:
    """One future of every part's result, in order (the first failure fails it)."""
    combined: Future[list[Any]] = Future()

    def done(_: Future[Any]) -> None:
        if combined.done() or not all(p.done() for p in parts):
            return
        try:
            combined.set_result([p.result() for p in parts])
        except Exception as exc:
            combined.set_exception(exc)

    for part in parts:
        part.add_done_callback(done)
    if not parts:
        combined.set_result([])
    return combined
