"""A pipeline's config.yaml: steps, their inputs, and every shape refused with the file,
the step and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tensorgate.errors import ConfigError
from tensorgate.repository.pipelines import (
    MAX_CROPS,
    CropStep,
    ModelStep,
    is_pipeline,
    load_pipeline,
)
from tensorgate.repository.store import BrokenModel, scan_pipelines, scan_repository

OCR = [
    {"name": "regions", "model": "det"},
    {"name": "lines", "crop": {"max_crops": 50, "padding": 0.1}},
    {"name": "text", "model": "rec"},
]


def write(tmp_path: Path, steps: Any, name: str = "ocr") -> Path:
    directory = tmp_path / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump({"name": name, "pipeline": steps}))
    return directory


def refused(tmp_path: Path, steps: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        load_pipeline(write(tmp_path, steps))
    message = caught.value.message
    assert str(tmp_path / "ocr" / "config.yaml") in message
    return message


def test_steps_read_the_step_before_them_unless_told(tmp_path: Path) -> None:
    config = load_pipeline(write(tmp_path, OCR))
    assert config.steps == (
        ModelStep("regions", "det", "image"),
        CropStep("lines", "regions", max_crops=50, padding=0.1),
        ModelStep("text", "rec", "lines"),
    )
    assert config.root.name == "regions"
    assert config.models == ("det", "rec")
    assert is_pipeline(tmp_path / "ocr")


def test_a_cycle_is_refused_naming_it(tmp_path: Path) -> None:
    steps = [*OCR, {"name": "a", "model": "x", "input": "b"}, {"name": "b", "model": "y"}]
    assert "cycle (a -> b -> a)" in refused(tmp_path, steps)


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ([{"name": "a", "model": "det"}], "at least two steps"),
        ({"a": 1}, "at least two steps"),
        ([OCR[0], {"name": "x", "model": "m", "input": "nope"}], "reads 'nope', which is no step"),
        ([OCR[0], {"name": "regions", "crop": {}}], "'regions' is declared twice"),
        ([OCR[0], {"name": "x", "model": "m", "input": "image"}], "has 2 steps reading the image"),
        ([OCR[0], {"name": "x", "model": "m", "crop": {}}], "exactly one of 'model'"),
        ([OCR[0], {"name": "x"}], "exactly one of 'model'"),
        ([OCR[0], {"name": "score", "crop": {}}], "reserved name"),
        ([OCR[0], {"name": "x", "crop": {"max_crops": MAX_CROPS + 1}}], "at most 1000"),
        ([OCR[0], {"name": "x", "crop": {"score_threshold": 2}}], "scores run from 0 to 1"),
        ([OCR[0], {"name": "x", "crop": {"colour": 1}}], "'pipeline[1].crop.colour'"),
        ([OCR[0], {"name": "x", "model": "m", "tint": 1}], "'pipeline[1].tint'"),
        ([OCR[0], "crop"], "'pipeline[1]' must be a mapping"),
        ([OCR[0], {"name": "bad/name", "crop": {}}], "is invalid"),
    ],
)
def test_malformed_pipelines_are_refused(tmp_path: Path, steps: Any, words: str) -> None:
    assert words in refused(tmp_path, steps)


def test_pipelines_are_scanned_apart_from_models(tmp_path: Path) -> None:
    write(tmp_path, OCR)
    write(tmp_path, [OCR[0]], name="broken")
    assert scan_repository(tmp_path) == []  # neither is taken for a broken model
    found = scan_pipelines(tmp_path)
    assert [p.name for p in found] == ["broken", "ocr"]
    assert isinstance(found[0], BrokenModel)
    assert "at least two steps" in found[0].reason
