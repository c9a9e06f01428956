"""Session fixtures: the real default model, photos, and real servers on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tensorgate.config import default_repository
from tensorgate.server.process import ServerProcess, spawn_server
from tests.helpers import build_test_repository, jpeg_bytes, png_bytes
from tests.seaweed import S3Server, seaweed_s3

#: ImageNet indices of domestic cats (tabby, tiger cat, Persian, Siamese, Egyptian cat).
CAT_CLASSES = range(281, 286)
ESPRESSO = 967


@pytest.fixture(scope="session")
def zoo_repository() -> Path:
    """The default repository with efficientnet-lite0 exported (cached across runs)."""
    from tensorgate.zoo import pull

    repository = default_repository()
    pull("efficientnet-lite0", repository)
    return repository


@pytest.fixture(scope="session")
def lite0_dir(zoo_repository: Path) -> Path:
    return zoo_repository / "efficientnet-lite0"


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    from skimage import data

    return np.asarray(data.chelsea())


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    from skimage import data

    return np.asarray(data.coffee())


@pytest.fixture(scope="session")
def cat_jpeg(chelsea: np.ndarray) -> bytes:
    return jpeg_bytes(chelsea)


@pytest.fixture(scope="session")
def coffee_png(coffee: np.ndarray) -> bytes:
    return png_bytes(coffee)


@pytest.fixture(scope="session")
def test_repository(tmp_path_factory: pytest.TempPathFactory, lite0_dir: Path) -> Path:
    return build_test_repository(tmp_path_factory.mktemp("repository"), lite0_dir)


@pytest.fixture(scope="session")
def s3(
    tmp_path_factory: pytest.TempPathFactory, cat_jpeg: bytes, coffee_png: bytes
) -> Iterator[S3Server]:
    """A real SeaweedFS S3 server with bucket ``photos``: cat.jpg, coffee.png, broken.jpg,
    and bucket ``private`` (which servers are not allowed to read)."""
    with seaweed_s3(tmp_path_factory.mktemp("seaweed")) as server:
        client = server.client()
        for bucket in ("photos", "private"):
            client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        for key, body in (
            ("cats/cat.jpg", cat_jpeg),
            ("coffee.png", coffee_png),
            ("broken.jpg", cat_jpeg[:300]),
        ):
            client.put_object(Bucket="photos", Key=key, Body=body)  # type: ignore[attr-defined]
        client.put_object(Bucket="private", Key="secret.jpg", Body=cat_jpeg)  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """Credentials of the test S3 server in the environment, as boto3 reads them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3


@pytest.fixture(scope="session")
def server(test_repository: Path) -> Iterator[ServerProcess]:
    """One real server over loopback for the protocol and image tests."""
    with spawn_server(test_repository, "--instances", "2") as process:
        yield process


PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket")

REFERENCE = """
import json, sys
import numpy as np
import nudenet.nudenet as nn
folder = sys.argv[1]
out = {}
for name in sys.argv[2:]:
    path = f"{folder}/{name}.jpg"
    blob, x_ratio, y_ratio, x_pad, y_pad, width, height = nn._read_image(path, 320)
    np.save(f"{folder}/{name}.npy", blob)
    out[name] = {"detections": nn.NudeDetector().detect(path), "pad": [x_pad, y_pad],
                 "size": [width, height]}
out["labels"] = list(getattr(nn, "__labels"))
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def nudenet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(a folder with photos, nudenet's input tensors and a repository holding its
    detector as a tensorgate model plus efficientnet-lite0-embed; nudenet's own answers).

    The detector is the one inside the ``nudenet`` wheel (AGPL-3.0): installed at test
    time by ``scripts/fixture.sh nudenet`` into a cache folder and copied into this
    temporary repository only, never into the zoo, the repository or an image."""
    from bench.fixtures import nudenet_detector, nudenet_folder

    target = str(nudenet_folder())
    work = tmp_path_factory.mktemp("nudenet")
    from skimage import data

    for name in PHOTOS:
        pixels = getattr(data, name)()
        if pixels.ndim == 2:
            pixels = np.stack([pixels] * 3, axis=-1)
        Image.fromarray(pixels).save(work / f"{name}.jpg", quality=92)
    done = subprocess.run(
        [sys.executable, "-c", REFERENCE, str(work), *PHOTOS],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": target, "PATH": "/usr/bin:/bin"},
    )
    reference = json.loads(done.stdout)
    nudenet_detector(work / "repository")
    from tensorgate.zoo import pull

    embed = pull("efficientnet-lite0-embed", default_repository()).directory
    shutil.copytree(embed, work / "repository" / embed.name)
    return work, reference


#: Installs the packages tests compare against (scripts/fixture.sh).
FIXTURE_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fixture.sh"

OCR_REFERENCE = """
import json, sys
import cv2
import numpy as np
from rapidocr import RapidOCR
from rapidocr.utils.process_img import get_rotate_crop_image

engine = RapidOCR(params={"Global.use_cls": False, "Global.log_level": "error"})
# Separate engines for whole runs: a call's use_det / use_rec stay set on its engine.
plain = RapidOCR(params={"Global.use_cls": False, "Global.log_level": "error"})
turning = RapidOCR(params={"Global.use_cls": True, "Global.log_level": "error"})
folder, out = sys.argv[1], {}
for name in sys.argv[2:]:
    path = f"{folder}/{name}.png"
    found = engine(path, use_det=True, use_cls=False, use_rec=False)
    boxes = [] if found.boxes is None else found.boxes.tolist()
    image = cv2.imread(path)
    crops, texts = [], []
    for i, box in enumerate(boxes):
        crop = f"{folder}/{name}-line{i}.png"
        cv2.imwrite(crop, get_rotate_crop_image(image, np.array(box, np.float32)))
        crops.append(crop)
        texts.append(engine(crop, use_det=False, use_cls=False, use_rec=True).txts[0])
    out[name] = {"boxes": boxes, "crops": crops, "texts": texts}
    for key, ocr in (("full", plain), ("full_cls", turning)):
        done = ocr(path)  # no text found: an answer without boxes
        found_boxes = getattr(done, "boxes", None)
        out[name][key] = {
            "boxes": [] if found_boxes is None else found_boxes.tolist(),
            "texts": list(getattr(done, "txts", None) or ()),
        }
print(json.dumps(out))
"""

