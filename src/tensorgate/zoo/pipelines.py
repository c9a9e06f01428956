"""Zoo pipelines: steps over zoo models, written into the repository with them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ZOO_PIPELINES", "ZooPipeline"]


@dataclass(frozen=True, slots=True)
class ZooPipeline:
    """A pipeline of zoo models.

    Attributes:
        name: the pipeline (and repository directory) name.
        description: one line for ``zoo list``.
        models: the zoo models its steps run (pulled with it).
        steps: its config.yaml's ``pipeline`` list.
    """

    name: str
    description: str
    models: tuple[str, ...]
    steps: tuple[dict[str, Any], ...]

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(f"pipeline of {m}" for m in self.models)

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "pipeline": [dict(s) for s in self.steps]}


ZOO_PIPELINES: dict[str, ZooPipeline] = {
    p.name: p
    for p in (
        ZooPipeline(
            "pp-ocrv6",
            "OCR: PP-OCRv6 text regions -> perspective crops -> lines of text",
            ("pp-ocrv6-det", "pp-ocrv6-rec"),
            (
                {"name": "regions", "model": "pp-ocrv6-det"},
                {"name": "lines", "crop": {"max_crops": 500, "min_size": 3}},
                {"name": "text", "model": "pp-ocrv6-rec"},
            ),
        ),
    )
}
