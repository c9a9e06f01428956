"""BentoML: the shared classifier as a ``@bentoml.service`` with ``PEER_WORKERS`` worker
processes and a batchable API (BentoML's adaptive batching, up to ``PEER_MAX_BATCH``).
BentoML takes files as multipart/form-data (a raw body is read as JSON), so images
arrive as the form file ``images``. Run with ``bentoml serve serve_bentoml:Peer``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import bentoml
from bentoml.validators import ContentType
from classifier import Classifier, Settings

SETTINGS = Settings.from_env()


# Access logs off: one line per request is not what a throughput-minded user runs.
@bentoml.service(
    workers=SETTINGS.workers, traffic={"timeout": 60}, logging={"access": {"enabled": False}}
)
class Peer:
    def __init__(self) -> None:
        self.classifier = Classifier(SETTINGS.model_dir)

    @bentoml.api(batchable=True, max_batch_size=SETTINGS.max_batch, max_latency_ms=60_000)
    def classify(
        self, images: list[Annotated[Path, ContentType("image/jpeg")]]
    ) -> list[dict[str, object]]:
        return self.classifier([image.read_bytes() for image in images])
