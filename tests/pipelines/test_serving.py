"""The zoo's OCR pipeline served by a real server over loopback: on its task's image
route, in the repository index with its steps' states, with metadata, readiness and
per-step statistics; from the Python client and the CLI; unloading a model it runs turns
it UNAVAILABLE, loading it brings the model back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from tensorgate.cli import app
from tensorgate.client import Client
from tensorgate.errors import InvalidInputError
from tensorgate.server.process import ServerProcess, spawn_server
from tensorgate.tasks.results import TextLine

TOKEN = "pipeline-control-token"


@pytest.fixture(scope="module")
def ocr_server(ocr: tuple[Path, dict[str, Any]]) -> Iterator[ServerProcess]:
    folder, _ = ocr
    with spawn_server(
        folder / "repository", "--model-control", "--control-token", TOKEN, "--instances", "1"
    ) as running:
        yield running


def test_the_pipeline_answers_on_its_route_with_each_lines_text(
    ocr_server: ServerProcess, ocr: tuple[Path, dict[str, Any]]
) -> None:
    folder, _ = ocr
    image = (folder / "sign.png").read_bytes()
    answer = httpx.post(f"{ocr_server.url}/v2/models/pp-ocrv6/text-detect", content=image)
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["model_name"] == "pp-ocrv6"
    assert doc["task"] == "text-detect"
    (result,) = doc["results"]
    texts = [r["text"]["text"] for r in result["regions"]]
    assert texts == ["FRESH COFFEE", "Open daily 7:30 - 18:00"]
    assert all(len(r["polygon"]) == 4 and 0 < r["text"]["score"] <= 1 for r in result["regions"])
    wrong = httpx.post(f"{ocr_server.url}/v2/models/pp-ocrv6/classify", content=image)
    assert wrong.status_code == 400
    assert "/v2/models/pp-ocrv6/text-detect" in wrong.json()["error"]
    tensors = httpx.post(
        f"{ocr_server.url}/v2/models/pp-ocrv6/infer",
        json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [0]}]},
    )
    assert tensors.status_code == 400
    assert "is a pipeline" in tensors.json()["error"]


def test_index_metadata_readiness_and_statistics(ocr_server: ServerProcess) -> None:
    url = ocr_server.url
    index = httpx.post(f"{url}/v2/repository/index", json={}).json()
    (entry,) = [e for e in index if e["name"] == "pp-ocrv6"]
    assert entry["state"] == "READY"
    assert [(s["name"], s["kind"], s["model"], s["state"]) for s in entry["steps"]] == [
        ("regions", "model", "pp-ocrv6-det", "READY"),
        ("lines", "crop", "", "READY"),
        ("text", "model", "pp-ocrv6-rec", "READY"),
    ]
    metadata = httpx.get(f"{url}/v2/models/pp-ocrv6").json()
    assert metadata["platform"] == "pipeline"
    assert metadata["inputs"] == [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert metadata["route"] == "/v2/models/pp-ocrv6/text-detect"
    assert httpx.get(f"{url}/v2/models/pp-ocrv6/ready").status_code == 200
    stats = httpx.get(f"{url}/v2/models/pp-ocrv6/stats").json()["model_stats"]
    assert [s["name"] for s in stats] == ["pp-ocrv6-det", "pp-ocrv6-rec"]


def test_the_client_and_the_cli_read_lines(
    ocr_server: ServerProcess, ocr: tuple[Path, dict[str, Any]]
) -> None:
    folder, _ = ocr
    with Client(ocr_server.url) as client:
        (regions,) = client.detect_text([folder / "lines.png"], model="pp-ocrv6").result()
        entries = client.repository_index().result()
    lines = [r.parts["text"] for r in regions.items]
    assert all(isinstance(line, TextLine) for line in lines)
    assert [line.text for line in lines if isinstance(line, TextLine)] == [
        "Serving vision models",
        "tensorgate 2026 OCR test",
        "Price: 12.50 EUR",
    ]
    (entry,) = [e for e in entries if e.name == "pp-ocrv6"]
    assert entry.steps[2] == ("text", "pp-ocrv6-rec", "READY")
    command = ["detect", "--text", "-m", "pp-ocrv6", "--url", ocr_server.url]
    table = CliRunner().invoke(app, [*command, str(folder / "sign.png")])
    assert table.exit_code == 0, table.output
    assert "FRESH COFFEE" in table.output
    printed = CliRunner().invoke(app, [*command, "--json", str(folder / "sign.png")])
    (doc,) = json.loads(printed.output)
    assert doc["regions"][1]["text"]["text"] == "Open daily 7:30 - 18:00"
    here = ["detect", "--text", "-m", "pp-ocrv6", "--repository", str(folder / "repository")]
    local = CliRunner().invoke(app, [*here, str(folder / "lines.png")])  # in this process
    assert local.exit_code == 0, local.output
    assert "'Price: 12.50 EUR'" in local.output


def test_unloading_a_model_it_runs_makes_it_unavailable_until_loaded(
    ocr_server: ServerProcess, ocr: tuple[Path, dict[str, Any]]
) -> None:
    folder, _ = ocr
    url = ocr_server.url
    with Client(url, control_token=TOKEN) as client:
        client.unload_model("pp-ocrv6-rec").result()
        try:
            assert httpx.get(f"{url}/v2/models/pp-ocrv6/ready").status_code == 503
            refused = httpx.post(
                f"{url}/v2/models/pp-ocrv6/text-detect", content=(folder / "sign.png").read_bytes()
            )
            assert refused.status_code == 400
            assert "pipeline 'pp-ocrv6' step 'text'" in refused.json()["error"]
            with pytest.raises(InvalidInputError, match=r"step 'text'"):
                client.detect_text([folder / "sign.png"], model="pp-ocrv6").result()
        finally:
            client.load_model("pp-ocrv6").result()  # loads the models its steps run
    assert httpx.get(f"{url}/v2/models/pp-ocrv6/ready").status_code == 200
    assert httpx.get(f"{url}/v2/models/pp-ocrv6-rec/ready").status_code == 200


def test_an_unchanged_server_keeps_serving_after_bad_images(ocr_server: ServerProcess) -> None:
    url = f"{ocr_server.url}/v2/models/pp-ocrv6/text-detect"
    bad = httpx.post(url, content=b"\xff\xd8\xff not a jpeg")
    assert bad.status_code == 400
    assert "JPEG" in bad.json()["error"]
    blank = np.full((64, 64, 3), 255, np.uint8)
    from tests.helpers import png_bytes

    empty = httpx.post(url, content=png_bytes(blank))
    assert empty.status_code == 200
    assert empty.json()["results"][0]["regions"] == []
