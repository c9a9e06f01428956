"""``tensorgate tune``: find the serving config with the highest throughput under a p99
target, by measuring real servers, and write it into the model's config.yaml.

The search is coordinate-wise, like Triton's Model Analyzer's quick mode: first the
split of cores into instances × threads per instance, then ``max_batch_size``, then
``max_queue_delay_ms``, each stage keeping the best so far. Every candidate runs in a
fresh ``tensorgate serve`` over a scratch copy of the model, loaded by a closed-loop
concurrency sweep; its score is the highest throughput among the levels whose p99 meets
the target. The search itself is pure (``search``) and takes the measuring function.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from tensorgate.bench.run import BenchConfig, Step, best_within, run_bench
from tensorgate.errors import ConfigError, TensorgateError
from tensorgate.repository.manifest import load_config, parse_config

__all__ = ["Candidate", "Trial", "measure", "search", "tune_model", "write_config"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One serving configuration."""

    instances: int
    threads: int
    max_batch_size: int
    max_queue_delay_ms: float

    def label(self) -> str:
        return (
            f"{self.instances} inst × {self.threads} thr, batch ≤ {self.max_batch_size}, "
            f"delay {self.max_queue_delay_ms:g} ms"
        )


@dataclass(frozen=True, slots=True)
class Trial:
    """A measured candidate: its best throughput within the p99 target (0 if no level
    met it), that level's p99 and concurrency, and every step."""

    candidate: Candidate
    images_per_s: float
    p99_ms: float
    concurrency: float
    steps: tuple[Step, ...] = ()
    error: str = ""


def score(candidate: Candidate, steps: Sequence[Step], p99_target_ms: float) -> Trial:
    """The best level of ``steps`` within the target (no errors), as a Trial."""
    best = best_within(steps, p99_target_ms)
    if best is None:
        return Trial(candidate, 0.0, float("nan"), 0.0, tuple(steps))
    return Trial(candidate, best.images_per_s, best.latency.p99, best.level, tuple(steps))


def search(
    start: Candidate,
    evaluate: Callable[[Candidate], Trial],
    *,
    cores: int,
    batch_sizes: Sequence[int] = (1, 4, 8, 16, 32),
    delays_ms: Sequence[float] = (0.0, 1.0, 2.0, 5.0),
    on_trial: Callable[[Trial], None] | None = None,
) -> tuple[Trial, list[Trial]]:
    """Coordinate search from ``start``; returns the best Trial and all of them (the
    first is ``start`` itself). Each candidate is evaluated once."""
    trials: dict[Candidate, Trial] = {}

    def run(candidate: Candidate) -> Trial:
        if candidate not in trials:
            trials[candidate] = evaluate(candidate)
            if on_trial is not None:
                on_trial(trials[candidate])
        return trials[candidate]

    best = run(start)
    splits = [(i, t) for i in range(1, cores + 1) for t in range(1, cores + 1) if i * t <= cores]
    stages: list[list[Candidate]] = [
        [replace(best.candidate, instances=i, threads=t) for i, t in splits],
    ]
    for stage in range(3):
        if stage == 1:
            stages.append([replace(best.candidate, max_batch_size=b) for b in batch_sizes])
        if stage == 2:
            stages.append([replace(best.candidate, max_queue_delay_ms=d) for d in delays_ms])
        for candidate in stages[stage]:
            trial = run(candidate)
            if trial.images_per_s > best.images_per_s:
                best = trial
    return best, list(trials.values())


