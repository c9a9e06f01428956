"""The benchmarks run end to end (figures are not asserted: speed lives in bench/)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_serving_bench_runs_and_prints_its_table(zoo_repository: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.serving",
            "--seconds",
            "0.5",
            "--batches",
            "1",
            "--concurrency",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    table = result.stdout
    for row in ("latency overhead", "serving efficiency", "JPEG path efficiency", "fixed cost"):
        assert row in table


@pytest.mark.slow
def test_decode_and_sources_benches_run(zoo_repository: Path) -> None:
    for command in (
        ["bench.decode", "--seconds", "0.2"],
        ["bench.sources", "--seconds", "0.5", "--concurrency", "2", "--keys-per-request", "2"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr
        assert "tensorgate" in result.stdout or "bound" in result.stdout


@pytest.mark.slow
def test_protocol_lifecycle_and_breakdown_benches_run(zoo_repository: Path) -> None:
    for command, rows in (
        (["bench.protocols", "--seconds", "0.5", "--concurrency", "2"], ["grpc/http throughput"]),
        (["bench.lifecycle", "--swaps", "1", "--rounds", "1"], ["cold-start", "during swap"]),
        (["bench.latency_breakdown", "--seconds", "0.5"], ["server total"]),
    ):
        _runs_and_prints(command, rows)


def _runs_and_prints(command: list[str], rows: list[str], timeout: float = 300) -> None:
    """``python -m COMMAND`` exits 0 and its output has every row."""
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for row in rows:
        assert row in result.stdout, result.stdout[-3000:]


@pytest.mark.slow
def test_pipelines_bench_runs(zoo_repository: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.pipelines", "--seconds", "0.5", "--levels", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "| pp-ocrv6 | 2 | 7 |" in result.stdout
    assert "| faces | 2 | 4 |" in result.stdout


@pytest.mark.slow
def test_tensor_path_workers_and_gil_benches_run(zoo_repository: Path) -> None:
    cases = [
        (
            ["bench.tensor_path", "--rounds", "1", "--seconds", "1"],
            ["**efficiency**, one instance", "**efficiency**, the floor"],
        ),
        (["bench.workers", "--rounds", "1", "--seconds", "1"], ["2 workers / 1 process"]),
        (["bench.latency_breakdown", "--seconds", "0.5", "--format", "uint8"], ["server total"]),
        (["bench.overhead", "--seconds", "1", "--forms", "uint8"], ["**overhead**, floor"]),
        (["bench.gil", "--seconds", "2", "--format", "uint8"], ["GIL held"]),
    ]
    for args, expected in cases:
        _runs_and_prints(args, expected, timeout=600)


def _python(*args: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *(str(a) for a in args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_gpu_bench_and_its_models_run_on_the_cpu(zoo_repository: Path, tmp_path: Path) -> None:
    """bench.gpu_models and bench.gpu / bench.gpu_probe on ``--device cpu`` (the rows a
    CPU can run): what a lent GPU machine runs is the same code (scripts/device)."""
    import shutil

    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(zoo_repository / "efficientnet-lite0", repo / "efficientnet-lite0")
    made = _python("-m", "bench.gpu_models", "--repository", repo)
    assert made.returncode == 0, made.stderr
    fp16 = "efficientnet-lite0-uint8-nchw-fp16"
    assert (repo / fp16 / "1" / "model.onnx").is_file()
    out = tmp_path / "gpu.json"
    result = _python(
        "-m", "bench.gpu", "--repository", repo, "--models", fp16, "--device", "cpu",
        "--seconds", "1", "--callers", "2", "--images", "2", "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"| {fp16} | cpu |" in result.stdout
    assert "Egyptian cat" in out.read_text()  # the FP16 graph still classifies
    assert '"sessions_per_instance": 1' in out.read_text()  # CPU: one session each
    row = json.loads(out.read_text())["models"][fp16]["cpu"]
    assert row["stack_ms_per_batch"] > 0  # Triton's compute_input, from the statistics
    assert row["cut_ms_per_batch"] > 0
    before = _python(
        "-m", "bench.gpu", "--repository", repo, "--models", fp16, "--device", "cpu",
        "--seconds", "0.5", "--callers", "2", "--images", "2", "--stack-in-gate",
        "--engine-only",
    )  # fmt: skip
    assert before.returncode == 0, before.stderr
    assert f"| {fp16} | cpu |" in before.stdout
    probed = _python("-m", "bench.gpu_probe", repo / fp16 / "1" / "model.onnx", "--device", "cpu")
    assert probed.returncode == 0, probed.stderr
    assert "first/second by batch" in probed.stdout
    assert "sizes seen before" in probed.stdout
    assert "on another thread" in probed.stdout
    served = _python(
        "-m", "bench.gpu_server", "--repository", repo, "--model", fp16, "--device", "cpu",
        "--workers", "1", "--clients", "1", "--concurrency", "2", "--seconds", "1",
    )  # fmt: skip
    assert served.returncode == 0, served.stderr
    assert "| 1 x 1 |" in served.stdout


@pytest.mark.slow
def test_engine_python_bench_runs_both_paths(tmp_path: Path) -> None:
    out = tmp_path / "python.json"
    result = _python(
        "-m", "bench.engine_python", "--seconds", "0.5", "--callers", "4",
        "--per-call", "1,4", "--out", out,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())
    assert {(r["path"], r["per_call"]) for r in rows} == {
        ("instance", 1),
        ("instance", 4),
        ("device", 1),
        ("device", 4),
    }
    assert all(r["img_s"] > 0 and r["loop_cpu_ms_per_image"] > 0 for r in rows)
    assert {r["preprocessor"] for r in rows} == {"ImagePreprocessor", "GpuImagePreprocessor"}
    written = _python("-m", "bench.engine_python", "--write-repository", tmp_path / "repo")
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "repo" / "null-classifier" / "1" / "model.onnx").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (  # the batcher before a simulated device
            ("bench.gate_overlap", "--seconds", "0.3", "--instances", "2", "--batch", "8"),
            ("| 2 |", "schedule says"),
        ),
        (  # the offline scorer: 5 % of 120 files corrupt, 6 error rows in each run
            ("bench.scoring_groups", "--inputs", "120", "--rounds", "1", "--bad", "0.05"),
            ("| 1 | 8 |", "| 6 |\n"),
        ),
        (  # a padded batch's host copies, before and after
            ("bench.host_batch", "--seconds", "0.5", "--rounds", "1", "--size", "32"),
            ("| before |", "| after |"),
        ),
    ],
)
def test_small_benches_run(args: tuple[str, ...], expected: tuple[str, ...]) -> None:
    result = _python("-m", *args)
    assert result.returncode == 0, result.stderr
    assert all(text in result.stdout for text in expected), result.stdout
