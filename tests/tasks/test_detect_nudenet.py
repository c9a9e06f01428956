"""The yolov8 decoder against a real YOLOv8n and that package's own detections.

The detector is the one inside the ``nudenet`` wheel (AGPL-3.0): installed at test time
by ``scripts/fixture.sh nudenet`` into a cache folder and copied into this test's
temporary repository only; never into the zoo, the repository or an image. nudenet runs
in a subprocess with that folder on its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from tensorgate.config import EngineSettings
from tensorgate.engine import Engine
from tensorgate.imaging.geometry import ImageGeometry
from tensorgate.tasks.results import Detections
from tensorgate.tasks.yolov8 import DetectParams, decode_yolov8
from tests.conftest import PHOTOS


def xyxy(box: list[int]) -> np.ndarray:
    x, y, w, h = box
    return np.array([x, y, x + w, y + h], np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    overlap = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(
        0.0, min(a[3], b[3]) - max(a[1], b[1])
    )
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return float(overlap / union)


def test_the_decoder_equals_nudenets_own_on_its_tensors(
    nudenet: tuple[Path, dict[str, Any]],
) -> None:
    """Decoder only: nudenet's own input tensor and model output, decoded by us."""
    work, reference = nudenet
    session = ort.InferenceSession(str(work / "repository" / "nudenet-yolov8" / "1" / "model.onnx"))
    labels: tuple[str, ...] = tuple(reference["labels"])
    found = 0
    for name in PHOTOS:
        theirs = reference[name]["detections"]
        (output,) = session.run(None, {"images": np.load(work / f"{name}.npy")})
        x_pad, y_pad = reference[name]["pad"]
        width, height = reference[name]["size"]
        # nudenet pads right and bottom to a square, then scales it to 320.
        scale = 320 / (width + x_pad)
        geometry = ImageGeometry(width, height, scale, 320 / (height + y_pad), 0.0, 0.0)
        ours = decode_yolov8(output[0], geometry, DetectParams(class_agnostic=True), labels).items
        assert [d.label for d in ours] == [t["class"] for t in theirs], name
        for mine, their in zip(ours, theirs, strict=True):
            assert mine.score == pytest.approx(their["score"], abs=1e-6)
            # nudenet truncates its boxes to whole pixels (int of x, y, w, h).
            np.testing.assert_allclose(mine.box, xyxy(their["box"]), atol=2.0)
            found += 1
    assert found == 2  # a female face in astronaut, a male face in camera


async def test_served_detections_match_nudenets_own(
    nudenet: tuple[Path, dict[str, Any]],
) -> None:
    """End to end: our letterbox (centred, Pillow's antialiased resize) against nudenet's
    (padded right and bottom, OpenCV's resize without antialiasing)."""
    work, reference = nudenet
    settings = EngineSettings(repository=work / "repository", instances=1)
    async with Engine(settings) as engine:
        images = [(work / f"{name}.jpg").read_bytes() for name in PHOTOS]
        result = await engine.run_images("nudenet-yolov8", images, task="detect")
    for name, answer in zip(PHOTOS, result.answers, strict=True):
        assert isinstance(answer, Detections)
        theirs = reference[name]["detections"]
        assert (answer.width, answer.height) == tuple(reference[name]["size"])
        assert [d.label for d in answer.items] == [t["class"] for t in theirs], name
        for mine, their in zip(answer.items, theirs, strict=True):
            assert iou(np.array(mine.box), xyxy(their["box"])) >= 0.9
            assert mine.score == pytest.approx(their["score"], abs=0.15)


async def test_v2_infer_of_photos_answers_detections_as_the_route_does(
    nudenet: tuple[Path, dict[str, Any]],
) -> None:
    """A V2 request of encoded photos to a detector may ask for ``answer``: each photo's
    detections as the /detect route renders them, beside the raw output if asked."""
    import json

    from tensorgate.protocol.answers import answer_json

    work, _ = nudenet
    images = [(work / f"{name}.jpg").read_bytes() for name in ("astronaut", "camera")]
    settings = EngineSettings(repository=work / "repository", instances=1)
    async with Engine(settings) as engine:
        routed = await engine.run_images("nudenet-yolov8", images, task="detect")
        photos = {"images": np.array(images, dtype=object)}
        answered = await engine.infer("nudenet-yolov8", photos, outputs=["answer"])
        both = await engine.infer("nudenet-yolov8", photos, outputs=["output0", "answer"])
    assert list(answered) == ["answer"]
    assert answered["answer"].shape == (2,)
    docs = [json.loads(item) for item in answered["answer"]]
    assert docs == [json.loads(json.dumps(answer_json(a))) for a in routed.answers]
    assert docs[0]["detections"][0]["label"] == "FACE_FEMALE"
    assert both["output0"].shape == (2, 22, 2100)
    assert [json.loads(item) for item in both["answer"]] == docs
