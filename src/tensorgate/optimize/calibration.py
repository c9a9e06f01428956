"""Calibration images → the model's input tensors, through the model's own preprocessing."""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from tensorgate.errors import ConfigError, ImageError
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits
from tensorgate.repository.manifest import ModelConfig
from tensorgate.types import Array

__all__ = ["IMAGE_SUFFIXES", "CalibrationSet", "find_images", "load_calibration"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def find_images(items: Sequence[str]) -> list[Path]:
    """Image files named by paths, directories (not recursive) and globs, sorted, unique."""
    found: set[Path] = set()
    for item in items:
        path = Path(item)
        if path.is_dir():
            found.update(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.add(path)
        else:
            matches = [Path(m) for m in glob.glob(item)]
            if not matches:
                raise ConfigError(f"calibration source {item!r} matches no file")
            found.update(p for p in matches if p.is_file())
    return sorted(found)


class CalibrationSet:
    """The calibration images as one float batch in the model's input layout."""

    def __init__(self, input_name: str, tensors: Array, names: tuple[str, ...]) -> None:
        self.input_name = input_name
        self.tensors = tensors
        self.names = names

    def __len__(self) -> int:
        return int(self.tensors.shape[0])

    def batches(self, size: int) -> Iterator[Array]:
        """The tensors in batches of ``size`` (the last may be smaller)."""
        for start in range(0, len(self), size):
            yield self.tensors[start : start + size]


def load_calibration(config: ModelConfig, images: Sequence[Path]) -> CalibrationSet:
    """Decode and preprocess ``images`` as the server would for this model.

    Raises:
        ConfigError: the model has no preprocess spec, or no image could be read.
    """
    spec = config.preprocess
    if spec is None:
        raise ConfigError(
            f"model {config.name!r} has no 'preprocess' section, so images cannot be turned "
            "into its input; add one to its config.yaml"
        )
    preprocessor = ImagePreprocessor(spec, ImageLimits())
    tensors: list[Array] = []
    names: list[str] = []
    skipped: list[str] = []
    for path in images:
        try:
            tensors.append(preprocessor(path.read_bytes()))
            names.append(path.name)
        except (ImageError, OSError) as exc:
            skipped.append(f"{path.name} ({exc})")
    if not tensors:
        raise ConfigError(
            "no calibration image could be read"
            + (f": {'; '.join(skipped[:3])}" if skipped else "; give JPEG, PNG or WebP files")
        )
    input_name = spec.input or (config.inputs[0].name if config.inputs else "input")
    return CalibrationSet(input_name, np.stack(tensors), tuple(names))
