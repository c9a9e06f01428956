"""Test helpers: tiny real ONNX models, repositories, and a real server subprocess."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper

ONNX_TYPES = {
    "FP32": TensorProto.FLOAT,
    "INT64": TensorProto.INT64,
    "UINT8": TensorProto.UINT8,
    "INT32": TensorProto.INT32,
    "BYTES": TensorProto.STRING,
}


def add_sub_model(datatype: str, width: int = 16) -> onnx.ModelProto:
    """OUTPUT0 = INPUT0 + INPUT1, OUTPUT1 = INPUT0 - INPUT1 (Triton's 'simple' model)."""
    t = ONNX_TYPES[datatype]
    shape: list[Any] = ["batch", width]
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"]),
        ],
        f"add_sub_{datatype}",
        [
            helper.make_tensor_value_info("INPUT0", t, shape),
            helper.make_tensor_value_info("INPUT1", t, shape),
        ],
        [
            helper.make_tensor_value_info("OUTPUT0", t, shape),
            helper.make_tensor_value_info("OUTPUT1", t, shape),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def identity_model(datatype: str, width: int) -> onnx.ModelProto:
    """OUTPUT0 = INPUT0 (works for UINT8 and BYTES, which Add does not take)."""
    t = ONNX_TYPES[datatype]
    shape: list[Any] = ["batch", width]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])],
        f"identity_{datatype}",
        [helper.make_tensor_value_info("INPUT0", t, shape)],
        [helper.make_tensor_value_info("OUTPUT0", t, shape)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def write_model(
    repo: Path, name: str, model: onnx.ModelProto | None, config: dict[str, Any]
) -> Path:
    """Write ``repo/name/config.yaml`` and ``repo/name/1/model.onnx`` (or model.fake)."""
    directory = repo / name
    (directory / "1").mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump({"name": name, **config}))
    if model is None:
        (directory / "1" / "model.fake").write_text("")
    else:
        onnx.save(model, str(directory / "1" / "model.onnx"))
    return directory


def slow_fake_model(repo: Path, name: str, load_delay_s: float, instances: int = 1) -> Path:
    """A fake-backend model (3 floats in, 2 out) whose every instance takes
    ``load_delay_s`` to load: a window to signal a server in while it loads."""
    spec = {
        "backend": "fake",
        "max_batch_size": 4,
        "instance_group": {"count": instances},
        "inputs": [{"name": "x", "datatype": "FP32", "dims": [3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "dims": [2]}],
    }
    directory = write_model(repo, name, None, spec)
    (directory / "1" / "model.fake").write_text(f'{{"load_delay_s": {load_delay_s}}}\n')
    return directory


def sigterm_while_loading(repo: Path, *args: str) -> tuple[int, str, float]:
    """Run ``tensorgate serve REPO --port 0 --grpc-port 0 ARGS``, send it SIGTERM once a
    server is loading its models, and return its exit status, all its output (stdout and
    stderr) and the seconds from the signal to the exit."""
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tensorgate", "serve", str(repo),
            "--port", "0", "--grpc-port", "0", *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Waiting for application startup" in line:  # the models are loading now
            break
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    return process.returncode, "".join(lines) + rest, time.monotonic() - signalled


def build_test_repository(
    repo: Path, zoo_model: Path | None = None, *, broken: bool = False
) -> Path:
    """The protocol-test repository: tiny ONNX models of several datatypes, a fake model,
    optionally a broken model and a copy of the zoo's efficientnet-lite0."""
    repo.mkdir(parents=True, exist_ok=True)
    small = {"max_batch_size": 8, "instance_group": {"count": 1}}
    write_model(repo, "add_sub_fp32", add_sub_model("FP32"), small)
    write_model(repo, "add_sub_int64", add_sub_model("INT64"), small)
    write_model(repo, "identity_uint8", identity_model("UINT8", 8), small)
    write_model(repo, "identity_bytes", identity_model("BYTES", 2), small)
    write_model(
        repo,
        "fake",
        None,
        {
            "backend": "fake",
            "max_batch_size": 4,
            "inputs": [{"name": "x", "datatype": "FP32", "dims": [3]}],
            "outputs": [{"name": "y", "datatype": "FP32", "dims": [2]}],
        },
    )
    if broken:
        (repo / "broken" / "1").mkdir(parents=True, exist_ok=True)
        (repo / "broken" / "config.yaml").write_text("name: broken\nmax_batch_size: -3\n")
    if zoo_model is not None:
        shutil.copytree(zoo_model, repo / zoo_model.name, dirs_exist_ok=True)
    return repo


def jpeg_bytes(array: np.ndarray, quality: int = 92) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
