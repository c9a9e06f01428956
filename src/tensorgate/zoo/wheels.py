"""Zoo models copied from a PyPI wheel that ships them as ONNX files: the PP-OCRv6
text detector and recogniser of ``rapidocr`` (Apache-2.0).

``pull`` fetches the pinned wheel with pip (``--no-deps``, the index this machine is
configured with), copies the one ONNX file out of it and writes the config.yaml beside
it; nothing of the package is installed or imported. The recogniser's dictionary stays
in its ONNX metadata, where the ``ctc`` decoder reads it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tensorgate.errors import ConfigError

__all__ = ["WHEEL_MODELS", "WheelModel", "copy_from_wheel"]

_BGR_HALF = {"mean": [127.5] * 3, "std": [127.5] * 3, "color": "BGR", "layout": "NCHW"}


@dataclass(frozen=True, slots=True)
class WheelModel:
    """An ONNX model a wheel ships.

    Attributes:
        name: the model (and repository directory) name.
        description: one line for ``zoo list``.
        wheel: the pinned requirement, e.g. ``rapidocr==3.10.0``.
        member: the model's path inside the wheel.
        config: the config.yaml written beside it (``name`` added).
    """

    name: str
    description: str
    wheel: str
    member: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def packages(self) -> tuple[str, ...]:
        return (self.wheel,)


WHEEL_MODELS: dict[str, WheelModel] = {
    m.name: m
    for m in (
        WheelModel(
            "pp-ocrv6-det",
            "PP-OCRv6 small text detector (DBNet): four-point text regions",
            "rapidocr==3.10.0",
            "rapidocr/models/PP-OCRv6_det_small.onnx",
            {
                "task": "text-detect",
                "max_batch_size": 4,
                "inputs": [{"name": "x", "datatype": "FP32", "dims": [3, -1, -1]}],
                "preprocess": {"mode": "dbnet", "resize": 736, **_BGR_HALF},
                "postprocess": {
                    "decoder": "dbnet",
                    "threshold": 0.3,
                    "box_threshold": 0.5,
                    "unclip_ratio": 1.6,
                },
            },
        ),
        WheelModel(
            "pp-ocrv6-rec",
            "PP-OCRv6 small text recogniser (CTC): a line image's characters",
            "rapidocr==3.10.0",
            "rapidocr/models/PP-OCRv6_rec_small.onnx",
            {
                "task": "text-recognize",
                "max_batch_size": 8,
                "inputs": [{"name": "x", "datatype": "FP32", "dims": [3, 48, -1]}],
                "preprocess": {"mode": "height", "resize": [48, 320], **_BGR_HALF},
                "postprocess": {"decoder": "ctc"},
            },
        ),
    )
}


def copy_from_wheel(model: WheelModel, target: Path) -> None:
    """Fetch ``model.wheel`` and copy ``model.member`` to ``target``.

    Raises:
        ConfigError: pip cannot fetch the wheel, or the wheel lacks the file.
    """
    with tempfile.TemporaryDirectory(prefix="tensorgate-wheel-") as scratch:
        fetched = subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", "--disable-pip-version-check", "-d", scratch, model.wheel,
            ],
            capture_output=True,
            text=True,
        )  # fmt: skip
        wheels = list(Path(scratch).glob("*.whl"))
        if fetched.returncode != 0 or not wheels:
            raise ConfigError(
                f"cannot fetch {model.wheel} for zoo model {model.name!r}: "
                f"{fetched.stderr.strip()[-300:] or 'no wheel'}; check the package index"
            )
        with zipfile.ZipFile(wheels[0]) as archive:
            try:
                target.write_bytes(archive.read(model.member))
            except KeyError:
                raise ConfigError(
                    f"{wheels[0].name} has no {model.member}; the zoo entry is out of date"
                ) from None
