"""tensorgate against Triton, TorchServe, BentoML, LitServe and Ray Serve, side by side.

    .venv/bin/python -m bench.peers                       # every system, twice
    .venv/bin/python -m bench.peers --systems tensorgate,litserve --runs 1 --seconds 3

Each system runs alone on the machine, serving the same EfficientNet-Lite0 ONNX file
with onnxruntime (one intra-op thread), one worker per core, its own dynamic batching on
with the same limits (batches ≤ 8 of what is waiting, no extra wait unless --delay-ms:
tensorgate's default; TorchServe's shortest wait is 1 ms); each must first answer the
same 1.5 MP JPEG with a label (shown in the table), then is loaded by ``tensorgate
bench`` at each concurrency level. The second run goes through the systems in reverse order, so
drift of the machine does not always favour the same ones. Writes the section of
docs/benchmarks.md between its markers and the chart (``--write`` / ``--chart`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.peers import report, systems
from bench.peers.systems import MODEL, System
from bench.serving import jpeg_1_5mp
from tensorgate.bench.run import BenchConfig, image_request, run_bench
from tensorgate.client._common import decode_infer_response
from tensorgate.config import default_repository
from tensorgate.server.process import spawn_server

ROOT = Path(__file__).resolve().parents[2]
WORKERS = os.cpu_count() or 1
START_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class Knobs:
    """What every system is given: workers, the largest batch, the batching wait."""

    workers: int
    max_batch: int
    delay_ms: float

    def names(self) -> dict[str, str]:
        return {
            "workers": str(self.workers),
            "max_batch": str(self.max_batch),
            "delay": f"{self.delay_ms:g}",
            # serve_torchserve.py: TorchServe reads 0 as "unset" (its 100 ms default).
            "torchserve_delay": str(max(1, round(self.delay_ms))),
        }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _session_members(sid: int) -> list[int]:
    """Processes of session ``sid`` (a peer and everything it started, Ray's raylet,
    TorchServe's Java frontend and Python workers included)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # state, ppid, pgrp, session
            members.append(int(entry.name))
    return members


def _stop_session(sid: int) -> None:
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        for pid in _session_members(sid):
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while _session_members(sid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _session_members(sid):
            return


@contextmanager
def _started(
    system: System, bin_dir: Path, model_dir: Path, repo: Path, log: Path, knobs: Knobs
) -> Iterator[tuple[str, Callable[[], bool]]]:
    """Start ``system``; yield its base URL and whether it still runs; stop it and
    everything it started."""
    if system.key == "tensorgate":
        with spawn_server(repo, "--model", MODEL, "--log-level", "warning") as server:
            yield server.url, lambda: server.process.poll() is None
        return
    port = _free_port()
    values = {"python": str(bin_dir / "python"), "bin": str(bin_dir), "port": str(port)}
    if any("{libdir}" in value for _, value in system.extra_env):
        values["libdir"] = subprocess.run(
            [values["python"], "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    env = {
        **os.environ,
        "PEER_MODEL_DIR": str(model_dir),
        "PEER_SCRATCH": str(log.parent),  # removed with the run's scratch folder
        "PEER_PORT": str(port),
        "PEER_WORKERS": str(knobs.workers),
        "PEER_MAX_BATCH": str(knobs.max_batch),
        "PEER_DELAY_MS": str(knobs.delay_ms),
        "OMP_NUM_THREADS": "1",
        **{name: value.format(**values) for name, value in system.extra_env},
    }
    env.pop("VIRTUAL_ENV", None)
    command = [part.format(**values) for part in system.command]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=Path(__file__).parent, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}", lambda: process.poll() is None
    finally:
        _stop_session(process.pid)


def _label(body: bytes, headers: Any) -> str:
    """The top label in an answer: a V2 ``label`` output, or the first ``label`` key."""
    if headers.get("Inference-Header-Content-Length") is not None:
        outputs = decode_infer_response(body, headers.get("Inference-Header-Content-Length"))
        value = np.asarray(outputs["label"]).reshape(-1)[0]
        return value.decode() if isinstance(value, bytes) else str(value)

    def find(node: Any) -> str | None:
        if isinstance(node, dict):
            if isinstance(node.get("label"), str):
                return str(node["label"])
            node = list(node.values())
        if isinstance(node, list):
            for item in node:
                if (found := find(item)) is not None:
                    return found
        return None

    return find(json.loads(body)) or f"no label in {body[:80]!r}"


def _probe(config: BenchConfig, alive: Callable[[], bool], log: Path | None) -> str:
    """Wait until the system answers the image (200); the label it gives."""
    path, body, headers = image_request(config)
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < START_TIMEOUT_S and alive():
        request = urllib.request.Request(config.url + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return _label(answer.read(), answer.headers)
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:200]!r}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-1500:] if log is not None and log.exists() else ""
    why = f"no answer in {START_TIMEOUT_S:.0f} s" if alive() else "it exited"
    raise RuntimeError(f"{why} ({last}); log tail: {tail}")


