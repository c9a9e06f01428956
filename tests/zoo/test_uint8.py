"""The zoo's UINT8 forms: pixels in (NHWC or NCHW), normalisation folded into the graph,
answers equal to the FP32 form's, over the real server and the official tritonclient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tensorgate.repository.manifest import load_config
from tensorgate.server.process import ServerProcess, spawn_server
from tensorgate.zoo import pull
from tensorgate.zoo.export import fold_pixels
from tensorgate.zoo.models import PIXEL_LAYOUTS

FP32, NHWC, NCHW = "efficientnet-lite0", "efficientnet-lite0-uint8", "efficientnet-lite0-uint8-nchw"


@pytest.fixture(scope="module")
def repository(zoo_repository: Path) -> Path:
    for fmt in PIXEL_LAYOUTS:
        pull("efficientnet-lite0", zoo_repository, fmt=fmt)
    return zoo_repository


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[ServerProcess]:
    args = ("--model", FP32, "--model", NHWC, "--model", NCHW, "--instances", "1")
    with spawn_server(repository, *args) as process:
        yield process


def _infer(server: ServerProcess, model: str, array: np.ndarray, datatype: str) -> np.ndarray:
    client = triton.InferenceServerClient(server.host_port)
    tensor = triton.InferInput("input", list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    result: np.ndarray | None = client.infer(model, [tensor]).as_numpy("logits")
    assert result is not None
    return result


def test_the_uint8_forms_declare_pixels(repository: Path) -> None:
    for name, dims, layout in ((NHWC, (224, 224, 3), "NHWC"), (NCHW, (3, 224, 224), "NCHW")):
        config = load_config(repository / name)
        (spec,) = config.inputs
        assert (spec.datatype, spec.shape) == ("UINT8", dims)
        assert config.preprocess is not None
        assert (config.preprocess.datatype, config.preprocess.layout) == ("UINT8", layout)
        assert config.preprocess.mean == (0.0, 0.0, 0.0)  # folded into the graph


def test_folding_is_exact_and_the_graph_normalises(lite0_dir: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from tensorgate.zoo import CATALOG

    model = CATALOG["efficientnet-lite0"]
    assert fold_pixels(lite0_dir / "1" / "model.onnx", tmp_path / "a.onnx", model, "NHWC") == 0.0
    # Another std folds as exactly, and the graph's answers move with it.
    wrong = replace(model, std=64.0)
    assert fold_pixels(lite0_dir / "1" / "model.onnx", tmp_path / "b.onnx", wrong, "NHWC") == 0.0
    import onnxruntime as ort

    pixels = np.random.default_rng(0).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    right = ort.InferenceSession(str(tmp_path / "a.onnx")).run(None, {"input": pixels})[0]
    off = ort.InferenceSession(str(tmp_path / "b.onnx")).run(None, {"input": pixels})[0]
    assert np.abs(right - off).max() > 0.1


def test_pixels_answer_as_the_fp32_tensor_does(server: ServerProcess) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    normalised = (pixels.astype(np.float32) - 127.0) * np.float32(1 / 128)
    want = _infer(server, FP32, np.ascontiguousarray(normalised.transpose(0, 3, 1, 2)), "FP32")
    nhwc = _infer(server, NHWC, pixels, "UINT8")
    nchw = _infer(server, NCHW, np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)), "UINT8")
    np.testing.assert_allclose(nhwc, want, atol=1e-5)
    np.testing.assert_allclose(nchw, want, atol=1e-5)


def test_jpegs_classify_as_with_the_fp32_form(server: ServerProcess, cat_jpeg: bytes) -> None:
    answers = {}
    for model in (FP32, NHWC, NCHW):
        response = httpx.post(f"{server.url}/v2/models/{model}/classify", content=cat_jpeg)
        assert response.status_code == 200, response.text
        answers[model] = [
            (p["index"], round(p["score"], 5)) for p in response.json()["results"][0]["predictions"]
        ]
    assert answers[NHWC] == answers[FP32] == answers[NCHW]
    assert answers[FP32][0][0] in range(281, 286)


@pytest.mark.parametrize(
    ("model", "array", "datatype", "message"),
    [
        (
            NHWC,
            np.zeros((1, 3, 224, 224), np.float32),
            "FP32",
            "is UINT8, but the request sent FP32",
        ),
        (NHWC, np.zeros((1, 3, 224, 224), np.uint8), "UINT8", "[1, 3, 224, 224]"),
        (
            FP32,
            np.zeros((1, 3, 224, 224), np.uint8),
            "UINT8",
            "is FP32, but the request sent UINT8",
        ),
    ],
)
def test_a_wrong_datatype_or_layout_is_a_400_naming_it(
    server: ServerProcess, model: str, array: np.ndarray, datatype: str, message: str
) -> None:
    with pytest.raises(InferenceServerException) as info:
        _infer(server, model, array, datatype)
    assert info.value.status() == "400"
    assert message in str(info.value.message())


def test_the_documented_example_runs(
    server: ServerProcess, cat_jpeg: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "serving.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", doc, flags=re.S) if "UINT8" in b]
    (tmp_path / "cat.jpg").write_bytes(cat_jpeg)
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(example.replace("127.0.0.1:8000", server.host_port), scope)
    logits = scope["logits"]
    assert isinstance(logits, np.ndarray)
    assert logits.shape == (1, 1000)
    assert int(logits.argmax()) in range(281, 286)  # a cat, without the crop even
