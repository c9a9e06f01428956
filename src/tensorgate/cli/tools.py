"""``tensorgate devices``, ``convert`` and ``optimize``: hardware and model files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from tensorgate.cli._shared import RepositoryOption
from tensorgate.config import default_repository

__all__ = ["convert", "devices", "optimize"]


def devices(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    torch: Annotated[
        bool, typer.Option("--torch/--no-torch", help="Also ask torch (imports it).")
    ] = True,
) -> None:
    """Show the CPU cores, CUDA GPUs and runtimes that `device: auto` chooses from."""
    from tensorgate.devices import discover, resolve_device

    found = discover(probe_torch=torch)
    auto = {
        b: resolve_device("auto", b) for b in ("onnxruntime", "pytorch") if torch or b != "pytorch"
    }
    if as_json:
        typer.echo(json.dumps({**dataclasses.asdict(found), "auto": auto}, indent=2))
        return
    cpu = found.cpu
    typer.echo(f"cpu        {cpu.cores} of {cpu.logical} cores usable; {cpu.model or 'unknown'}")
    typer.echo(f"           features: {', '.join(cpu.flags) or 'none of note'}")
    if not found.gpus:
        typer.echo(
            "cuda       no GPU visible (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides them)"
        )
    for gpu in found.gpus:
        typer.echo(
            f"{gpu.device:<10} {gpu.name}; {gpu.memory_total / 2**30:.1f} GiB, "
            f"{gpu.memory_free / 2**30:.1f} GiB free"
        )
    providers = [
        f"{p} (TensorRT's libnvinfer.so.10 does not load: left out)"
        if p == "TensorrtExecutionProvider" and not found.tensorrt
        else p
        for p in found.onnxruntime_providers
    ]
    typer.echo(f"onnxruntime {', '.join(providers)}")
    if torch:
        typer.echo(
            f"torch      {found.torch or 'not installed'}"
            + (f"; CUDA {'yes' if found.torch_cuda else 'no'}" if found.torch else "")
        )
    typer.echo(
        f"decode     JPEG on the model's GPU via {found.gpu_decoder} (nvJPEG), else CPU"
        if found.gpu_decoder
        else "decode     CPU (libjpeg-turbo); no GPU JPEG decoder installed"
    )
    typer.echo("auto       " + ", ".join(f"{b} -> {d}" for b, d in auto.items()))


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        shape = ()
    if not shape or any(v <= 0 for v in shape):
        raise typer.BadParameter(f"{text!r} is not a shape; give sizes like 3,224,224")
    return shape


def convert(
    source: Annotated[
        str,
        typer.Argument(
            help="MODULE:FACTORY or file.py:FACTORY (with --checkpoint), a TorchScript .pt, "
            "a torch.export .pt2, a Keras .keras/.h5, or an MXNet PREFIX-symbol.json."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The ONNX file to write.")
    ] = None,
    repository: RepositoryOption = None,
    name: Annotated[
        str | None,
        typer.Option(help="Write the next version of REPOSITORY/NAME (config.yaml if new)."),
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(help="One sample's shape without the batch axis, e.g. 3,224,224."),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Weights: a state dict (PyTorch) or PREFIX-0000.params (MXNet)."),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option(help="Python of the environment with Keras/tf2onnx or MXNet."),
    ] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset (PyTorch and Keras).")] = 17,
    tolerance: Annotated[
        float, typer.Option(help="Largest |onnx - source| allowed, relative to max(1, |source|).")
    ] = 1e-3,
) -> None:
    """Convert a trained model to ONNX with a dynamic batch axis; check it numerically."""
    import tempfile

    from tensorgate.convert import convert as run_convert
    from tensorgate.convert.output import model_directory

    if (output is None) == (name is None):
        raise typer.BadParameter("give either --output FILE.onnx or --name NAME (in a repository)")
    with tempfile.TemporaryDirectory(prefix="tensorgate-convert-") as scratch:
        target = output or Path(scratch) / "model.onnx"
        report = run_convert(
            source,
            target,
            input_shape=_shape(input_shape),
            checkpoint=checkpoint,
            python=python,
            opset=opset,
            tolerance=tolerance,
        )
        if name is not None:
            config = {"name": name, "backend": "onnxruntime", "max_batch_size": 32}
            written = model_directory(
                repository or default_repository(), name, target, config, filename="model.onnx"
            )
            report = dataclasses.replace(report, target=written)
    for line in report.lines():
        typer.echo(line)


def optimize(
    model_name: Annotated[str, typer.Argument(help="A model of the repository (ONNX).")],
    mode: Annotated[
        str, typer.Option(help="int8-static (calibrated), int8-dynamic, or fp16 (for GPUs).")
    ] = "int8-static",
    calibration: Annotated[
        list[str] | None,
        typer.Option(help="Calibration images: files, directories or globs (repeatable)."),
    ] = None,
    repository: RepositoryOption = None,
    name: Annotated[
        str | None, typer.Option(help="The new model's name (default: MODEL-MODE).")
    ] = None,
    min_agreement: Annotated[
        float, typer.Option(help="Refuse below this top-1 agreement with fp32 (0-1).")
    ] = 0.90,
    device: Annotated[str, typer.Option(help="Where speed and agreement are measured.")] = "cpu",
    seconds: Annotated[float, typer.Option(help="Seconds of speed measurement.")] = 3.0,
) -> None:
    """Write an int8 or fp16 copy of a model, measured beside fp32 on calibration images."""
    from tensorgate.errors import AccuracyError
    from tensorgate.optimize import find_images
    from tensorgate.optimize import optimize as run_optimize

    root = repository or default_repository()
    try:
        images = find_images(calibration or [])
        report = run_optimize(
            root / model_name,
            mode,
            images,
            name=name,
            min_agreement=min_agreement,
            device=device,
            seconds=seconds,
        )
    except AccuracyError as exc:
        if exc.report is not None:  # what was measured, before the error says why not
            for line in exc.report.lines():
                typer.echo(line)
        raise
    for line in report.lines():
        typer.echo(line)
