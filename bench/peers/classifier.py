"""The one handler every peer serves: JPEG bytes in, the top ImageNet label out.

It runs inside each peer's own virtual environment, so it needs only Pillow, simplejpeg,
numpy and onnxruntime (no tensorgate). It does what tensorgate's ``/classify`` does for
``efficientnet-lite0``, step for step, so the table compares serving systems and not
preprocessing recipes:

- decode the JPEG with libjpeg-turbo (simplejpeg) at the smallest of its M/8 scales that
  keeps the shorter side ≥ 256, as tensorgate does (Pillow's ``draft`` offers only 1/2,
  1/4 and 1/8: it would decode a 1500 × 1000 photo at 750 × 500, not 563 × 375),
- resize the shorter side to 256 (bilinear, antialiased) and crop the centre 224² in
  one pass over the source box, as tensorgate does; RGB,
  ``(x - 127) / 128``, NCHW float32,
- one onnxruntime session per worker with one intra-op and one inter-op thread,
- softmax, the top class and its probability.

Settings come from the environment, the same for every peer (``python -m bench.peers``
sets them): ``PEER_MODEL_DIR`` (``model.onnx`` and ``labels.txt``), ``PEER_PORT``,
``PEER_WORKERS``, ``PEER_MAX_BATCH``, ``PEER_DELAY_MS``; ``PEER_SCRATCH`` is a folder a
peer may write to, removed after the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import simplejpeg
from PIL import Image

RESIZE = 256
CROP = 224
MEAN = 127.0
STD = 128.0


@dataclass(frozen=True)
class Settings:
    """What the runner asks of every peer."""

    model_dir: Path
    port: int
    workers: int
    max_batch: int
    delay_ms: float

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            model_dir=Path(os.environ["PEER_MODEL_DIR"]),
            port=int(os.environ["PEER_PORT"]),
            workers=int(os.environ["PEER_WORKERS"]),
            max_batch=int(os.environ["PEER_MAX_BATCH"]),
            delay_ms=float(os.environ["PEER_DELAY_MS"]),
        )


def preprocess(jpeg: bytes) -> np.ndarray:
    """One JPEG → a ``3 × 224 × 224`` float32 array."""
    height, width, _, _ = simplejpeg.decode_jpeg_header(jpeg)
    target = min(RESIZE, width, height)
    pixels = simplejpeg.decode_jpeg(jpeg, colorspace="RGB", min_height=target, min_width=target)
    image = Image.fromarray(pixels)
    # Resize and centre-crop in one pass: resample only the source box that maps onto
    # the 224² crop of the 256-shorter-side image.
    width, height = image.size
    scale = RESIZE / min(width, height)
    resized_w, resized_h = round(width * scale), round(height * scale)
    left = (resized_w - CROP) / 2 / scale
    top = (resized_h - CROP) / 2 / scale
    box = (left, top, left + CROP / scale, top + CROP / scale)
    image = image.resize((CROP, CROP), Image.Resampling.BILINEAR, box=box)
    tensor = np.asarray(image, dtype=np.float32)
    return ((tensor - MEAN) / STD).transpose(2, 0, 1)


class Classifier:
    """An onnxruntime session (1 intra-op, 1 inter-op thread) and the labels."""

    def __init__(self, model_dir: Path) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(
            str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name
        self.labels = (model_dir / "labels.txt").read_text(encoding="utf-8").splitlines()

    def __call__(self, images: list[bytes]) -> list[dict[str, object]]:
        """Classify a batch of encoded images: ``{"label", "score"}`` per image."""
        batch = np.stack([preprocess(image) for image in images])
        (logits,) = self.session.run(None, {self.input: batch})
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        top = probabilities.argmax(axis=1)
        return [
            {"label": self.labels[int(k)], "score": float(probabilities[i, k])}
            for i, k in enumerate(top)
        ]
