"""The models bench/gpu.py measures, made from what the device machine has.

    python -m bench.gpu_models --repository DIR [--resnet50]

From ``DIR/efficientnet-lite0`` (the zoo's FP32 export, carried over): the UINT8 NCHW
variant (normalisation folded into the graph, ``zoo.export.fold_pixels``) and its FP16
form (``onnxruntime.transformers.float16``, inputs and outputs kept: UINT8 in, FP32
logits out). With ``--resnet50``: torchvision's ResNet-50 architecture, UINT8 NCHW and
FP16 the same way. Its weights are random (no weight package ships ResNet-50 on PyPI
and the device machine reaches no model hub), which changes nothing in its speed; its
classes mean nothing.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import yaml

from tensorgate.zoo.catalog import CATALOG


def to_fp16(source: Path, target: Path) -> None:
    """``source`` (a model directory) as ``target`` with its graph in FP16."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    target.mkdir(parents=True, exist_ok=True)
    (target / "1").mkdir(exist_ok=True)
    model = convert_float_to_float16(
        onnx.load(str(source / "1" / "model.onnx")), keep_io_types=True
    )
    onnx.save(model, str(target / "1" / "model.onnx"))
    _copy_config(source, target)


def _copy_config(source: Path, target: Path) -> None:
    config = yaml.safe_load((source / "config.yaml").read_text())
    config["name"] = target.name
    (target / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if (source / "labels.txt").exists():
        shutil.copy(source / "labels.txt", target / "labels.txt")


def uint8_nchw(repository: Path) -> Path:
    """efficientnet-lite0 taking UINT8 NCHW pixels, from the FP32 export."""
    from tensorgate.zoo.export import fold_pixels

    model = CATALOG["efficientnet-lite0"]
    source = repository / "efficientnet-lite0"
    target = repository / "efficientnet-lite0-uint8-nchw"
    if not (target / "1" / "model.onnx").exists():
        (target / "1").mkdir(parents=True, exist_ok=True)
        error = fold_pixels(source / "1" / "model.onnx", target / "1" / "model.onnx", model, "NCHW")
        config = model.config("uint8-nchw")
        config["name"] = target.name
        (target / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        shutil.copy(source / "labels.txt", target / "labels.txt")
        print(f"{target.name}: folded, max |error| {error:.2e}")
    return target


def resnet50(repository: Path, template: Path) -> Path:
    """torchvision's ResNet-50 (random weights), UINT8 NCHW, in ``repository``."""
    import torchvision

    from tensorgate.convert.pytorch import export_module
    from tensorgate.zoo.export import fold_pixels

    target = repository / "resnet50-uint8-nchw"
    (target / "1").mkdir(parents=True, exist_ok=True)
    fp32 = target / "fp32.onnx"
    export_module(
        torchvision.models.resnet50(weights=None).eval(),
        (3, 224, 224),
        fp32,
        output_names=("logits",),
    )
    fold_pixels(fp32, target / "1" / "model.onnx", CATALOG["efficientnet-lite0"], "NCHW")
    fp32.unlink()
    _copy_config(template, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--resnet50", action="store_true")
    args = parser.parse_args()
    lite = uint8_nchw(args.repository)
    to_fp16(lite, args.repository / "efficientnet-lite0-uint8-nchw-fp16")
    print("efficientnet-lite0-uint8-nchw-fp16: written")
    if args.resnet50:
        resnet = resnet50(args.repository, lite)
        to_fp16(resnet, args.repository / "resnet50-uint8-nchw-fp16")
        print("resnet50-uint8-nchw-fp16: written")


if __name__ == "__main__":
    main()
