"""The console in a real headless Chromium (slow suite): Debian's chromium driven by
playwright through its executable_path (scripts/browser.sh installs both).

Set TENSORGATE_SCREENSHOTS=docs/img to refresh the screenshots in the docs."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tensorgate.server.process import ServerProcess, spawn_server
from tests.helpers import build_test_repository

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-secret"
HOSTILE = "<script>window.__owned = 1</script>"
HOSTILE_FILE = '<img src=x onerror="window.__owned=2">.jpg'


def chromium() -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "browser.sh")], capture_output=True, text=True
    )
    if done.returncode != 0 or not done.stdout.strip():
        pytest.fail(f"scripts/browser.sh failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def hostile_classifier(repository: Path) -> None:
    """A fake image classifier whose labels hold markup."""
    directory = repository / "labels_test"
    (directory / "1").mkdir(parents=True)
    (directory / "1" / "model.fake").write_text("{}\n")
    (directory / "labels.txt").write_text(f"{HOSTILE}\nsecond\nthird\n")
    config = {
        "name": "labels_test",
        "backend": "fake",
        "max_batch_size": 2,
        "inputs": [{"name": "x", "datatype": "FP32", "dims": [3, 16, 16]}],
        "outputs": [{"name": "y", "datatype": "FP32", "dims": [3]}],
        "preprocess": {"resize": 16, "crop": 16},
        "postprocess": {"softmax": True, "top_k": 3, "labels": "labels.txt"},
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lite0_dir: Path) -> Iterator[ServerProcess]:
    repository = build_test_repository(tmp_path_factory.mktemp("repository"), lite0_dir)
    hostile_classifier(repository)
    with spawn_server(
        repository,
        "--auth-token", TOKEN,
        "--model-control", "--control-token", TOKEN,
        "--instances", "1",
    ) as running:  # fmt: skip
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium()  # installs playwright too: before the import, on a fresh machine
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(server: ServerProcess, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on(
        "console",
        lambda m: m.type == "error" and page.problems.append(m.text),
    )
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.goto(f"{server.url}/console")
    page.fill("#token", TOKEN)
    page.fill("#control-token", TOKEN)
    page.click("#use-tokens")
    yield page
    context.close()


def screenshot(page: Any, name: str) -> None:
    target = os.environ.get("TENSORGATE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"console-{name}.png"), full_page=True)


def row(page: Any, model: str) -> Any:
    return page.locator(f'#models-table tbody tr[data-model="{model}"]')


def test_models_view_lists_what_serves(page: Any) -> None:
    page.wait_for_selector('#models-table tr[data-model="efficientnet-lite0"]')
    assert "READY" in row(page, "efficientnet-lite0").inner_text()
    screenshot(page, "models")


def test_drop_the_cat_and_see_cat(page: Any, cat_jpeg: bytes, tmp_path: Path) -> None:
    page.click('nav button[data-view="try"]')
    page.wait_for_selector('#try-model option[value="efficientnet-lite0"]', state="attached")
    page.select_option("#try-model", "efficientnet-lite0")
    page.set_input_files(
        "#try-file", files=[{"name": "chelsea.jpg", "mimeType": "image/jpeg", "buffer": cat_jpeg}]
    )
    page.wait_for_selector("#try-results li")
    assert "cat" in page.inner_text("#try-results").lower()
    screenshot(page, "try")


def test_markup_in_labels_and_file_names_shows_as_text(page: Any, cat_jpeg: bytes) -> None:
    page.click('nav button[data-view="try"]')
    page.wait_for_selector('#try-model option[value="labels_test"]', state="attached")
    page.select_option("#try-model", "labels_test")
    page.set_input_files(
        "#try-file", files=[{"name": HOSTILE_FILE, "mimeType": "image/jpeg", "buffer": cat_jpeg}]
    )
    page.locator("#try-results li").nth(2).wait_for()  # (locators: the CSP allows no eval)
    assert HOSTILE in page.inner_text("#try-results")  # the label, as text
    assert HOSTILE_FILE in page.inner_text("#try-note")  # the file name, as text
    assert page.evaluate("window.__owned") is None
    assert page.locator("#try-results script, #try-note img").count() == 0


def test_unload_and_load_a_model(page: Any) -> None:
    page.click('nav button[data-view="models"]')
    page.wait_for_selector('#models-table tr[data-model="add_sub_fp32"]')
    row(page, "add_sub_fp32").locator('button[data-action="unload"]').click()
    page.locator('#models-table tr[data-model="add_sub_fp32"]', has_text="UNAVAILABLE").wait_for()
    row(page, "add_sub_fp32").locator('button[data-action="load"]').click()
    page.locator('#models-table tr[data-model="add_sub_fp32"]', has_text="READY").wait_for()


def test_a_metric_moves_under_load(page: Any, server: ServerProcess, cat_jpeg: bytes) -> None:
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
            while not stop.is_set():
                client.post(f"{server.url}/v2/models/efficientnet-lite0/classify", content=cat_jpeg)

    callers = [threading.Thread(target=load) for _ in range(2)]
    for caller in callers:
        caller.start()
    try:
        page.click('nav button[data-view="live"]')
        throughput = '#live-models .card[data-model="efficientnet-lite0"] [data-figure="img/s"] b'
        moving = re.compile(r"^(?!0\.0$)[0-9]+\.[0-9]$")  # a rate above 0.0 img/s
        page.locator(throughput, has_text=moving).wait_for(timeout=20_000)
        screenshot(page, "live")
    finally:
        stop.set()
        for caller in callers:
            caller.join()


def test_server_view_and_no_browser_errors(page: Any) -> None:
    page.click('nav button[data-view="server"]')
    page.wait_for_selector("#server-info dt")
    assert "limits.max_image_bytes" in page.inner_text("#server-info")
    screenshot(page, "server")
    assert page.problems == [], page.problems


def test_without_the_token_the_console_says_so(server: ServerProcess, browser: Any) -> None:
    context = browser.new_context()  # a new tab's session: no token kept
    page = context.new_page()
    page.goto(f"{server.url}/console")
    page.locator("#error", has_text="needs the API token").wait_for()
    assert page.locator("#models-table tbody tr").count() == 0
    context.close()
