"""What a conversion measured, and the numeric check that decides whether it stands.

Pure: no framework is imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tensorgate.errors import AccuracyError
from tensorgate.memory import format_bytes
from tensorgate.types import Array

__all__ = ["DEFAULT_TOLERANCE", "ConversionReport", "check_outputs", "relative_error"]

#: Largest |ONNX − source| allowed, relative to max(1, largest |source output|). fp32
#: exports of CNNs measure 1e-6–1e-5 here; 1e-3 leaves room for kernel differences and
#: still catches a wrong layer, a wrong layout or a broken op mapping (errors of O(1)).
DEFAULT_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class ConversionReport:
    """The result of ``tensorgate convert``.

    Attributes:
        source: what was converted (a path or ``module:factory``).
        framework: ``pytorch``, ``keras`` or ``mxnet``.
        target: the ONNX file written.
        input_shape: one sample's shape (without the batch axis).
        batch_sizes: the batch sizes checked (more than one proves the dynamic axis).
        max_abs_error: largest |ONNX − source| over every checked output value.
        relative_error: ``max_abs_error`` / max(1, largest |source output|).
        tolerance: the relative error allowed.
        size_bytes: size of the ONNX file.
    """

    source: str
    framework: str
    target: Path
    input_shape: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    max_abs_error: float
    relative_error: float
    tolerance: float
    size_bytes: int

    def lines(self) -> list[str]:
        """The report ``tensorgate convert`` prints."""
        return [
            f"source         {self.source} ({self.framework})",
            f"written        {self.target} ({format_bytes(self.size_bytes)})",
            f"input          [batch, {', '.join(map(str, self.input_shape))}] (batch dynamic)",
            f"checked        random inputs at batch {', '.join(map(str, self.batch_sizes))}",
            f"max abs error  {self.max_abs_error:.3g} "
            f"(relative {self.relative_error:.3g}, tolerance {self.tolerance:g})",
        ]


def relative_error(expected: Sequence[Array], got: Sequence[Array]) -> tuple[float, float]:
    """(max |got − expected|, that divided by max(1, max |expected|)) over all outputs."""
    if len(expected) != len(got):
        raise AccuracyError(
            f"the converted model returns {len(got)} output(s); the source returns {len(expected)}"
        )
    worst = 0.0
    scale = 1.0
    for want, have in zip(expected, got, strict=True):
        if want.shape != have.shape:
            raise AccuracyError(
                f"the converted model's output has shape {list(have.shape)}; the source's "
                f"has {list(want.shape)}"
            )
        want64 = want.astype(np.float64)
        diff = np.abs(have.astype(np.float64) - want64)
        # NaN or inf where the source is finite is as wrong as it gets.
        worst = max(worst, float(diff.max(initial=0.0)) if np.isfinite(diff).all() else np.inf)
        scale = max(scale, float(np.abs(want64).max(initial=0.0)))
    return worst, worst / scale


def check_outputs(
    expected: Sequence[Array], got: Sequence[Array], tolerance: float
) -> tuple[float, float]:
    """``relative_error``, raising AccuracyError when it is over ``tolerance``."""
    absolute, relative = relative_error(expected, got)
    if not np.isfinite(relative) or relative > tolerance:
        raise AccuracyError(
            f"the ONNX model differs from its source by {absolute:.3g} (relative "
            f"{relative:.3g}), over the tolerance of {tolerance:g}; nothing was written. "
            "Check that the model is in eval mode and uses only ops with an ONNX mapping, "
            "or raise --tolerance if the difference is expected"
        )
    return absolute, relative
