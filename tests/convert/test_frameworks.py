"""Keras and MXNet → ONNX through their own exporters, in environments built by
scripts/framework-env.sh (slow: the first run installs TensorFlow or MXNet)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tensorgate.convert import convert

ROOT = Path(__file__).parents[2]

KERAS_MODEL = """
import keras, sys
inp = keras.Input((32, 32, 3))
x = keras.layers.Conv2D(8, 3, activation="relu")(inp)
out = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
keras.Model(inp, out).save(sys.argv[1])
"""
MXNET_MODEL = """
import mxnet as mx, sys
from mxnet.gluon import nn
net = nn.HybridSequential()
net.add(nn.Conv2D(8, 3, activation="relu"), nn.GlobalAvgPool2D(), nn.Dense(10))
net.initialize(mx.init.Xavier())
net.hybridize()
net(mx.nd.zeros((1, 3, 32, 32)))
net.export(sys.argv[1], epoch=0)
"""


def _python(framework: str) -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "framework-env.sh"), framework],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"could not build the {framework} environment: {done.stderr[-500:]}")
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_keras_converts_through_tf2onnx(tmp_path: Path) -> None:
    python = _python("keras")
    model = tmp_path / "m.keras"
    subprocess.run([python, "-c", KERAS_MODEL, str(model)], check=True, timeout=300)
    report = convert(str(model), tmp_path / "k.onnx", python=python)
    assert report.framework == "keras"
    assert report.max_abs_error < 1e-4
    session = ort.InferenceSession(str(tmp_path / "k.onnx"))
    out = session.run(None, {"input": np.zeros((5, 32, 32, 3), np.float32)})[0]
    assert out.shape == (5, 10)


@pytest.mark.slow
def test_mxnet_converts_through_its_onnx_export(tmp_path: Path) -> None:
    python = _python("mxnet")
    prefix = tmp_path / "net"
    subprocess.run([python, "-c", MXNET_MODEL, str(prefix)], check=True, timeout=300)
    report = convert(
        f"{prefix}-symbol.json",
        tmp_path / "mx.onnx",
        checkpoint=Path(f"{prefix}-0000.params"),
        input_shape=(3, 32, 32),
        python=python,
    )
    assert report.framework == "mxnet"
    assert report.max_abs_error < 1e-4
    session = ort.InferenceSession(str(tmp_path / "mx.onnx"))
    assert len(session.get_inputs()) == 1, "weights are not inputs of the served model"
