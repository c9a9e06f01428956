"""The shared vocabulary: names every layer composes over."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy.typing as npt

__all__ = ["Array", "Classification", "DeviceId", "ModelKey", "TensorSpec", "Tensors"]

#: One tensor. Rows (the batch axis) come first for batched models.
Array = npt.NDArray[Any]

#: Named tensors in and out of a model: ``Runtime.infer(Tensors) -> Tensors``.
Tensors = Mapping[str, Array]

#: A device slot such as ``"cpu"`` or ``"cuda:0"``.
DeviceId = str


@dataclass(frozen=True, slots=True)
class ModelKey:
    """A model name and version, the unit that is loaded, batched and counted."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """The name, V2 datatype and shape of one model input or output.

    ``shape`` excludes the batch axis for batched models; ``-1`` marks a dimension of
    any size.
    """

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Classification:
    """One class of one image's answer.

    Attributes:
        index: the class index in the model's output.
        label: its name from the labels file (the index as text if there is none).
        score: probability after softmax, or the raw output if softmax is off.
    """

    index: int
    label: str
    score: float
