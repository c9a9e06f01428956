"""Task configs are refused when read or loaded, naming the file, the field and the
value; a good one loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.errors import ConfigError, ModelLoadError
from tensorgate.repository.manifest import load_config
from tests.test_registry import FlatMemory


def write(tmp_path: Path, **fields: Any) -> Path:
    directory = tmp_path / "m"
    (directory / "1").mkdir(parents=True, exist_ok=True)
    (directory / "1" / "model.fake").write_text("")
    config = {
        "name": "m",
        "backend": "fake",
        "inputs": [{"name": "x", "datatype": "FP32", "dims": [3, 32, 32]}],
        "outputs": [{"name": "y", "datatype": "FP32", "dims": [7, 100]}],
        "preprocess": {"mode": "letterbox", "resize": [32, 32], "crop": None},
        **fields,
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    (directory / "labels.txt").write_text("a\nb\n")  # the fake head below has 3 classes
    return directory


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"task": "segment"}, "field 'task' is 'segment'; must be one of classify, detect, embed"),
        (
            {"task": "detect", "postprocess": {"decoder": "pooled"}},
            "field 'postprocess.decoder' is 'pooled'; must be one of yolov8",
        ),
        (
            {"task": "detect", "postprocess": {"top_k": 3}},
            "field 'postprocess.top_k' is not a known field; known fields: decoder, output, "
            "labels, score_threshold",
        ),
        (
            {"task": "detect", "preprocess": {"mode": "shorter", "resize": 32}},
            "field 'preprocess.mode' is 'shorter', which a detect model does not take; use "
            "letterbox or exact",
        ),
        (
            {"task": "detect", "postprocess": {"iou_threshold": 1.5}},
            "field 'postprocess.iou_threshold' is 1.5; must be 0–1",
        ),
    ],
)
def test_bad_task_configs_are_refused_when_read(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    directory = write(tmp_path, **fields)
    with pytest.raises(ConfigError) as info:
        load_config(directory)
    assert info.value.message.startswith(f"{directory / 'config.yaml'}: ")
    assert message in info.value.message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"task": "detect", "outputs": [{"name": "y", "datatype": "FP32", "dims": [1000]}]},
            "m/config.yaml: field 'postprocess.decoder' is 'yolov8', but output 'y' is [1000] "
            "per image; the yolov8 decoder reads [4 + classes, candidates]",
        ),
        (
            {"task": "detect", "postprocess": {"labels": "labels.txt"}},
            "output 'y' has 3 classes but the labels file has 2 lines",
        ),
        (
            {"task": "detect", "postprocess": {"output": "scores"}},
            "field 'postprocess.output' is 'scores', which the model does not have; its "
            "outputs are y",
        ),
        (
            {"task": "embed", "outputs": [{"name": "y", "datatype": "FP32", "dims": [-1]}]},
            "output 'y' is [-1] per image; an embedding needs a known dimension first",
        ),
    ],
)
async def test_a_decoder_that_does_not_fit_the_output_is_refused_at_load(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    write(tmp_path, **fields)
    settings = EngineSettings(repository=tmp_path, instances=1)
    async with Engine(settings, probe=FlatMemory()) as engine:
        (status,) = engine.statuses()
        assert message in status.reason
        with pytest.raises(ModelLoadError, match="did not load"):
            await engine.load_model("m")


async def test_a_good_detect_config_loads_and_describes_its_task(tmp_path: Path) -> None:
    write(tmp_path, task="detect", postprocess={"labels": "labels.txt", "score_threshold": 0.5})
    (tmp_path / "m" / "labels.txt").write_text("a\nb\nc\n")
    config = load_config(tmp_path / "m")
    assert config.task == "detect"
    assert config.postprocess is not None
    assert (config.postprocess.decoder, config.postprocess.score_threshold) == ("yolov8", 0.5)
    settings = EngineSettings(repository=tmp_path, instances=1)
    async with Engine(settings, probe=FlatMemory()) as engine:
        assert engine.model("m").config.task == "detect"


async def test_a_dictionary_that_does_not_fit_the_recogniser_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "rec"
    (directory / "1").mkdir(parents=True)
    (directory / "1" / "model.fake").write_text("")
    (directory / "dictionary.txt").write_text("blank\na\nb\n")
    (directory / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "rec",
                "backend": "fake",
                "task": "text-recognize",
                "inputs": [{"name": "x", "datatype": "FP32", "dims": [3, 48, -1]}],
                "outputs": [{"name": "y", "datatype": "FP32", "dims": [-1, 5]}],
                "preprocess": {"mode": "height", "resize": [48, 320]},
                "postprocess": {"decoder": "ctc", "labels": "dictionary.txt"},
            }
        )
    )
    settings = EngineSettings(repository=tmp_path, instances=1)
    async with Engine(settings, probe=FlatMemory()) as engine:
        (status,) = engine.statuses()
        assert (
            "rec/config.yaml: field 'postprocess.decoder' is 'ctc', but output 'y' has 5 "
            "classes but the dictionary has 3 entries (blank first and space last included)"
        ) in status.reason
