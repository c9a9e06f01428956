"""config.yaml validation: errors name the file, the field and what was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorgate.errors import ConfigError
from tensorgate.repository.manifest import load_config
from tensorgate.repository.store import BrokenModel, ModelEntry, scan_repository


def model_dir(tmp_path: Path, text: str, name: str = "m") -> Path:
    directory = tmp_path / name
    (directory / "1").mkdir(parents=True)
    (directory / "1" / "model.onnx").write_bytes(b"")
    (directory / "config.yaml").write_text(text)
    return directory


def test_full_config_parses(tmp_path: Path) -> None:
    directory = model_dir(
        tmp_path,
        """
name: m
max_batch_size: 16
dynamic_batching: {max_queue_delay_ms: 2.5, preferred_batch_sizes: [8, 4], max_queue_size: 40}
instance_group: {count: 3, device: cpu, threads: 2}
inputs: [{name: x, datatype: FP32, dims: [3, -1]}]
preprocess: {resize: 256, crop: 224, mean: 127, std: [128, 128, 128], layout: NHWC, color: BGR}
postprocess: {softmax: false, top_k: 3, labels: labels.txt}
version_policy: {latest: 2}
""",
    )
    (directory / "labels.txt").write_text("cat\ndog\n")
    config = load_config(directory)
    assert config.max_batch_size == 16
    assert config.batching.max_queue_delay_s == pytest.approx(0.0025)
    assert config.batching.preferred_batch_sizes == (4, 8)
    assert config.batching.max_queue_size == 40
    assert (config.instances.count, config.instances.device, config.instances.threads) == (
        3,
        "cpu",
        2,
    )
    assert config.inputs[0].shape == (3, -1)
    assert config.preprocess is not None
    assert config.preprocess.mean == (127.0, 127.0, 127.0)
    assert config.preprocess.crop == (224, 224)
    assert config.postprocess is not None
    assert config.postprocess.labels == ("cat", "dog")
    assert config.version_policy.select([1, 2, 3]) == [2, 3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_batch_size: 0", "field 'max_batch_size' is 0; must be >= 1"),
        ("max_batch_size: many", "field 'max_batch_size' must be an integer, got 'many'"),
        (
            "backend: tensorflow",
            "field 'backend' is 'tensorflow'; must be one of onnxruntime, pytorch, fake",
        ),
        ("name: other", "field 'name' is 'other' but the directory is 'm'; they must match"),
        ("colour: red", "field 'colour' is not a known field"),
        (
            "dynamic_batching: {preferred_batch_sizes: [64]}",
            "field 'dynamic_batching.preferred_batch_sizes' has 64 > max_batch_size 8",
        ),
        (
            "instance_group: {device: tpu}",
            "field 'instance_group.device' is 'tpu'; must be auto, cpu or cuda:N",
        ),
        (
            "inputs: [{name: x, datatype: FLOAT, dims: [3]}]",
            "field 'inputs[0].datatype' is 'FLOAT'; must be one of BOOL",
        ),
        (
            "inputs: [{name: x, datatype: FP32, dims: [0]}]",
            "field 'inputs[0].dims' must be a list of sizes > 0 or -1",
        ),
        (
            "preprocess: {std: [1, 0, 1]}",
            "field 'preprocess.std' is [1.0, 0.0, 1.0]; a divisor of 0 is not allowed",
        ),
        (
            "postprocess: {labels: ../../etc/passwd}",
            "field 'postprocess.labels' is '../../etc/passwd', which leaves the model directory",
        ),
        ("postprocess: {labels: nope.txt}", "field 'postprocess.labels' names"),
        (
            "default_model_filename: ../x.onnx",
            "field 'default_model_filename' is '../x.onnx'; give a plain file name",
        ),
        ("[1, 2]", "must hold a mapping of fields, got list"),
        ("a: [", "not valid YAML"),
    ],
)
def test_invalid_configs_say_which_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    directory = model_dir(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(directory)
    assert info.value.message.startswith(str(directory / "config.yaml"))
    assert message in info.value.message


def test_scan_reports_broken_models_without_stopping_others(tmp_path: Path) -> None:
    model_dir(tmp_path, "max_batch_size: 4", "good")
    model_dir(tmp_path, "max_batch_size: -1", "bad")
    (tmp_path / "no-versions").mkdir()
    (tmp_path / "no-versions" / "config.yaml").write_text("{}")
    (tmp_path / "bad name!").mkdir()
    found = {e.name: e for e in scan_repository(tmp_path)}
    assert isinstance(found["good"], ModelEntry)
    assert found["good"].versions == {1: (tmp_path / "good" / "1" / "model.onnx").resolve()}
    assert isinstance(found["bad"], BrokenModel)
    assert "field 'max_batch_size' is -1" in found["bad"].reason
    assert isinstance(found["no-versions"], BrokenModel)
    assert "no version directory holds model.onnx" in found["no-versions"].reason
    assert isinstance(found["bad name!"], BrokenModel)
    assert "model directory name 'bad name!' is invalid" in found["bad name!"].reason


def test_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(b"")
    model_dir(repo, "{}", "m")
    (repo / "m" / "2").mkdir()
    (repo / "m" / "2" / "model.onnx").symlink_to(outside)
    (entry,) = scan_repository(repo)
    assert isinstance(entry, BrokenModel)
    assert "m/2/model.onnx is a symlink; tensorgate serves only real files" in entry.reason


def test_symlinks_inside_the_repository_are_refused_too(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    model_dir(repo, "{}", "real")
    (repo / "alias").symlink_to(repo / "real")
    model_dir(repo, "{}", "m")
    (repo / "m" / "7").symlink_to(repo / "m" / "1")
    found = {e.name: e for e in scan_repository(repo)}
    assert isinstance(found["real"], ModelEntry)
    for name in ("alias", "m"):
        entry = found[name]
        assert isinstance(entry, BrokenModel)
        assert "is a symlink" in entry.reason


def test_missing_repository_says_how_to_fill_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run 'tensorgate zoo pull efficientnet-lite0'"):
        scan_repository(tmp_path / "nope")
