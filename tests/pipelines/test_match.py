"""Visual search in pipelines, with the zoo's real embedder and faiss: a catalogue index
built by ``tensorgate index build``, a "tag products" pipeline (detect → crop → embed →
match) answering each detection's catalogue items, whole-image matching, a rebuilt
index swapping in without a failed request, and indexes that do not fit refused."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from tensorgate.cli import app
from tensorgate.config import EngineSettings, default_repository
from tensorgate.engine import Engine
from tensorgate.runtimes.backends import BACKENDS
from tensorgate.runtimes.base import RuntimeOptions
from tensorgate.runtimes.fake import FakeRuntime
from tensorgate.search.index import build_index
from tensorgate.tasks.results import Detections, Embedding, Matches
from tensorgate.types import Tensors
from tensorgate.views import ModelState
from tests.helpers import write_model

pytest.importorskip("faiss")

EMBED = "efficientnet-lite0-embed"
#: The catalogue: scikit-image photos, each an item.
ITEMS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry")
#: The query mosaic's quadrants (left to right, top to bottom).
MOSAIC = ("astronaut", "chelsea", "coffee", "rocket")


def quadrants(inputs: Tensors) -> Tensors:
    """A fake detector that finds the four quadrants of its 64 × 64 input."""
    rows = next(iter(inputs.values())).shape[0]
    out = np.zeros((rows, 5, 8), dtype=np.float32)
    for j, (x, y) in enumerate(((16, 16), (48, 16), (16, 48), (48, 48))):
        out[:, :4, j] = [x, y, 30, 30]
        out[:, 4, j] = 0.9 - 0.1 * j
    return {"output0": out}


def factories() -> dict[str, Any]:
    def fake(path: Path, options: RuntimeOptions) -> FakeRuntime:
        return FakeRuntime(options.inputs, options.outputs, quadrants)

    return {**{n: b.load for n, b in BACKENDS.items()}, "fake": fake}


def photo(name: str, size: int = 256, quality: int = 90) -> bytes:
    from skimage import data

    pixels = getattr(data, name)()
    image = Image.fromarray(pixels).convert("RGB").resize((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def mosaic() -> bytes:
    canvas = Image.new("RGB", (512, 512))
    for k, name in enumerate(MOSAIC):
        canvas.paste(Image.open(io.BytesIO(photo(name))), ((k % 2) * 256, (k // 2) * 256))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def pipeline(repo: Path, name: str, steps: list[dict[str, Any]]) -> Path:
    (repo / name).mkdir(parents=True, exist_ok=True)
    (repo / name / "config.yaml").write_text(yaml.safe_dump({"name": name, "pipeline": steps}))
    return repo / name


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository: the embedder, a fake quadrant detector, the 'tag' and 'similar'
    pipelines, and their catalogue index built with the CLI."""
    from tensorgate.zoo import pull

    root = tmp_path_factory.mktemp("shop")
    repo = root / "repository"
    shutil.copytree(pull(EMBED, default_repository()).directory, repo / EMBED)
    write_model(
        repo,
        "quadrants",
        None,
        {
            "backend": "fake",
            "task": "detect",
            "max_batch_size": 4,
            "instance_group": {"count": 1},
            "inputs": [{"name": "images", "datatype": "FP32", "dims": [3, 64, 64]}],
            "outputs": [{"name": "output0", "datatype": "FP32", "dims": [5, 8]}],
            "preprocess": {"mode": "letterbox", "resize": [64, 64], "crop": None},
            "postprocess": {"decoder": "yolov8", "class_agnostic": True},
        },
    )
    pipeline(
        repo,
        "tag",
        [
            {"name": "found", "model": "quadrants"},
            {"name": "items", "crop": {"max_crops": 8}},
            {"name": "vector", "model": EMBED, "answer": False},
            {"name": "products", "match": {"index": "catalogue.index", "top_k": 3}},
        ],
    )
    pipeline(
        repo,
        "similar",
        [
            {"name": "vector", "model": EMBED},
            {"name": "products", "match": {"index": "catalogue.index", "top_k": 2}},
        ],
    )
    catalogue = root / "catalogue"
    (catalogue / "photos").mkdir(parents=True)
    for name in ITEMS:
        (catalogue / "photos" / f"{name}.jpg").write_bytes(photo(name, 320))
    built = CliRunner().invoke(
        app,
        [
            "index", "build", "-m", EMBED, "-i", str(catalogue), "-o",
            str(repo / "tag" / "catalogue.index"), "--repository", str(repo), "--quiet",
        ],
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    assert f"indexed {len(ITEMS)} items (1280 floats, exact)" in built.output
    shutil.copytree(repo / "tag" / "catalogue.index", repo / "similar" / "catalogue.index")
    return repo


def engine(repo: Path) -> Engine:
    return Engine(EngineSettings(repository=repo, instances=1), factories=factories())


async def test_each_detection_answers_its_catalogue_items(shop: Path) -> None:
    async with engine(shop) as running:
        assert running.ready
        result = await running.run_images("tag", [mosaic()], task="detect")
    (found,) = result.answers
    assert isinstance(found, Detections)
    assert len(found.items) == 4
    for detection in sorted(found.items, key=lambda d: (d.box[1], d.box[0])):
        assert set(detection.parts) == {"products"}  # the vectors are left out
    best = []
    for detection in sorted(found.items, key=lambda d: (d.box[1], d.box[0])):
        matches = detection.parts["products"]
        assert isinstance(matches, Matches)
        assert len(matches.items) == 3
        best.append(matches.items[0].id)
    assert best == [f"photos/{name}" for name in MOSAIC]


async def test_a_whole_image_matches_its_own_item_after_jpeg_and_resizing(shop: Path) -> None:
    async with engine(shop) as running:
        result = await running.run_images("similar", [photo("chelsea", 200, quality=40)])
    (answer,) = result.answers
    assert isinstance(answer, Embedding)
    assert answer.dimension == 1280
    matches = answer.parts["products"]
    assert isinstance(matches, Matches)
    assert matches.items[0].id == "photos/chelsea"
    assert matches.items[0].score > 0.8
    assert matches.items[0].score > matches.items[1].score


async def test_a_rebuilt_index_swaps_in_without_a_failed_request(
    shop: Path, tmp_path: Path
) -> None:
    own = tmp_path / "repository"  # the rebuild must not change the other tests' index
    shutil.copytree(shop, own)
    folder = own / "similar" / "catalogue.index"
    rows = pq.read_table(folder / "embeddings.parquet").to_pylist()
    vectors = np.asarray([r["embedding"] for r in rows], np.float32)
    query = photo("coffee", 200)
    async with engine(own) as running:
        stop = asyncio.Event()
        answers: list[str] = []
        wanted = [8]  # answers to wait for
        enough = asyncio.Event()

        async def caller() -> None:
            while not stop.is_set():
                result = await running.run_images("similar", [query])
                found = result.answers[0]
                assert isinstance(found, Embedding)
                matches = found.parts["products"]
                assert isinstance(matches, Matches)
                answers.append(matches.items[0].id)
                if len(answers) >= wanted[0]:
                    enough.set()

        callers = [asyncio.create_task(caller()) for _ in range(4)]
        await enough.wait()
        ids = [f"v2/{Path(r['input']).stem}" for r in rows]
        await asyncio.to_thread(build_index, vectors, ids, folder, model=EMBED)
        await running.poll_repository()
        wanted[0] = len(answers) + 8
        enough.clear()
        await enough.wait()
        stop.set()
        await asyncio.gather(*callers)  # any failed request would raise here
    assert answers[0] == "photos/coffee"
    assert answers[-1] == "v2/coffee"


async def test_an_index_that_does_not_fit_is_refused_at_load(shop: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repository"
    shutil.copytree(shop, repo)
    build_index(
        np.eye(4, 16, dtype=np.float32),
        list("abcd"),
        repo / "similar" / "catalogue.index",
        model=EMBED,
    )
    shutil.rmtree(repo / "tag" / "catalogue.index")
    async with engine(repo) as running:
        states = {s.name: s for s in running.statuses()}
    assert states["similar"].state is ModelState.UNAVAILABLE
    assert (
        "holds 16-float vectors but 'efficientnet-lite0-embed' answers 1280"
        in states["similar"].reason
    )
    assert "holds no catalogue index; build it with 'tensorgate index build" in states["tag"].reason


def test_a_batch_job_of_a_match_pipeline_writes_each_images_matches(
    shop: Path, tmp_path: Path
) -> None:
    import json

    from tensorgate.jobs import run

    folder = tmp_path / "queries"
    folder.mkdir()
    for name in ("rocket", "camera"):
        (folder / f"{name}.jpg").write_bytes(photo(name, 180, quality=50))
    out = tmp_path / "matched.parquet"
    settings = EngineSettings(repository=shop, instances=1)
    summary = run("similar", str(folder), out, settings=settings, progress=None)
    assert summary.failed == 0
    rows = {Path(r["input"]).stem: r for r in pq.read_table(out).to_pylist()}
    for name in ("rocket", "camera"):
        matches = json.loads(rows[name]["parts"])["products"]["matches"]
        assert matches[0]["id"].endswith(name)
        assert len(rows[name]["embedding"]) == 1280


async def test_tag_products_with_a_real_detector(
    nudenet: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """nudenet's YOLOv8n (a test fixture) → crop → embed → match: each face in a new
    picture is matched to the catalogue item cut from its own photo."""
    from bench.fixtures import NUDENET

    from tensorgate.pipelines.crops import cut
    from tensorgate.repository.pipelines import CropStep
    from tensorgate.search.build import build_catalogue

    folder, _ = nudenet
    repo = tmp_path / "repository"
    shutil.copytree(folder / "repository", repo)
    crop = {"padding": 0.1, "score_threshold": 0.2}
    pipeline(
        repo,
        "tag-products",
        [
            {"name": "found", "model": NUDENET},
            {"name": "items", "crop": crop},
            {"name": "vector", "model": EMBED, "answer": False},
            {"name": "products", "match": {"index": "catalogue.index", "top_k": 2}},
        ],
    )
    people = {n: Image.open(folder / f"{n}.jpg").convert("RGB") for n in ("astronaut", "camera")}
    catalogue = tmp_path / "catalogue"
    catalogue.mkdir()
    settings = EngineSettings(repository=repo, instances=1, models=(NUDENET,))
    async with Engine(settings) as running:
        for name, image in people.items():
            (found,) = (
                await running.run_images(NUDENET, [(folder / f"{name}.jpg").read_bytes()])
            ).answers
            assert isinstance(found, Detections)
            face = max(
                (d for d in found.items if d.label.startswith("FACE")), key=lambda d: d.score
            )
            piece = cut(image, face, CropStep("c", "f", padding=0.1))
            assert piece is not None
            piece.save(catalogue / f"{name}-face.jpg", quality=90)
    for name in ("chelsea", "coffee", "rocket"):
        shutil.copy(folder / f"{name}.jpg", catalogue / f"{name}.jpg")
    await asyncio.to_thread(
        build_catalogue,
        EMBED,
        str(catalogue),
        repo / "tag-products" / "catalogue.index",
        settings=EngineSettings(repository=repo, instances=1),
        progress=None,
    )
    picture = Image.new("RGB", (1100, 560), "white")
    picture.paste(people["astronaut"].resize((420, 420)), (20, 70))
    picture.paste(people["camera"], (560, 24))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    async with engine(repo) as running:
        (tagged,) = (await running.run_images("tag-products", [buffer.getvalue()])).answers
    assert isinstance(tagged, Detections)
    faces = [d for d in tagged.items if d.label.startswith("FACE") and d.parts]
    assert len(faces) == 2, tagged.items
    for face in faces:
        expected = "astronaut-face" if face.box[0] < 550 else "camera-face"
        matches = face.parts["products"]
        assert isinstance(matches, Matches)
        assert matches.items[0].id == expected, (face.box, matches)
