"""bench.peers, the side-by-side comparison: the handler every peer serves does what
tensorgate's image path does, answers are read back, the report is pure and rewrites only
its own section, and the runner drives tensorgate end to end (the other systems need
their own environments: the slow test builds one)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from bench.peers import report
from bench.peers.__main__ import Knobs, _label
from bench.peers.classifier import Classifier, preprocess
from bench.peers.systems import SYSTEMS, by_key, environment

from tensorgate.bench.run import Step
from tensorgate.bench.stats import Latency, ServerSplit
from tensorgate.imaging.preprocess import ImagePreprocessor
from tensorgate.imaging.spec import ImageLimits
from tensorgate.protocol.datatypes import encode_binary
from tensorgate.repository.manifest import load_config

ROOT = Path(__file__).resolve().parents[1]
CATS = {"tabby", "tiger cat", "Egyptian cat"}


def test_the_peers_handler_preprocesses_as_tensorgate_does(
    lite0_dir: Path, cat_jpeg: bytes
) -> None:
    spec = load_config(lite0_dir).preprocess
    assert spec is not None
    ours = ImagePreprocessor(spec, ImageLimits())(cat_jpeg)
    theirs = preprocess(cat_jpeg)
    assert theirs.shape == ours.shape == (3, 224, 224)
    # Same decoder and scale, one-pass resize and crop, normalisation: the same tensor.
    np.testing.assert_allclose(theirs, ours, atol=1e-6)


def test_the_peers_handler_classifies_the_cat(
    lite0_dir: Path, cat_jpeg: bytes, tmp_path: Path
) -> None:
    # The peers' layout: model.onnx next to labels.txt.
    (tmp_path / "model.onnx").symlink_to(lite0_dir / "1" / "model.onnx")
    (tmp_path / "labels.txt").symlink_to(lite0_dir / "labels.txt")
    answers = Classifier(tmp_path)([cat_jpeg, cat_jpeg])
    assert answers[0] == answers[1]
    assert answers[0]["label"] in CATS
    assert 0 < float(answers[0]["score"]) <= 1  # type: ignore[arg-type]


def test_answers_are_read_from_json_and_from_v2_binary_outputs() -> None:
    assert _label(b'[{"label": "tiger cat", "score": 0.4}]', {}) == "tiger cat"
    assert _label(b'{"results": [[{"label": "tabby", "index": 281}]]}', {}) == "tabby"
    assert _label(b'{"nothing": 1}', {}).startswith("no label in")
    labels = np.empty((1, 1), dtype=object)
    labels[0, 0] = b"tiger cat"
    blob = encode_binary(labels)
    output = {"name": "label", "datatype": "BYTES", "shape": [1, 1]}
    header = json.dumps(
        {"outputs": [{**output, "parameters": {"binary_data_size": len(blob)}}]}
    ).encode()
    answer_headers = {"Inference-Header-Content-Length": str(len(header))}
    assert _label(header + blob, answer_headers) == "tiger cat"


def _step(level: int, rate: float, p99: float, errors: int = 0) -> Step:
    latency = Latency(p50=p99 / 2, p90=p99 * 0.9, p99=p99, mean=p99 / 2)
    split = ServerSplit(0, float("nan"), float("nan"), float("nan"))
    return Step("closed", level, "http", "image", 100, errors, 5.0, rate, latency, split)


def _results() -> list[report.Result]:
    return [
        report.Result(
            "tensorgate", "tensorgate", 0, (_step(1, 50, 30), _step(8, 120, 90)), "tiger cat"
        ),
        report.Result(
            "triton", "Triton", 0, (_step(1, 45, 25), _step(8, 100, 150, errors=2)), "tiger cat"
        ),
        report.Result("rayserve", "Ray Serve", 0, error="RuntimeError: no answer in 240 s"),
    ]


def test_the_run_table_bolds_the_best_of_each_column() -> None:
    lines = report.run_table(_results(), [1, 8])
    assert lines[0] == "| system | concurrency 1 | concurrency 8 | errors | answer |"
    assert (
        lines[2]
        == "| tensorgate | **50.0** · 15.0 · 30.0 | **120.0** · 45.0 · **90.0** | 0 | tiger cat |"
    )
    assert lines[3] == "| Triton | 45.0 · 12.5 · **25.0** | 100.0 · 75.0 · 150.0 | 2 | tiger cat |"
    assert lines[4].startswith("| Ray Serve | — | — | — | failed: RuntimeError")


def test_ratios_compare_tensorgate_with_the_best_peer() -> None:
    text = report.ratios(_results(), 8)
    assert text.startswith("concurrency 8: throughput ×1.20 the best peer (Triton, 100.0 img/s)")
    assert "p99 ×0.60 the lowest peer p99 (Triton, 150.0 ms)" in text
    assert "no comparison" in report.ratios(_results()[1:], 8)


def test_the_section_replaces_only_its_own_text() -> None:
    section = report.section(
        _results(), [1, 8], command="python -m bench.peers", machine="2 vCPU",
        notes={"triton": "2 instances"}, chart="img/peers.png", date="2026-11-21",
    )  # fmt: skip
    assert section.startswith(report.BEGIN)
    assert section.endswith(report.END)
    assert "| Triton |  | 2 instances | 0.0 |" in section
    assert "Run 1 (in this order: tensorgate → Triton → Ray Serve):" in section
    document = "# Benchmarks\n\nbefore\n"
    once = report.replace_section(document, section)
    assert once.startswith(document)
    assert once.endswith(report.END + "\n")
    again = report.replace_section(once + "\nafter\n", section.replace("2 vCPU", "4 vCPU"))
    assert again.count(report.BEGIN) == 1
    assert "4 vCPU" in again
    assert "2 vCPU" not in again
    assert again.endswith("\nafter\n")


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "peers.png"
    report.chart(path, _results(), [1, 8], "test")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_the_runner_measures_tensorgate_and_writes_its_section(
    zoo_repository: Path, tmp_path: Path
) -> None:
    document = tmp_path / "benchmarks.md"
    document.write_text("# Benchmarks\n", encoding="utf-8")
    chart = tmp_path / "img" / "peers.png"
    result = subprocess.run(
        [
            sys.executable, "-m", "bench.peers", "--systems", "tensorgate", "--runs", "2",
            "--seconds", "0.4", "--warmup", "0.1", "--concurrency", "1,2",
            "--write", str(document), "--chart", str(chart),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    text = document.read_text(encoding="utf-8")
    assert text.count(report.BEGIN) == 1
    assert "Run 1 (in this order: tensorgate):" in text
    assert "Run 2 (in this order: tensorgate):" in text
    assert "| tensorgate | **" in text  # measured, so bold as the only system
    assert any(f"| {cat} |" in text for cat in CATS)
    assert "![peers: throughput and p99 against concurrency](img/peers.png)" in text
    assert chart.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_a_peer_in_its_own_environment_is_measured(zoo_repository: Path, tmp_path: Path) -> None:
    # Builds LitServe's environment once (about a minute), then loads it like any peer.
    records = tmp_path / "steps.json"
    result = subprocess.run(
        [
            sys.executable, "-m", "bench.peers", "--systems", "litserve", "--runs", "1",
            "--seconds", "0.5", "--warmup", "0.2", "--concurrency", "2",
            "--write", "-", "--chart", "-", "--json", str(records),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = json.loads(records.read_text())
    assert record["error"] == "", record["error"]
    assert record["answer"] in CATS
    (step,) = record["steps"]
    assert step["errors"] == 0
    assert step["requests"] > 0


def test_every_note_names_the_knobs_each_system_really_gets() -> None:
    notes = {s.key: s.note.format(**Knobs(2, 8, 0).names()) for s in SYSTEMS}
    assert notes["tensorgate"].startswith("2 instances × 1 thread, batch ≤ 8, delay 0 ms")
    # TorchServe reads 0 as its 100 ms default, so it gets its shortest wait, 1 ms.
    assert "maxBatchDelay 1 ms" in notes["torchserve"]
    (torchserve,) = by_key(["torchserve"])
    assert "maxBatchDelay 3 ms" in torchserve.note.format(**Knobs(2, 8, 2.6).names())


def test_a_failed_environment_build_raises_and_leaves_no_stamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENSORGATE_HOME", str(tmp_path))
    (tensorgate,) = by_key(["tensorgate"])
    assert environment(tensorgate) == Path(sys.executable).parent  # this checkout's own
    broken = replace(tensorgate, key="broken", packages=("tensorgate-no-such-package==0",))
    with pytest.raises(subprocess.CalledProcessError):
        environment(broken)
    assert not list((tmp_path / "venvs" / "peer-broken").glob(".tensorgate-*"))  # no stamp
    with pytest.raises(SystemExit, match="unknown systems \\['nope'\\]"):
        by_key(["nope"])
