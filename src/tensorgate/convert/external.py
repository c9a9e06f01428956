"""Keras and MXNet → ONNX through their own exporters, run in the framework's Python.

``worker.py`` runs under ``python`` (the interpreter of an environment where the
framework is installed; this one by default), exports, and saves the source's outputs on
seeded random inputs; here onnxruntime runs the ONNX file on the same inputs and the
report states the largest difference. Nothing is written unless the check passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tensorgate.convert.output import install_file
from tensorgate.convert.report import DEFAULT_TOLERANCE, ConversionReport, check_outputs
from tensorgate.errors import ConversionError

__all__ = ["FRAMEWORKS", "convert_external"]

#: The frameworks converted out of process, and what their environment needs.
FRAMEWORKS = {
    "keras": "keras (Keras 3 on TensorFlow) and tf2onnx",
    "mxnet": "mxnet 1.9 with numpy<1.24 and onnx<=1.15",
}
_WORKER = Path(__file__).with_name("worker.py")


def convert_external(
    framework: str,
    source: str,
    target: Path,
    *,
    python: str | None = None,
    checkpoint: Path | None = None,
    input_shape: tuple[int, ...] | None = None,
    opset: int = 17,
    tolerance: float = DEFAULT_TOLERANCE,
    timeout_s: float = 900.0,
) -> ConversionReport:
    """Convert a Keras file or an MXNet symbol (+ params) into ``target``."""
    if framework not in FRAMEWORKS:
        raise ConversionError(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")
    interpreter = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="tensorgate-convert-") as scratch:
        staged = Path(scratch) / "model.onnx"
        reference = Path(scratch) / "reference.npz"
        args = {
            "framework": framework,
            "source": source,
            "checkpoint": str(checkpoint) if checkpoint else None,
            "input_shape": list(input_shape) if input_shape else None,
            "input_name": "input",
            "opset": opset,
            "seed": 0,
            "target": str(staged),
            "reference": str(reference),
        }
        try:
            done = subprocess.run(
                [interpreter, str(_WORKER), json.dumps(args)],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise ConversionError(f"--python {interpreter}: no such interpreter") from None
        except subprocess.TimeoutExpired:
            raise ConversionError(f"the {framework} export ran past {timeout_s:.0f} s") from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
            hint = ""
            if "ModuleNotFoundError" in lines[-1] or "ImportError" in lines[-1]:
                hint = (
                    f"; {interpreter} needs {FRAMEWORKS[framework]}: pass --python with the "
                    "interpreter of an environment that has them (see docs/convert.md)"
                )
            raise ConversionError(f"the {framework} export failed: {lines[-1]}{hint}")
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        absolute, relative = _check(staged, reference, tolerance)
        install_file(staged, target)
    return ConversionReport(
        source=source,
        framework=framework,
        target=target,
        input_shape=tuple(summary["input_shape"]),
        batch_sizes=(1, 3),
        max_abs_error=absolute,
        relative_error=relative,
        tolerance=tolerance,
        size_bytes=target.stat().st_size,
    )


def _check(model: Path, reference: Path, tolerance: float) -> tuple[float, float]:
    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"onnxruntime cannot load the exported model: {exc}") from None
    feed_name = session.get_inputs()[0].name
    worst = (0.0, 0.0)
    with np.load(reference) as saved:
        index = 0
        while f"input_{index}" in saved:
            x = saved[f"input_{index}"]
            want: list[np.ndarray] = []
            while f"output_{index}_{len(want)}" in saved:
                want.append(saved[f"output_{index}_{len(want)}"])
            try:
                got = session.run(None, {feed_name: x})
            except Exception as exc:
                raise ConversionError(
                    f"the exported model fails at batch {x.shape[0]}: {exc}"
                ) from None
            worst = max(worst, check_outputs(want, [np.asarray(g) for g in got], tolerance))
            index += 1
    return worst
