"""``Predictor``: the client API in-process, over the same Engine, with no server.

The Engine runs on an event loop in a background thread; calls return
``concurrent.futures.Future`` exactly like ``Client``::

    with tensorgate.Predictor() as predictor:
        (cat,) = predictor.predict(["cat.jpg"]).result()
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from tensorgate.client._common import ImageInput, Prediction, image_bytes, s3_uris
from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.errors import InvalidInputError, TensorgateError
from tensorgate.tasks.results import Detections, Embedding, TaskAnswer, TextLine, TextRegions
from tensorgate.types import Array

A = TypeVar("A", bound=TaskAnswer)

__all__ = ["Predictor"]

T = TypeVar("T")


class Predictor:
    """Serve a repository in this process and call it like a remote ``Client``.

    Args:
        settings: what to load (default: the zoo's repository, every model).
        model: the model ``predict`` and ``infer`` use unless told otherwise.
    """

    def __init__(
        self, settings: EngineSettings | None = None, model: str = "efficientnet-lite0"
    ) -> None:
        self.model = model
        self._engine = Engine(settings or EngineSettings())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tensorgate-predictor", daemon=True
        )
        self._thread.start()
        try:
            self._call(self._engine.start()).result()
        except BaseException:
            self._shutdown_loop()
            raise
        self._closed = False

    def _call(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def _predict(
        self, images: Sequence[ImageInput], model: str, top_k: int | None
    ) -> list[Prediction]:
        encoded = [image_bytes(i) for i in images]
        answers = await self._engine.classify(model, [data for data, _ in encoded], top=top_k)
        return [
            Prediction(tuple(classes), source)
            for classes, (_, source) in zip(answers, encoded, strict=True)
        ]

    def predict(
        self, images: Sequence[ImageInput], *, model: str | None = None, top_k: int | None = None
    ) -> Future[list[Prediction]]:
        """Classify images; one Prediction each, in order."""
        self._check_open()
        return self._call(self._predict(images, model or self.model, top_k))

    async def _answers(
        self, task: str, kind: type[A], images: Sequence[ImageInput], model: str
    ) -> list[A]:
        encoded = [image_bytes(i)[0] for i in images]
        result = await self._engine.run_images(model, encoded, task=task)
        answers: list[A] = [a for a in result.answers if isinstance(a, kind)]
        if len(answers) != len(encoded):  # the engine refuses a model of another task
            raise InvalidInputError(f"model {model!r} did not answer {task} for every image")
        return answers

    def detect(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> Future[list[Detections]]:
        """Detect objects in images (a ``detect`` model); see Client.detect."""
        self._check_open()
        return self._call(self._answers("detect", Detections, images, model or self.model))

    def embed(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> Future[list[Embedding]]:
        """Embed images (an ``embed`` model); see Client.embed."""
        self._check_open()
        return self._call(self._answers("embed", Embedding, images, model or self.model))

    def detect_text(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> Future[list[TextRegions]]:
        """Find text regions (a ``text-detect`` model); see Client.detect_text."""
        self._check_open()
        return self._call(self._answers("text-detect", TextRegions, images, model or self.model))

    def read_text(
        self, images: Sequence[ImageInput], *, model: str | None = None
    ) -> Future[list[TextLine]]:
        """Read text lines (a ``text-recognize`` model); see Client.read_text."""
        self._check_open()
        return self._call(self._answers("text-recognize", TextLine, images, model or self.model))

    async def _sources(
        self, sources: list[str], model: str, top_k: int | None
    ) -> list[Prediction | TensorgateError]:
        result = await self._engine.classify_sources(model, sources, top=top_k)
        return [
            answer if isinstance(answer, TensorgateError) else Prediction(tuple(answer), source)
            for source, answer in zip(sources, result.answers, strict=True)
        ]

    def load_and_predict(
        self,
        bucket: str,
        keys: Sequence[str],
        *,
        model: str | None = None,
        top_k: int | None = None,
    ) -> Future[list[Prediction | TensorgateError]]:
        """Fetch ``s3://bucket/key`` objects (from buckets the settings allow) and
        classify them; each key gets its Prediction or its error."""
        return self.predict_sources(s3_uris(bucket, keys), model=model, top_k=top_k)

    def predict_sources(
        self, sources: Sequence[str], *, model: str | None = None, top_k: int | None = None
    ) -> Future[list[Prediction | TensorgateError]]:
        """Fetch ``s3://`` / ``https://`` sources (as the settings allow) and classify
        them; each gets its Prediction or its error."""
        self._check_open()
        return self._call(self._sources(list(sources), model or self.model, top_k))

    def infer(
        self, inputs: Mapping[str, Array], *, model: str | None = None
    ) -> Future[dict[str, Array]]:
        """Run tensors (rows first) through a model."""
        self._check_open()
        return self._call(self._engine.infer(model or self.model, inputs))

    def run(self, work: Callable[[Engine], Coroutine[Any, Any, T]]) -> Future[T]:
        """Run ``work(engine)`` on the engine's loop (for adapters such as the batch
        pipeline that need the Engine's async API from another thread)."""
        self._check_open()
        return self._call(work(self._engine))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Cannot use a closed Predictor; create a new one")

    def _shutdown_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def close(self) -> None:
        """Drain and stop the engine, then the loop."""
        if self._closed:
            return
        self._closed = True
        self._call(self._engine.stop()).result()
        self._shutdown_loop()

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
