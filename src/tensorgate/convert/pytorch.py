"""PyTorch → ONNX with a dynamic batch axis, checked against the source.

Uses torch's TorchScript-based exporter (``dynamo=False``): it needs no extra package
and handles TorchScript modules as well as eager ones.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from tensorgate.convert.report import DEFAULT_TOLERANCE, ConversionReport, check_outputs
from tensorgate.convert.torch_source import load_module
from tensorgate.errors import ConversionError
from tensorgate.runtimes.pytorch import output_tensors

__all__ = ["CHECK_BATCHES", "export_module", "torch_to_onnx"]

#: Batch sizes of the numeric check: two sizes, so a batch axis frozen at export fails.
CHECK_BATCHES = (1, 3)


def _outputs(result: object) -> list[torch.Tensor]:
    tensors = output_tensors(result)
    if tensors is None:
        raise ConversionError(
            f"the model returns {type(result).__name__}; convert models that return a tensor, "
            "a tuple of tensors or a dict of tensors"
        )
    return tensors


def export_module(
    module: torch.nn.Module,
    input_shape: tuple[int, ...],
    target: Path,
    *,
    input_name: str = "input",
    output_names: tuple[str, ...] = ("output",),
    opset: int = 17,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Export ``module`` to ``target`` and check it; return (max abs, relative) error."""
    generator = torch.Generator().manual_seed(seed)
    samples = [torch.randn(b, *input_shape, generator=generator) for b in CHECK_BATCHES]
    with torch.inference_mode():
        try:
            expected = [[t.numpy() for t in _outputs(module(s))] for s in samples]
        except ConversionError:
            raise
        except Exception as exc:
            raise ConversionError(
                f"the model fails on an input of shape {[1, *input_shape]}: {exc}; check "
                "--input-shape"
            ) from None
    count = len(expected[0])
    names = (
        output_names if len(output_names) == count else tuple(f"output__{i}" for i in range(count))
    )
    axes = {name: {0: "batch"} for name in (input_name, *names)}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                module,
                (samples[0],),
                str(target),
                input_names=[input_name],
                output_names=list(names),
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
                # The module is already in eval mode; a loaded TorchScript module
                # refuses the exporter's own train()/eval() switch.
                training=torch.onnx.TrainingMode.PRESERVE,
            )
        except Exception as exc:  # the exporter raises many kinds
            raise ConversionError(f"torch.onnx.export failed: {exc}") from None
    try:
        session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ConversionError(f"onnxruntime cannot load the exported model: {exc}") from None
    worst = (0.0, 0.0)
    for sample, want in zip(samples, expected, strict=True):
        try:
            got = session.run(None, {input_name: sample.numpy()})
        except Exception as exc:
            raise ConversionError(
                f"the exported model fails at batch {sample.shape[0]}: {exc}; the batch axis "
                "may have been frozen by the model's code (e.g. a reshape with a fixed size)"
            ) from None
        error = check_outputs(want, [np.asarray(g) for g in got], tolerance)
        worst = max(worst, error)
    return worst


def torch_to_onnx(
    source: str,
    input_shape: tuple[int, ...],
    target: Path,
    *,
    checkpoint: Path | None = None,
    opset: int = 17,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ConversionReport:
    """Convert the model ``source`` names (see ``load_module``) into ``target``.

    The file is written only when the check passes.
    """
    module = load_module(source, checkpoint)
    with tempfile.TemporaryDirectory(prefix="tensorgate-convert-") as scratch:
        staged = Path(scratch) / "model.onnx"
        absolute, relative = export_module(
            module, input_shape, staged, opset=opset, tolerance=tolerance
        )
        from tensorgate.convert.output import install_file

        install_file(staged, target)
    return ConversionReport(
        source=source,
        framework="pytorch",
        target=target,
        input_shape=input_shape,
        batch_sizes=CHECK_BATCHES,
        max_abs_error=absolute,
        relative_error=relative,
        tolerance=tolerance,
        size_bytes=target.stat().st_size,
    )
