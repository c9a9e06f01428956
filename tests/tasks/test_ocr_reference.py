"""PP-OCRv6 from the zoo against the rapidocr reference package: the same text regions
(same count, IoU >= 0.9 each) and the same strings read from the same line crops, on
rendered lines, a rendered page turned by 3° and a real photo of handwriting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.tasks.results import TextLine, TextRegions
from tests.conftest import OCR_IMAGES

shapely = pytest.importorskip("shapely.geometry")


def iou(a: list[list[float]], b: list[list[float]]) -> float:
    first, second = shapely.Polygon(a), shapely.Polygon(b)
    return float(first.intersection(second).area / first.union(second).area)


def files(folder: Path, reference: dict[str, Any]) -> tuple[list[bytes], dict[str, list[bytes]]]:
    images = [(folder / f"{n}.png").read_bytes() for n in OCR_IMAGES]
    crops = {n: [Path(c).read_bytes() for c in reference[n]["crops"]] for n in OCR_IMAGES}
    return images, crops


async def test_regions_and_strings_equal_the_references(ocr: tuple[Path, dict[str, Any]]) -> None:
    folder, reference = ocr
    images, crops = files(folder, reference)
    settings = EngineSettings(repository=folder / "repository", instances=1)
    async with Engine(settings) as engine:
        found = await engine.run_images("pp-ocrv6-det", images)
        read = {n: await engine.run_images("pp-ocrv6-rec", crops[n]) for n in OCR_IMAGES}
    assert found.task == "text-detect"
    total = matched = 0
    for name, regions in zip(OCR_IMAGES, found.answers, strict=True):
        assert isinstance(regions, TextRegions)
        theirs = reference[name]["boxes"]
        assert len(regions.items) == len(theirs), name
        for box in theirs:
            best = max(iou([list(p) for p in r.polygon], box) for r in regions.items)
            assert best >= 0.9, (name, box, best)
        for line, text in zip(read[name].answers, reference[name]["texts"], strict=True):
            assert isinstance(line, TextLine)
            total += len(text)
            matched += sum(a == b for a, b in zip(line.text, text, strict=False))
            assert line.text == text, name
    lines = sum(len(reference[n]["texts"]) for n in OCR_IMAGES)
    print(
        f"{lines} lines, {total} characters, {matched} equal; photo regions: "
        f"{len(reference['photo']['boxes'])}"
    )
    assert total > 100  # the comparison read real text
    assert matched == total
    assert "Serving vision models" in reference["lines"]["texts"]
