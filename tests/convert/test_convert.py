"""``tensorgate convert``: PyTorch sources → ONNX with a dynamic batch axis, checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("torch")
import torch

from tensorgate.cli import app
from tensorgate.convert import convert, framework_of
from tensorgate.convert.report import check_outputs, relative_error
from tensorgate.errors import AccuracyError, ConversionError
from tests.torch_models import (
    build_net,
    eager,
    save_program,
    save_torchscript,
    write_net_source,
)

runner = CliRunner()
X = np.random.default_rng(1).standard_normal((4, 3, 16, 16)).astype(np.float32)


def _onnx(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == "batch"
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def test_a_factory_with_a_checkpoint_becomes_a_served_model_version(tmp_path: Path) -> None:
    source = write_net_source(tmp_path)
    net = build_net(seed=3)
    torch.save(net.state_dict(), tmp_path / "weights.pth")
    repo = tmp_path / "repo"
    args = ["convert", f"{source}:Net", "--checkpoint", str(tmp_path / "weights.pth")]
    args += ["--input-shape", "3,16,16", "--repository", str(repo), "--name", "net"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "max abs error" in result.output
    assert "batch 1, 3" in result.output
    written = repo / "net" / "1" / "model.onnx"
    np.testing.assert_allclose(_onnx(written, X), eager(net, X), rtol=1e-4, atol=1e-5)
    assert yaml.safe_load((repo / "net" / "config.yaml").read_text())["name"] == "net"
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert (repo / "net" / "2" / "model.onnx").is_file()


@pytest.mark.parametrize("form", ["torchscript", "program"])
def test_archives_convert_to_the_same_numbers(tmp_path: Path, form: str) -> None:
    net = build_net()
    if form == "torchscript":
        path = save_torchscript(net, tmp_path / "m.pt")
    else:
        path = save_program(net, tmp_path / "m.pt2")
    report = convert(str(path), tmp_path / "out.onnx", input_shape=(3, 16, 16))
    assert report.max_abs_error < 1e-4
    assert report.batch_sizes == (1, 3)
    np.testing.assert_allclose(_onnx(tmp_path / "out.onnx", X), eager(net, X), atol=1e-5)


class Frozen(torch.nn.Module):
    """Turns the batch size into a Python int, which tracing freezes at export's 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(int(x.shape[0]), 48).sum(1, keepdim=True)


class Noisy(torch.nn.Module):
    """Adds fresh noise each call: no export can match it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((1, 2, 3)) + torch.rand(x.shape[0])


def test_bad_sources_fail_clearly_and_write_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.onnx"
    source = write_net_source(tmp_path)
    torch.save(build_net(), tmp_path / "pickled.pth")  # a whole pickled module
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    cases = [
        (f"{source}:Net", tmp_path / "pickled.pth", "cannot be read as tensors"),
        (f"{source}:Net", tmp_path / "wrong.pth", "does not fit"),
        (f"{source}:Missing", None, "has no 'Missing'"),
        ("no_such_module_xyz:Net", None, "cannot import 'no_such_module_xyz'"),
        ("weights.bin", None, "neither a model file nor MODULE:FACTORY"),
    ]
    for spec, checkpoint, message in cases:
        with pytest.raises(ConversionError, match=message):
            convert(spec, target, input_shape=(3, 16, 16), checkpoint=checkpoint)
    with pytest.raises(ConversionError, match="is not a TorchScript archive"):
        convert(str(tmp_path / "pickled.pth"), target, input_shape=(3, 16, 16))
    with pytest.raises(ConversionError, match="fails on an input of shape"):
        convert(f"{source}:Net", target, input_shape=(5, 16, 16))
    with pytest.raises(ConversionError, match="give --input-shape"):
        convert(f"{source}:Net", target)
    assert not target.exists()


def test_a_frozen_batch_axis_or_a_numeric_mismatch_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.convert.test_convert as here

    monkeypatch.syspath_prepend(str(Path(here.__file__).parents[2]))
    target = tmp_path / "out.onnx"
    with pytest.raises(ConversionError, match="fails at batch 3"):
        convert("tests.convert.test_convert:Frozen", target, input_shape=(3, 4, 4))
    with pytest.raises(AccuracyError, match=r"over the tolerance of 0\.001; nothing was written"):
        convert("tests.convert.test_convert:Noisy", target, input_shape=(3, 4, 4))
    assert not target.exists()
    result = runner.invoke(
        app,
        [
            "convert",
            "tests.convert.test_convert:Noisy",
            "-o",
            str(target),
            "--input-shape",
            "3,4,4",
        ],
    )
    assert result.exit_code == 1
    assert "nothing was written" in result.output


def test_check_outputs_is_relative_to_the_output_scale() -> None:
    big = [np.array([[1000.0, -2000.0]])]
    assert relative_error(big, [big[0] + 0.5])[1] == pytest.approx(0.5 / 2000)
    check_outputs(big, [big[0] + 0.5], 1e-3)
    with pytest.raises(AccuracyError, match="differs from its source by 5"):
        check_outputs(big, [big[0] + 5.0], 1e-3)
    with pytest.raises(AccuracyError, match="has shape"):
        check_outputs(big, [np.zeros((2, 2))], 1e-3)
    with pytest.raises(AccuracyError):
        check_outputs(big, [big[0] * np.nan], 1e-3)


def test_framework_follows_the_source() -> None:
    assert framework_of("model.keras") == "keras"
    assert framework_of("legacy.h5") == "keras"
    assert framework_of("resnet-symbol.json") == "mxnet"
    assert framework_of("pkg.mod:build") == "pytorch"
    assert framework_of("model.pt2") == "pytorch"


def test_cli_needs_exactly_one_destination(tmp_path: Path) -> None:
    result = runner.invoke(app, ["convert", "m.pt2"])
    assert result.exit_code == 2
    assert "--output" in result.output