def _measure(
    system: System, run: int, bin_dir: Path, args: argparse.Namespace, scratch: Path
) -> report.Result:
    log = scratch / f"{system.key}-{run}.log"
    config = BenchConfig(
        url="", model=MODEL, payload="image", image=args.image, endpoint=system.endpoint,
        image_as=system.image_as, field=system.field, seconds=args.seconds,
        warmup_s=args.warmup, concurrency=tuple(args.levels),
    )  # fmt: skip
    print(f"peers: run {run + 1}, {system.title}", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        with _started(system, bin_dir, scratch / "model", scratch / "repo", log, args.knobs) as (
            url,
            alive,
        ):
            config = replace(config, url=url)
            label = _probe(config, alive, None if system.key == "tensorgate" else log)
            startup = time.monotonic() - started
            steps = run_bench(
                config,
                on_step=lambda s: print(
                    f"  concurrency {s.level:g}: {s.images_per_s:.1f} img/s, "
                    f"p50 {s.latency.p50:.1f} ms, p99 {s.latency.p99:.1f} ms, "
                    f"errors {s.errors}",
                    file=sys.stderr,
                    flush=True,
                ),
            )
    except Exception as exc:  # one failing system must not lose the others' figures
        print(f"  failed: {exc}", file=sys.stderr)
        error = f"{type(exc).__name__}: {exc}".split("; log tail")[0]
        return report.Result(system.key, system.title, run, error=error)
    return report.Result(system.key, system.title, run, tuple(steps), label, startup_s=startup)


def _scratch_model(scratch: Path, knobs: Knobs) -> None:
    """The model for the peers (``model/``) and for tensorgate (``repo/``, same knobs)."""
    source = default_repository() / MODEL
    if not (source / "1" / "model.onnx").exists():
        raise SystemExit(f"{source} has no model: run scripts/serve.sh or tensorgate zoo pull")
    (scratch / "model").mkdir()
    shutil.copy(source / "1" / "model.onnx", scratch / "model" / "model.onnx")
    shutil.copy(source / "labels.txt", scratch / "model" / "labels.txt")
    shutil.copytree(source, scratch / "repo" / MODEL)
    config_path = scratch / "repo" / MODEL / "config.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["max_batch_size"] = knobs.max_batch
    config["dynamic_batching"] = {"max_queue_delay_ms": knobs.delay_ms}
    group = config.get("instance_group", {})
    config["instance_group"] = {**group, "count": knobs.workers, "threads": 1}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{WORKERS} vCPU ({model}), {memory:.0f} GiB, no GPU, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--systems", default=",".join(s.key for s in systems.SYSTEMS))
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--workers", type=int, default=WORKERS, help="per system (one per core)")
    parser.add_argument("--max-batch", type=int, default=8, help="every batcher's limit")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="every batcher's wait")
    parser.add_argument("--write", type=Path, default=ROOT / "docs" / "benchmarks.md",
                        help="the document whose peers section is rewritten ('-': none)")  # fmt: skip
    parser.add_argument("--chart", type=Path, default=ROOT / "docs" / "img" / "peers.png")
    parser.add_argument("--json", type=Path, default=None, help="also save every step here")
    args = parser.parse_args(argv)
    args.levels = [int(c) for c in args.concurrency.split(",") if c]
    args.knobs = Knobs(args.workers, args.max_batch, args.delay_ms)
    return args


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    chosen = systems.by_key([k for k in args.systems.split(",") if k])
    args.image = jpeg_1_5mp()
    # Every install before any timing; one that fails is a row saying so, not the end.
    envs: dict[str, Path] = {}
    versions: dict[str, dict[str, str]] = {}
    broken: dict[str, str] = {}
    for system in chosen:
        try:
            envs[system.key] = systems.environment(system)
            versions[system.key] = systems.versions(envs[system.key], system.report)
        except subprocess.CalledProcessError as exc:
            broken[system.key] = f"install failed: {' '.join(map(str, exc.cmd))[-160:]}"
            print(f"peers: {system.title}: {broken[system.key]}", file=sys.stderr)
    results: list[report.Result] = []
    with tempfile.TemporaryDirectory(prefix="tensorgate-peers-") as temporary:
        scratch = Path(temporary)
        _scratch_model(scratch, args.knobs)
        for run in range(args.runs):
            order = chosen if run % 2 == 0 else chosen[::-1]
            for system in order:
                if system.key in broken:
                    error = broken[system.key]
                    results.append(report.Result(system.key, system.title, run, error=error))
                    continue
                result = _measure(system, run, envs[system.key], args, scratch)
                results.append(replace(result, versions=versions[system.key]))
    title = f"EfficientNet-Lite0, 1.5 MP JPEG per request, {WORKERS} vCPU"
    chart = None if str(args.chart) == "-" else args.chart
    if chart is not None:
        report.chart(chart, results, args.levels, title)
    shown = list(argv if argv is not None else sys.argv[1:])
    text = report.section(
        results,
        args.levels,
        command=" ".join([".venv/bin/python -m bench.peers", *shown]),
        machine=_machine(),
        notes={s.key: s.note.format(**args.knobs.names()) for s in chosen},
        chart=None
        if chart is None or str(args.write) == "-"
        else os.path.relpath(chart, args.write.parent),
        date=date.today().isoformat(),
    )
    print(text)
    if str(args.write) != "-":
        document = args.write.read_text(encoding="utf-8") if args.write.exists() else ""
        args.write.write_text(report.replace_section(document, text), encoding="utf-8")
        print(f"peers: wrote {args.write}", file=sys.stderr)
    if args.json is not None:
        records = [
            {"system": r.key, "run": r.run + 1, "error": r.error, "answer": r.answer,
             "startup_s": r.startup_s, "versions": r.versions, "steps": [s.flat() for s in r.steps]}
            for r in results
        ]  # fmt: skip
        args.json.write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