def _document(model_dir: Path) -> dict[str, Any]:
    document = yaml.safe_load((model_dir / "config.yaml").read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise ConfigError(f"{model_dir / 'config.yaml'} is not a mapping")
    return document


def apply(document: dict[str, Any], candidate: Candidate) -> dict[str, Any]:
    """``document`` (a parsed config.yaml) with the candidate's fields set."""
    updated = dict(document)
    updated["max_batch_size"] = candidate.max_batch_size
    batching = dict(updated.get("dynamic_batching") or {})
    batching["max_queue_delay_ms"] = candidate.max_queue_delay_ms
    preferred = [
        p for p in batching.get("preferred_batch_sizes", []) if p <= candidate.max_batch_size
    ]
    if preferred:
        batching["preferred_batch_sizes"] = preferred
    else:
        batching.pop("preferred_batch_sizes", None)
    updated["dynamic_batching"] = batching
    group = dict(updated.get("instance_group") or {})
    group["count"] = candidate.instances
    group["threads"] = candidate.threads
    updated["instance_group"] = group
    return updated


def _rendered(model_dir: Path, candidate: Candidate) -> str:
    """``model_dir``'s config.yaml with the candidate applied, checked by the
    repository's own parser before anything is written."""
    document = apply(_document(model_dir), candidate)
    parse_config(document, str(model_dir / "config.yaml"), model_dir)
    return yaml.safe_dump(document, sort_keys=False)


def write_config(model_dir: Path, candidate: Candidate) -> Path:
    """Write the candidate into ``model_dir/config.yaml`` (the old one kept as
    ``config.yaml.bak``), atomically."""
    path = model_dir / "config.yaml"
    staged = path.with_name("config.yaml.tuned")
    staged.write_text(_rendered(model_dir, candidate), encoding="utf-8")
    shutil.copy2(path, path.with_name("config.yaml.bak"))
    staged.replace(path)
    return path


def measure(
    scratch: Path,
    model: str,
    candidate: Candidate,
    load: BenchConfig,
    p99_target_ms: float,
) -> Trial:
    """Serve the scratch copy with ``candidate`` and load it; its Trial."""
    from tensorgate.server.process import spawn_server

    model_dir = scratch / model
    (model_dir / "config.yaml").write_text(_rendered(model_dir, candidate), encoding="utf-8")
    try:
        with spawn_server(scratch, "--model", model) as server:
            steps = run_bench(replace(load, url=server.url, grpc_url=server.grpc))
    except TensorgateError as exc:  # a candidate that cannot serve scores nothing
        return Trial(candidate, 0.0, float("nan"), 0.0, (), exc.message)
    return score(candidate, steps, p99_target_ms)


def _start(model_dir: Path, cores: int) -> Candidate:
    config = load_config(model_dir)
    return Candidate(
        instances=config.instances.count or cores,
        threads=config.instances.threads,
        max_batch_size=config.max_batch_size,
        max_queue_delay_ms=round(config.batching.max_queue_delay_s * 1000, 3),
    )


def tune_model(
    repository: Path,
    model: str,
    load: BenchConfig,
    p99_target_ms: float,
    *,
    cores: int,
    batch_sizes: Sequence[int] = (1, 4, 8, 16, 32),
    delays_ms: Sequence[float] = (0.0, 1.0, 2.0, 5.0),
    write: bool = True,
    on_trial: Callable[[Trial], None] | None = None,
) -> tuple[Trial, list[Trial]]:
    """Tune ``repository/model`` on a scratch copy; write the winner unless ``write`` is
    False or the model's current config won.

    Raises:
        ConfigError: no such model, or no candidate met the p99 target at any load.
    """
    model_dir = repository / model
    if not (model_dir / "config.yaml").is_file():
        raise ConfigError(f"{model_dir} has no config.yaml; tune a model of the repository")
    start = _start(model_dir, cores)
    with tempfile.TemporaryDirectory(prefix="tensorgate-tune-") as folder:
        scratch = Path(folder)
        shutil.copytree(model_dir, scratch / model, ignore=shutil.ignore_patterns("*.bak"))
        best, trials = search(
            start,
            lambda c: measure(scratch, model, c, load, p99_target_ms),
            cores=cores,
            batch_sizes=batch_sizes,
            delays_ms=delays_ms,
            on_trial=on_trial,
        )
    if best.images_per_s <= 0:
        raise ConfigError(
            f"no configuration met p99 ≤ {p99_target_ms:g} ms at any tested concurrency; "
            "raise --p99-target-ms or include concurrency 1"
        )
    if write and best.candidate != start:
        write_config(model_dir, best.candidate)
    return best, trials