#: The OCR test images: rendered lines, a rendered page turned by 3°, scikit-image's
#: scanned page, its photo of a handwritten board (no reader finds text there) and a
#: real photo with a printed sign placed on it in perspective.
OCR_IMAGES = ("lines", "page", "scan", "photo", "sign")


#: The text drawn on the rendered OCR images, line by line (the ground truth).
OCR_TRUTH = {
    "lines": ("Serving vision models", "tensorgate 2026 OCR test", "Price: 12.50 EUR"),
    "page": (
        "Invoice 4471 - Northwind Traders",
        "Shipped to: 12 Harbour Road, Leith",
        "Item        Qty     Price",
        "Espresso cups   6    18.00",
        "Coffee beans    2    24.50",
        "Total due within 30 days",
    ),
    "sign": ("FRESH COFFEE", "Open daily 7:30 - 18:00"),
}


def _ocr_images(folder: Path) -> None:
    from PIL import ImageDraw, ImageFont
    from skimage import data

    lines = Image.new("RGB", (900, 300), "white")
    draw = ImageDraw.Draw(lines)
    first, second, third = OCR_TRUTH["lines"]
    draw.text((30, 40), first, fill="black", font=ImageFont.load_default(42))
    draw.text((30, 130), second, fill=(20, 20, 120), font=ImageFont.load_default(42))
    draw.text((30, 215), third, fill="black", font=ImageFont.load_default(36))
    lines.save(folder / "lines.png")
    page = Image.new("RGB", (1000, 700), (236, 232, 222))
    draw = ImageDraw.Draw(page)
    for row, line in enumerate(OCR_TRUTH["page"]):
        draw.text((60, 60 + row * 95), line, fill=(30, 30, 30), font=ImageFont.load_default(40))
    page.rotate(3, expand=True, fillcolor=(236, 232, 222)).save(folder / "page.png")
    Image.fromarray(data.page()).convert("RGB").save(folder / "scan.png")
    Image.fromarray(data.text()).convert("RGB").save(folder / "photo.png")
    _sign(data.coffee()).save(folder / "sign.png")


def _sign(photo: Any) -> Image.Image:
    """A real photo (scikit-image's coffee) with a printed sign on it, seen at an angle:
    the sign warped in perspective, blurred a little and JPEG-compressed with the photo
    (no bundled photo here shows printed text, so the text is placed on one)."""
    import io

    from PIL import ImageDraw, ImageFilter, ImageFont

    panel = Image.new("RGB", (520, 170), (245, 240, 225))
    draw = ImageDraw.Draw(panel)
    first, second = OCR_TRUTH["sign"]
    draw.text((24, 22), first, fill=(150, 20, 20), font=ImageFont.load_default(52))
    draw.text((24, 100), second, fill=(30, 30, 30), font=ImageFont.load_default(40))
    background = Image.fromarray(photo).convert("RGB")
    # Where the panel's corners land on the photo (clockwise from the top-left); the
    # coefficients map each photo pixel back to the panel (PIL's PERSPECTIVE).
    corners = [(60, 40), (520, 70), (505, 215), (70, 195)]
    source = [(0, 0), (520, 0), (520, 170), (0, 170)]
    rows = []
    for (x, y), (u, v) in zip(corners, source, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    targets = [c for point in source for c in point]
    coefficients = np.linalg.solve(np.array(rows, float), np.array(targets, float))
    size = background.size
    warped = panel.transform(size, Image.Transform.PERSPECTIVE, tuple(coefficients))
    mask = Image.new("L", panel.size, 255).transform(
        size, Image.Transform.PERSPECTIVE, tuple(coefficients)
    )
    background.paste(warped.filter(ImageFilter.GaussianBlur(0.8)), (0, 0), mask)
    buffer = io.BytesIO()
    background.save(buffer, "JPEG", quality=75)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


@pytest.fixture(scope="session")
def ocr(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(a folder of OCR images with a repository holding the zoo's PP-OCRv6 models and
    its ``pp-ocrv6`` pipeline, rapidocr's own answers: det boxes, its line crops, the
    text it reads in each, and its whole pipeline's lines without and with its
    text-angle classifier: ``full`` / ``full_cls``)."""
    from tensorgate.zoo import pull

    folder = tmp_path_factory.mktemp("ocr")
    _ocr_images(folder)
    target = subprocess.run(
        ["bash", str(FIXTURE_SCRIPT), "rapidocr"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    done = subprocess.run(
        [sys.executable, "-c", OCR_REFERENCE, str(folder), *OCR_IMAGES],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": target, "PATH": "/usr/bin:/bin"},
    )
    pull("pp-ocrv6", default_repository())
    for name in ("pp-ocrv6-det", "pp-ocrv6-rec", "pp-ocrv6"):
        shutil.copytree(default_repository() / name, folder / "repository" / name)
    return folder, json.loads(done.stdout.strip().splitlines()[-1])
