"""``AsyncClient``: the same API as ``Client`` for asyncio code, with awaitables."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

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

__all__ = ["AsyncClient"]


class AsyncClient:
    """A pooled, retrying asyncio client; see ``Client`` for the arguments.

    Example::

        async with tensorgate.AsyncClient("http://127.0.0.1:8000") as client:
            (cat,) = await client.predict(["cat.jpg"])
    """

    def __init__(
        self,
        url: str,
        model: str = "efficientnet-lite0",
        *,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 16,
        auth_token: str | None = None,
        control_token: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        self.model = model
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            timeout=timeout_s,
            headers=headers,
            limits=httpx.Limits(max_connections=max_connections),
            transport=transport,
        )
        self._retry = retry or RetryPolicy()
        self._control = control_token
        self._sleep = sleep

    async def _post(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.post(call.path, **call.kwargs)
            except httpx.TransportError as exc:
                wait = wait_after_failure(self._retry, attempt, self._http.base_url, exc)
            else:
                again = wait_after_answer(self._retry, attempt, response)
                if again is None:
                    return response
                wait = again
            await self._sleep(wait)

    async def _classify_one(self, image: ImageInput, model: str, top_k: int | None) -> Prediction:
        data, source = image_bytes(image)
        response = await self._post(classify_call(model, data, top_k))
        return predictions_from(response.json(), [source])[0]

    async def predict(
        self, images: Sequence[ImageInput], *, model: str | None = None, top_k: int | None = None
    ) -> list[Prediction]:
        """Classify images concurrently; one Prediction each, in order."""
        name = model or self.model
        return list(await asyncio.gather(*(self._classify_one(i, name, top_k) for i in images)))

    async def _answer(self, task: str, kind: type[A], image: ImageInput, model: str) -> A:
        data, _ = image_bytes(image)
        return answer_from(task, (await self._post(task_call(model, task, data))).json(), kind)

    async def _per_image(
        self, task: str, kind: type[A], images: Sequence[ImageInput], model: str | None
    ) -> list[A]:
        """Each image to ``task``'s route, concurrently (the server batches them)."""
        name = model or self.model
        return list(await asyncio.gather(*(self._answer(task, kind, i, name) for i in images)))

    async def detect(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> list[Detections]:
        """Detect objects in images concurrently; see Client.detect."""
        return await self._per_image("detect", Detections, images, model)

    async def embed(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> list[Embedding]:
        """Embed images concurrently; see Client.embed."""
        return await self._per_image("embed", Embedding, images, model)

    async def detect_text(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> list[TextRegions]:
        """Find text regions concurrently; see Client.detect_text."""
        return await self._per_image("text-detect", TextRegions, images, model)

    async def read_text(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> list[TextLine]:
        """Read text lines concurrently; see Client.read_text."""
        return await self._per_image("text-recognize", TextLine, images, model)

    async def load_and_predict(
        self,
        bucket: str,
        keys: Sequence[str],
        *,
        model: str | None = None,
        top_k: int | None = None,
    ) -> list[Prediction | TensorgateError]:
        """Have the server fetch and classify ``s3://bucket/key`` objects; see Client."""
        return await self.predict_sources(s3_uris(bucket, keys), model=model, top_k=top_k)

    async def predict_sources(
        self, sources: Sequence[str], *, model: str | None = None, top_k: int | None = None
    ) -> list[Prediction | TensorgateError]:
        """Have the server fetch ``s3://`` / ``https://`` sources and classify them."""
        response = await self._post(sources_call(model or self.model, sources, top_k))
        return source_results(response.json())

    async def infer(
        self, inputs: Mapping[str, Array], *, model: str | None = None
    ) -> dict[str, Array]:
        """Run tensors (rows first) through a model with the V2 binary protocol."""
        response = await self._post(infer_call(model or self.model, inputs))
        return decode_infer_response(
            response.content, response.headers.get("inference-header-content-length")
        )

    async def repository_index(self, *, ready: bool = False) -> list[ModelIndexEntry]:
        """Every model version of the server's repository with its state; see Client."""
        return index_from((await self._post(index_call(ready))).json())

    async def load_model(self, name: str) -> None:
        """Load (or reload) ``name`` from the server's repository; see Client."""
        await self._post(control_call(name, "load", self._control))

    async def unload_model(self, name: str) -> None:
        """Unload ``name`` on the server (its accepted requests finish first)."""
        await self._post(control_call(name, "unload", self._control))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
