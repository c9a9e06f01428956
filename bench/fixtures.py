"""Models that only tests and benchmarks may use, set up once per machine.

nudenet's YOLOv8n is AGPL-3.0: ``scripts/fixture.sh nudenet`` installs its wheel into a
cache folder, and ``nudenet_detector`` copies the detector into a scratch repository
given by the caller, never into the zoo, the repository or an image.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["NUDENET", "cat_jpeg_file", "lite0_repository", "nudenet_detector", "nudenet_folder"]

ROOT = Path(__file__).resolve().parent.parent
#: The detector's model name in a repository.
NUDENET = "nudenet-yolov8"


def nudenet_folder() -> Path:
    """The folder holding the ``nudenet`` package and OpenCV (installed once)."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "fixture.sh"), "nudenet"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def nudenet_detector(repository: Path, *, max_batch_size: int = 8, pad: int = 0) -> Path:
    """``repository/nudenet-yolov8``: nudenet's detector as a tensorgate detect model
    (letterboxed to 320², its 18 labels, class-agnostic NMS as nudenet does)."""
    folder = nudenet_folder()
    labels = subprocess.run(
        [sys.executable, "-c", "import nudenet.nudenet as n; print('\\n'.join(n.__labels))"],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(folder), "PATH": "/usr/bin:/bin"},
    ).stdout
    model = repository / NUDENET
    (model / "1").mkdir(parents=True)
    shutil.copy(folder / "nudenet" / "320n.onnx", model / "1" / "model.onnx")
    (model / "labels.txt").write_text(labels)
    (model / "config.yaml").write_text(
        f"name: {NUDENET}\n"
        "task: detect\n"
        f"max_batch_size: {max_batch_size}\n"
        "inputs: [{name: images, datatype: FP32, dims: [3, 320, 320]}]\n"
        "preprocess: {mode: letterbox, resize: [320, 320], crop: null, mean: 0, std: 255, "
        f"pad: {pad}}}\n"
        "postprocess: {decoder: yolov8, labels: labels.txt, score_threshold: 0.25, "
        "iou_threshold: 0.45, class_agnostic: true}\n"
    )
    return model


def lite0_repository(scratch: Path, *, tensors: bool = False) -> Path:
    """``scratch/repository`` with the zoo's efficientnet-lite0 (and, with ``tensors``,
    the tiny ``add_sub_fp32`` V2 tensor model): what the serving benches load."""
    from tensorgate.config import default_repository
    from tensorgate.zoo import pull

    repository = scratch / "repository"
    shutil.copytree(
        pull("efficientnet-lite0", default_repository()).directory,
        repository / "efficientnet-lite0",
    )
    if tensors:
        from tests.helpers import add_sub_model, write_model

        write_model(repository, "add_sub_fp32", add_sub_model("FP32"), {"max_batch_size": 8})
    return repository


def cat_jpeg_file(scratch: Path) -> Path:
    """scikit-image's cat as a JPEG file (quality 92) in ``scratch``."""
    from PIL import Image
    from skimage import data

    body = scratch / "cat.jpg"
    Image.fromarray(data.chelsea()).save(body, quality=92)
    return body
