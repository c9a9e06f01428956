"""The detect and embed routes over a real loopback server, the clients and the CLI:
every door gives the same answer; a model of another task is refused with its route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tensorgate.cli import app
from tensorgate.client import AsyncClient, Client, Predictor
from tensorgate.config import EngineSettings
from tensorgate.errors import InvalidInputError
from tensorgate.server.process import ServerProcess, spawn_server
from tensorgate.tasks.results import Detections

DETECT = "/v2/models/nudenet-yolov8/detect"
EMBED = "/v2/models/efficientnet-lite0-embed/embed"


@pytest.fixture(scope="module")
def task_server(nudenet: tuple[Path, dict[str, Any]]) -> Iterator[ServerProcess]:
    with spawn_server(nudenet[0] / "repository", "--instances", "1") as server:
        yield server


def photo(nudenet: tuple[Path, dict[str, Any]], name: str) -> Path:
    return nudenet[0] / f"{name}.jpg"


def test_detect_answers_boxes_in_original_pixels(
    task_server: ServerProcess, nudenet: tuple[Path, dict[str, Any]]
) -> None:
    data = photo(nudenet, "astronaut").read_bytes()
    response = httpx.post(task_server.url + DETECT, content=data, timeout=60)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert (doc["model_name"], doc["model_version"], doc["task"]) == (
        "nudenet-yolov8",
        "1",
        "detect",
    )
    (result,) = doc["results"]
    assert (result["width"], result["height"], result["box_format"]) == (512, 512, "xyxy")
    (face,) = result["detections"]
    assert face["label"] == "FACE_FEMALE"
    left, top, right, bottom = face["box"]
    assert left < right
    assert top < bottom


def test_nothing_found_is_an_empty_list_and_forms_carry_several_images(
    task_server: ServerProcess, nudenet: tuple[Path, dict[str, Any]]
) -> None:
    files = [
        ("image", ("cat.jpg", photo(nudenet, "chelsea").read_bytes(), "image/jpeg")),
        ("image", ("man.jpg", photo(nudenet, "camera").read_bytes(), "image/jpeg")),
    ]
    response = httpx.post(task_server.url + DETECT, files=files, timeout=60)
    assert response.status_code == 200, response.text
    cat, man = response.json()["results"]
    assert (cat["filename"], cat["detections"]) == ("cat.jpg", [])
    assert [d["label"] for d in man["detections"]] == ["FACE_MALE"]


def test_embed_answers_a_unit_vector(
    task_server: ServerProcess, nudenet: tuple[Path, dict[str, Any]]
) -> None:
    data = photo(nudenet, "chelsea").read_bytes()
    response = httpx.post(task_server.url + EMBED, content=data, timeout=60)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["dimension"] == 1280
    assert abs(float(np.linalg.norm(result["embedding"])) - 1.0) < 1e-5


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "/v2/models/nudenet-yolov8/classify",
            "model 'nudenet-yolov8' is a detect model, not classify; send its images to "
            "/v2/models/nudenet-yolov8/detect",
        ),
        (
            "/v2/models/efficientnet-lite0-embed/detect",
            "model 'efficientnet-lite0-embed' is a embed model, not detect; send its images "
            "to /v2/models/efficientnet-lite0-embed/embed",
        ),
    ],
)
def test_a_model_of_another_task_is_refused_with_its_route(
    task_server: ServerProcess, nudenet: tuple[Path, dict[str, Any]], path: str, message: str
) -> None:
    data = photo(nudenet, "chelsea").read_bytes()
    response = httpx.post(task_server.url + path, content=data, timeout=60)
    assert response.status_code == 400
    assert response.json()["error"] == message


def test_a_bad_image_is_400_and_the_server_keeps_serving(
    task_server: ServerProcess, nudenet: tuple[Path, dict[str, Any]]
) -> None:
    response = httpx.post(task_server.url + DETECT, content=b"\xff\xd8\xff\xe0 broken", timeout=60)
    assert response.status_code == 400
    assert "JPEG image header is corrupt" in response.json()["error"]
    good = httpx.post(
        task_server.url + DETECT, content=photo(nudenet, "camera").read_bytes(), timeout=60
    )
    assert good.status_code == 200


async def test_every_client_gives_the_servers_answer(
    task_server: ServerProcess, nudenet: tuple[Path, dict[str, Any]]
) -> None:
    paths = [photo(nudenet, n) for n in ("astronaut", "chelsea")]
    with Client(task_server.url, "nudenet-yolov8") as client:
        remote = client.detect(paths).result(timeout=60)
        embedded = client.embed(paths[:1], model="efficientnet-lite0-embed").result(timeout=60)
        with pytest.raises(InvalidInputError, match="HTTP 400: JPEG image header is corrupt"):
            client.detect([b"\xff\xd8\xff\xe0 broken"]).result(timeout=60)
    async with AsyncClient(task_server.url, "nudenet-yolov8") as aio:
        assert await aio.detect(paths) == remote
        with pytest.raises(InvalidInputError, match="is a detect model, not embed"):
            await aio.embed(paths)
    settings = EngineSettings(repository=nudenet[0] / "repository", instances=1)
    with Predictor(settings, "nudenet-yolov8") as predictor:
        local = predictor.detect(paths).result(timeout=60)
        (vector,) = predictor.embed(paths[:1], model="efficientnet-lite0-embed").result(60)
    assert all(isinstance(a, Detections) for a in remote)
    assert [[d.label for d in a.items] for a in local] == [["FACE_FEMALE"], []]
    for mine, theirs in zip(local, remote, strict=True):
        for a, b in zip(mine.items, theirs.items, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=0.01)  # the JSON rounds to 2 places
    np.testing.assert_allclose(vector.vector, embedded[0].vector, atol=1e-6)


def test_cli_detect_draws_and_embed_prints_vectors(
    task_server: ServerProcess, nudenet: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    runner = CliRunner()
    astronaut = str(photo(nudenet, "astronaut"))
    drawn = tmp_path / "out.jpg"
    result = runner.invoke(
        app,
        [
            "detect",
            astronaut,
            "-m",
            "nudenet-yolov8",
            "--url",
            task_server.url,
            "--draw",
            str(drawn),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "FACE_FEMALE" in result.output
    with Image.open(drawn) as image:
        assert image.size == (512, 512)
    local = runner.invoke(
        app,
        [
            "detect",
            astronaut,
            "-m",
            "nudenet-yolov8",
            "-r",
            str(nudenet[0] / "repository"),
            "--json",
        ],
    )
    assert local.exit_code == 0, local.output
    (answer,) = json.loads(local.output)
    assert [d["label"] for d in answer["detections"]] == ["FACE_FEMALE"]
    embedded = runner.invoke(app, ["embed", astronaut, "--url", task_server.url])
    assert embedded.exit_code == 0, embedded.output
    assert json.loads(embedded.output)["dimension"] == 1280
    missing = runner.invoke(app, ["detect", "nope.jpg", "-m", "nudenet-yolov8"])
    assert missing.exit_code == 1
    assert "error: 'nope.jpg' is not a file; give image files" in missing.output


def test_text_routes_and_clients(ocr: tuple[Path, dict[str, Any]]) -> None:
    folder, reference = ocr
    with spawn_server(folder / "repository", "--instances", "1") as server:
        page = (folder / "lines.png").read_bytes()
        response = httpx.post(
            server.url + "/v2/models/pp-ocrv6-det/text-detect", content=page, timeout=60
        )
        assert response.status_code == 200, response.text
        (result,) = response.json()["results"]
        assert (result["width"], result["height"]) == (900, 300)
        assert len(result["regions"]) == 3
        assert len(result["regions"][0]["polygon"]) == 4
        crops = [Path(c) for c in reference["lines"]["crops"]]
        with Client(server.url, "pp-ocrv6-rec") as client:
            lines = client.read_text(crops).result(timeout=60)
            (regions,) = client.detect_text([page], model="pp-ocrv6-det").result(timeout=60)
        assert [line.text for line in lines] == reference["lines"]["texts"]
        assert len(regions.items) == 3
        wrong = httpx.post(server.url + "/v2/models/pp-ocrv6-rec/text-detect", content=page)
        assert wrong.status_code == 400
        assert "send its images to /v2/models/pp-ocrv6-rec/text-recognize" in wrong.json()["error"]


def test_cli_finds_and_draws_text_regions(ocr: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    folder, _ = ocr
    drawn = tmp_path / "regions.png"
    result = CliRunner().invoke(
        app,
        [
            "detect", str(folder / "lines.png"), "--text", "-m", "pp-ocrv6-det",
            "-r", str(folder / "repository"), "--draw", str(drawn),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("  text  ") == 3
    assert "POLYGON" in result.output
    with Image.open(drawn) as image:
        assert image.size == (900, 300)
