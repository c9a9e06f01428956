"""Measure a transformed model against its fp32 source: top-1 agreement, speed, size.

Speed is measured side by side in one process: both sessions single-threaded (as served:
one instance per core), the same batches, alternating rounds, so machine noise falls on
both alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from tensorgate.errors import ConversionError
from tensorgate.optimize.calibration import CalibrationSet
from tensorgate.types import Array

__all__ = ["CONFIDENT", "Measurement", "agreement", "alternate", "measure", "session"]

#: fp32 top-1 probability above which an image counts as confidently classified.
CONFIDENT = 0.5


@dataclass(frozen=True, slots=True)
class Measurement:
    """Agreement and speed of a transformed model beside its source."""

    images: int
    agreement: float
    confident_images: int
    confident_agreement: float
    disagreements: tuple[str, ...]
    source_images_per_s: float
    target_images_per_s: float
    batch_size: int
    provider: str


def agreement(reference: Array, candidate: Array) -> tuple[float, Array]:
    """Fraction of rows whose arg-max class is the same, and a mask of those that differ."""
    if reference.shape != candidate.shape:
        raise ConversionError(
            f"the transformed model's output has shape {list(candidate.shape)}, the source's "
            f"{list(reference.shape)}"
        )
    differ = reference.reshape(len(reference), -1).argmax(1) != candidate.reshape(
        len(candidate), -1
    ).argmax(1)
    return float(1.0 - differ.mean()) if len(differ) else 0.0, differ


def _top1_probability(logits: Array) -> Array:
    """Softmax probability of each row's top class."""
    rows = logits.reshape(len(logits), -1).astype(np.float64)
    shifted = np.exp(rows - rows.max(axis=1, keepdims=True))
    return np.asarray(shifted.max(axis=1) / shifted.sum(axis=1))


def session(path: Path, device: str) -> ort.InferenceSession:
    """A single-threaded session on ``device`` (``cpu`` or ``cuda:N``)."""
    from tensorgate.runtimes.onnx import providers_for

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=providers_for(device))
    except Exception as exc:
        raise ConversionError(f"onnxruntime cannot load {path}: {exc}") from None


def alternate(
    calls: Sequence[Callable[[], object]],
    seconds: float,
    rows: int,
    *,
    min_rounds: int = 2,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Rows per second of each call, timed in alternating rounds for about ``seconds``
    (at least ``min_rounds`` each), so machine noise falls on all of them alike."""
    totals = [0.0] * len(calls)
    rounds = 0
    deadline = clock() + seconds
    while rounds < min_rounds or clock() < deadline:
        for index, call in enumerate(calls):
            started = clock()
            call()
            totals[index] += clock() - started
        rounds += 1
    return [rounds * rows / total for total in totals]


def _run_all(run: Callable[[Array], Array], calibration: CalibrationSet, batch: int) -> Array:
    return np.concatenate([run(b) for b in calibration.batches(batch)])


def measure(
    source: Path,
    target: Path,
    calibration: CalibrationSet,
    *,
    output: str | None,
    device: str = "cpu",
    batch_size: int = 8,
    seconds: float = 3.0,
    clock: Callable[[], float] = time.perf_counter,
) -> Measurement:
    """Agreement on every calibration image, then throughput for about ``seconds``."""
    sessions = [session(source, device), session(target, device)]
    name = calibration.input_name

    def runner(s: ort.InferenceSession) -> Callable[[Array], Array]:
        out_name = output or s.get_outputs()[0].name

        def run(x: Array) -> Array:
            result: list[Any] = s.run([out_name], {name: np.ascontiguousarray(x)})
            return np.asarray(result[0])

        return run

    runs = [runner(s) for s in sessions]
    reference, candidate = (_run_all(r, calibration, batch_size) for r in runs)
    share, differ = agreement(reference, candidate)
    confident = _top1_probability(reference) >= CONFIDENT
    sure = float(1.0 - differ[confident].mean()) if confident.any() else 0.0
    disagreements = tuple(n for n, d in zip(calibration.names, differ, strict=True) if d)
    sample = np.resize(calibration.tensors, (batch_size, *calibration.tensors.shape[1:]))
    rates = alternate([partial(run, sample) for run in runs], seconds, batch_size, clock=clock)
    provider = str(sessions[0].get_providers()[0])
    return Measurement(
        images=len(calibration),
        agreement=share,
        confident_images=int(confident.sum()),
        confident_agreement=sure,
        disagreements=disagreements,
        source_images_per_s=rates[0],
        target_images_per_s=rates[1],
        batch_size=batch_size,
        provider=provider,
    )
