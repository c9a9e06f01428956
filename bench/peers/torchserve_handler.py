"""TorchServe's custom handler: a class with ``initialize`` and ``handle``. TorchServe
batches requests itself (``batchSize`` / ``maxBatchDelay``) and hands ``handle`` the list;
each row carries the request body under ``body`` (raw) or ``data`` (a form field)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classifier import Classifier


class Handler:
    def __init__(self) -> None:
        self.classifier: Classifier | None = None
        self.initialized = False

    def initialize(self, context: Any) -> None:
        self.classifier = Classifier(Path(context.system_properties["model_dir"]))
        self.initialized = True

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[dict[str, object]]:
        assert self.classifier is not None
        images = [bytes(row.get("body") or row.get("data") or b"") for row in data]
        return self.classifier(images)
