"""``tensorgate convert``: a trained model → ONNX with a dynamic batch axis, checked.

Which exporter runs follows from the source:

- ``MODULE:FACTORY`` (with ``--checkpoint``), a TorchScript archive or a ``.pt2`` →
  PyTorch's exporter, in this process (the ``zoo`` extra has torch);
- a ``.keras`` / ``.h5`` file → tf2onnx, in ``--python``'s environment;
- an MXNet ``*-symbol.json`` (weights in ``--checkpoint``) → MXNet's ONNX export, in
  ``--python``'s environment.

Every path checks the ONNX model with onnxruntime against the source on seeded random
inputs at two batch sizes and writes nothing if they differ beyond the tolerance.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tensorgate.convert.report import DEFAULT_TOLERANCE, ConversionReport
from tensorgate.errors import ConversionError

__all__ = ["DEFAULT_TOLERANCE", "ConversionReport", "convert", "framework_of"]


def framework_of(source: str) -> str:
    """``pytorch``, ``keras`` or ``mxnet``, from what the source looks like."""
    lowered = source.lower()
    if lowered.endswith((".keras", ".h5", ".hdf5")):
        return "keras"
    if lowered.endswith("-symbol.json"):
        return "mxnet"
    return "pytorch"


def convert(
    source: str,
    target: Path,
    *,
    input_shape: tuple[int, ...] | None = None,
    checkpoint: Path | None = None,
    python: str | None = None,
    opset: int = 17,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ConversionReport:
    """Convert ``source`` to ``target`` (an ONNX file) and check it; see the module doc.

    Raises:
        ConversionError: the source cannot be read or exported.
        AccuracyError: the ONNX model differs from the source beyond ``tolerance``.
    """
    framework = framework_of(source)
    if framework != "pytorch":
        from tensorgate.convert.external import convert_external

        return convert_external(
            framework,
            source,
            target,
            python=python,
            checkpoint=checkpoint,
            input_shape=input_shape,
            opset=opset,
            tolerance=tolerance,
        )
    if importlib.util.find_spec("torch") is None:
        raise ConversionError(
            f"converting {source!r} needs torch; install the zoo extra: "
            "pip install 'tensorgate[zoo]'"
        )
    if input_shape is None:
        raise ConversionError(
            "a PyTorch model carries no input shape; give --input-shape, e.g. 3,224,224"
        )
    from tensorgate.convert.pytorch import torch_to_onnx

    return torch_to_onnx(
        source, input_shape, target, checkpoint=checkpoint, opset=opset, tolerance=tolerance
    )
