"""OCR end to end: the zoo's ``pp-ocrv6`` pipeline (text regions → perspective crops →
lines) against rapidocr's own whole pipeline, with and without its text-angle
classifier, on rendered lines, a rendered page turned by 3°, a scanned page, a photo of
a handwritten board and a real photo with a printed sign in perspective."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.tasks.results import TextLine, TextRegions
from tests.conftest import OCR_IMAGES, OCR_TRUTH

shapely = pytest.importorskip("shapely.geometry")


def distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def agreement(ours: list[tuple[list[list[float]], str]], theirs: dict[str, Any]) -> tuple[int, int]:
    """(characters of theirs, of those ours read the same), each of their lines matched
    to our region that overlaps it most."""
    total = same = 0
    for box, text in zip(theirs["boxes"], theirs["texts"], strict=True):
        polygon = shapely.Polygon(box)
        overlap = [(shapely.Polygon(p).intersection(polygon).area, t) for p, t in ours]
        area, read = max(overlap, default=(0.0, ""))
        total += len(text)
        if area > 0.5 * polygon.area:
            same += max(0, len(text) - distance(read, text))
    return total, same


def truth_agreement(texts: list[str], truth: tuple[str, ...]) -> float:
    """The share of the drawn characters read (spaces and reading order aside: a
    table's columns may come out as separate lines)."""
    read, drawn = Counter("".join(texts).replace(" ", "")), Counter("".join(truth).replace(" ", ""))
    return round(sum((read & drawn).values()) / sum(drawn.values()), 4)


async def test_the_pipeline_reads_what_rapidocr_reads(ocr: tuple[Path, dict[str, Any]]) -> None:
    folder, reference = ocr
    images = [(folder / f"{n}.png").read_bytes() for n in OCR_IMAGES]
    settings = EngineSettings(repository=folder / "repository", instances=1)
    async with Engine(settings) as engine:
        result = await engine.run_images("pp-ocrv6", images, task="text-detect")
    report = []
    for name, answer in zip(OCR_IMAGES, result.answers, strict=True):
        assert isinstance(answer, TextRegions)
        ours = []
        for region in answer.items:
            line = region.parts.get("text")
            assert isinstance(line, TextLine)
            ours.append(([list(p) for p in region.polygon], line.text))
        total, same = agreement(ours, reference[name]["full"])
        flipped = sum(
            a != b
            for a, b in zip(
                reference[name]["full"]["texts"], reference[name]["full_cls"]["texts"], strict=False
            )
        )
        report.append(
            f"{name}: {same}/{total} characters agree, angle classifier changed {flipped}"
        )
        if name == "photo":  # a handwritten board: neither reads anything there
            assert total == 0
            assert not [t for _, t in ours if len(t) > 2], ours
            continue
        assert total > 0, name
        assert same / total >= 0.95, (name, same, total)
    for name, truth in OCR_TRUTH.items():
        answer = result.answers[OCR_IMAGES.index(name)]
        assert isinstance(answer, TextRegions)
        read = [p.text for r in answer.items for p in r.parts.values() if isinstance(p, TextLine)]
        scores = [
            truth_agreement(texts, truth)
            for texts in (
                read,
                reference[name]["full"]["texts"],
                reference[name]["full_cls"]["texts"],
            )
        ]
        report.append(f"{name} against the drawn text: ours / rapidocr / rapidocr+cls {scores}")
        assert scores[0] >= 0.95, (name, read)
    print("\n".join(report))
