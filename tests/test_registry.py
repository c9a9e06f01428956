"""Model lifecycle through the Engine: versions, hot swap, unload, memory budget, poll."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tensorgate import (
    Engine,
    EngineSettings,
    InvalidInputError,
    MemoryBudgetError,
    ModelLoadError,
    ModelNotAvailableError,
    ModelNotFoundError,
    ModelState,
)
from tensorgate.memory import Resident, parse_budget, parse_size, plan_eviction

MiB = 1024 * 1024
X = np.ones((1, 3), np.float32)  # the fake model answers sum(row) + j + offset → 3 + offset


class FlatMemory:
    """A probe that never sees memory grow: every model counts its file size."""

    def used(self, device: str) -> int | None:
        return 0


def fake_config(**extra: Any) -> dict[str, Any]:
    return {
        "backend": "fake",
        "max_batch_size": 4,
        "instance_group": {"count": 1},
        "inputs": [{"name": "x", "datatype": "FP32", "dims": [3]}],
        "outputs": [{"name": "y", "datatype": "FP32", "dims": [2]}],
        **extra,
    }


def add_version(
    repo: Path, name: str, version: int, *, size: int = 0, config: dict[str, Any] | None = None,
    **shape: Any,
) -> None:  # fmt: skip
    directory = repo / name
    (directory / str(version)).mkdir(parents=True, exist_ok=True)
    if config is not None or not (directory / "config.yaml").exists():
        (directory / "config.yaml").write_text(
            yaml.safe_dump({"name": name, **(config or fake_config())})
        )
    body = json.dumps(shape).encode() + b"\n"
    (directory / str(version) / "model.fake").write_bytes(body + b"0" * max(size - len(body), 0))


def engine_for(repo: Path, **settings: Any) -> Engine:
    return Engine(EngineSettings(repository=repo, **settings), probe=FlatMemory())


async def answer(engine: Engine, name: str, version: int | None = None) -> float:
    out = await engine.infer(name, {"x": X}, version=version)
    return float(out["y"][0, 0])


async def test_new_version_swaps_in_and_the_old_one_goes(tmp_path: Path) -> None:
    add_version(tmp_path, "m", 1, offset=100)
    async with engine_for(tmp_path) as engine:
        assert await answer(engine, "m") == 103
        old = engine._registry.model("m")
        add_version(tmp_path, "m", 2, offset=200)
        await engine.load_model("m")
        assert await answer(engine, "m") == 203
        assert [(s.version, s.state) for s in engine.statuses()] == [(2, ModelState.READY)]
        assert old.retired
        with pytest.raises(ModelNotFoundError, match="model 'm' has no version 1"):
            await answer(engine, "m", 1)
        new = engine._registry.model("m")
        await engine.load_model("m")  # nothing changed: nothing reloads
        assert engine._registry.model("m") is new


async def test_requests_may_name_a_version(tmp_path: Path) -> None:
    config = fake_config(version_policy={"all": {}})
    add_version(tmp_path, "m", 1, config=config, offset=100)
    add_version(tmp_path, "m", 2, offset=200)
    add_version(tmp_path, "m", 3, offset=300)
    async with engine_for(tmp_path) as engine:
        assert [await answer(engine, "m", v) for v in (1, 2, 3)] == [103, 203, 303]
        assert await answer(engine, "m") == 303
        (tmp_path / "m" / "config.yaml").write_text(
            yaml.safe_dump({"name": "m", **fake_config(version_policy={"specific": [1, 3]})})
        )
        await engine.load_model("m")
        assert [(s.version, s.state.value) for s in engine.statuses()] == [
            (1, "READY"),
            (3, "READY"),
        ]


async def test_a_failing_new_version_leaves_the_old_one_serving(tmp_path: Path) -> None:
    add_version(tmp_path, "m", 1, offset=100)
    async with engine_for(tmp_path) as engine:
        add_version(tmp_path, "m", 2, fail="weights are corrupt")
        with pytest.raises(
            ModelLoadError,
            match=r"model 'm' did not load version 2: .*weights are corrupt; "
            r"versions \[1\] keep serving",
        ):
            await engine.load_model("m")
        assert await answer(engine, "m") == 103
        states = {s.version: (s.state, s.reason) for s in engine.statuses()}
        assert states[1] == (ModelState.READY, "")
        assert states[2][0] is ModelState.UNAVAILABLE
        assert engine.ready  # the model serves, so the server is ready
        # A broken config must not take the serving version down either.
        (tmp_path / "m" / "config.yaml").write_text("name: m\nmax_batch_size: -1\n")
        with pytest.raises(ModelLoadError, match=r"max_batch_size.*versions \[1\] keep serving"):
            await engine.load_model("m")
        assert await answer(engine, "m") == 103


async def test_swap_while_requests_run_loses_none(tmp_path: Path) -> None:
    add_version(tmp_path, "m", 1, offset=1000, delay_s=0.002)
    async with engine_for(tmp_path) as engine:
        done: list[float] = []
        reached = {n: asyncio.Event() for n in (250, 500, 750)}

        async def client() -> None:
            for _ in range(300):
                done.append(await answer(engine, "m"))
                if len(done) in reached:
                    reached[len(done)].set()

        clients = [asyncio.create_task(client()) for _ in range(4)]
        for version in (2, 3, 4):
            await reached[250 * (version - 1)].wait()  # let traffic run between reloads
            add_version(tmp_path, "m", version, offset=1000 * version, delay_s=0.002)
            await engine.load_model("m")
        await asyncio.gather(*clients)  # any failed request would raise here
    assert len(done) == 1200
    assert set(done) == {1003, 2003, 3003, 4003}


async def test_unload_and_load_again(tmp_path: Path) -> None:
    add_version(tmp_path, "a", 1)
    add_version(tmp_path, "b", 1)
    async with engine_for(tmp_path) as engine:
        await engine.unload_model("a")
        with pytest.raises(
            ModelNotAvailableError,
            match="Request for unknown model: 'a' has no available versions; it is "
            "UNAVAILABLE: unloaded by",
        ):
            await answer(engine, "a")
        assert engine.ready  # an unloaded model does not count against readiness
        await engine.unload_model("a")  # twice is fine, as in Triton
        with pytest.raises(ModelNotFoundError, match="model 'nope' is not loaded"):
            await engine.unload_model("nope")
        await engine.load_model("a")
        assert await answer(engine, "a") == 3


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("../etc", InvalidInputError, "model name '../etc' is not valid"),
        ("a/b", InvalidInputError, "model name 'a/b' is not valid"),
        ("missing", ModelNotFoundError, "model 'missing' is not in the repository"),
        ("link", InvalidInputError, "is a symlink"),
    ],
)
async def test_load_takes_only_model_names_of_the_repository(
    tmp_path: Path, name: str, error: type[Exception], message: str
) -> None:
    add_version(tmp_path, "a", 1)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    async with engine_for(tmp_path, models=("a",)) as engine:
        with pytest.raises(error, match=message):
            await engine.load_model(name)


async def test_memory_budget_evicts_the_least_recently_used_idle_model(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        add_version(tmp_path, name, 1, size=4 * MiB)
    add_version(tmp_path, "huge", 1, size=10 * MiB)
    async with engine_for(tmp_path, memory_budget={"cpu": 9 * MiB}) as engine:
        states = {s.name: s for s in engine.statuses()}
        # a and b fit; c evicted a (least recently used); huge can never fit.
        assert states["a"].state is ModelState.UNAVAILABLE
        assert "evicted to fit the memory budget" in states["a"].reason
        assert [states[n].state for n in "bc"] == [ModelState.READY] * 2
        assert "needs 10.0 MiB on cpu, more than the whole budget of 9.0 MiB" in (
            states["huge"].reason
        )
        assert engine.model("b").memory == 4 * MiB
        await answer(engine, "b")  # b is now more recently used than c
        assert await answer(engine, "a") == 3  # a request loads a again, evicting c
        states = {s.name: s for s in engine.statuses()}
        assert states["c"].state is ModelState.UNAVAILABLE
        assert states["b"].state is ModelState.READY
        metrics = engine.metrics.render().decode()
        assert 'tensorgate_model_cold_start_seconds_count{model="a"} 1.0' in metrics
        assert 'tensorgate_model_evictions_total{model="a"} 1.0' in metrics
        assert 'tensorgate_model_evictions_total{model="c"} 1.0' in metrics
        assert 'tensorgate_model_memory_bytes{device="cpu",model="a",version="1"}' in metrics
        with pytest.raises(MemoryBudgetError, match="more than the whole budget"):
            await engine.load_model("huge")


async def test_a_busy_model_is_not_evicted(tmp_path: Path) -> None:
    add_version(tmp_path, "slow", 1, size=6 * MiB)
    add_version(tmp_path, "other", 1, size=6 * MiB)
    running, release = asyncio.Event(), asyncio.Event()

    async def held(index: int, fn: Callable[[Any], Any], arg: Any) -> Any:
        running.set()
        await release.wait()  # the batch is on the device until the test lets it go
        return fn(arg)

    settings = EngineSettings(repository=tmp_path, models=("slow",), memory_budget={"cpu": 9 * MiB})
    async with Engine(settings, probe=FlatMemory(), run_sync=held) as engine:
        request = asyncio.create_task(answer(engine, "slow"))
        await running.wait()
        with pytest.raises(MemoryBudgetError, match=r"busy now \(slow\) cannot be evicted"):
            await engine.load_model("other")
        release.set()
        assert await request == 3
        await engine.load_model("other")  # now slow is idle and goes
        assert {s.name: s.state for s in engine.statuses()} == {
            "slow": ModelState.UNAVAILABLE,
            "other": ModelState.READY,
        }


async def test_real_models_are_measured_by_resident_memory(lite0_dir: Path) -> None:
    settings = EngineSettings(repository=lite0_dir.parent, models=(lite0_dir.name,), instances=1)
    async with Engine(settings) as engine:
        model = engine.model(lite0_dir.name)
        weights = (lite0_dir / "1" / "model.onnx").stat().st_size
        assert model.memory >= weights


async def test_poll_picks_up_new_changed_and_removed_models(tmp_path: Path) -> None:
    add_version(tmp_path, "a", 1, offset=100)
    async with engine_for(tmp_path) as engine:
        first = engine._registry.model("a")
        await engine.poll_repository()
        assert engine._registry.model("a") is first  # nothing changed
        add_version(tmp_path, "b", 1)
        add_version(tmp_path, "a", 2, offset=200)
        await engine.poll_repository()
        assert await answer(engine, "a") == 203
        assert await answer(engine, "b") == 3
        (tmp_path / "a" / "config.yaml").write_text("name: a\nbackend: nope\n")
        await engine.poll_repository()  # broken now: the loaded version keeps serving
        assert await answer(engine, "a") == 203
        for path in sorted((tmp_path / "b").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (tmp_path / "b").rmdir()
        await engine.poll_repository()
        assert [s.name for s in engine.statuses()] == ["a"]


def test_sizes_and_budgets_parse() -> None:
    assert parse_size("512MiB") == 512 * MiB
    assert parse_size("2GB") == 2_000_000_000
    assert parse_size("1.5 GiB") == int(1.5 * 1024**3)
    assert parse_budget(["4GiB", "cuda:0=20GiB"]) == {"cpu": 4 * 1024**3, "cuda:0": 20 * 1024**3}
    with pytest.raises(Exception, match="memory size '4 parsecs' is not a size"):
        parse_size("4 parsecs")
    with pytest.raises(Exception, match="names device 'tpu:0'"):
        parse_budget(["tpu:0=1GiB"])
    with pytest.raises(Exception, match="names device 'cpu' twice"):
        parse_budget(["1GiB", "cpu=2GiB"])


def test_eviction_plan_takes_least_recently_used_idle_models() -> None:
    residents = [
        Resident("old", 4, last_used=1.0, idle=True),
        Resident("busy", 4, last_used=0.5, idle=False),
        Resident("new", 4, last_used=3.0, idle=True),
    ]
    assert plan_eviction(residents, need=2, budget=16) == []
    assert plan_eviction(residents, need=6, budget=16) == ["old"]
    assert plan_eviction(residents, need=10, budget=16) == ["old", "new"]
    assert plan_eviction(residents, need=13, budget=16) is None


async def test_classify_loads_an_evicted_image_model_again(
    tmp_path: Path, lite0_dir: Path, cat_jpeg: bytes
) -> None:
    import httpx

    from tensorgate.server.app import create_app

    for name in ("a", "b"):
        shutil.copytree(lite0_dir, tmp_path / name)
        config = tmp_path / name / "config.yaml"
        config.write_text(re.sub(r"(?m)^name: .*$", f"name: {name}", config.read_text()))
    size = (lite0_dir / "1" / "model.onnx").stat().st_size
    engine = engine_for(tmp_path, instances=1, memory_budget={"cpu": int(size * 1.5)})
    await engine.start()  # b evicted a
    try:
        transport = httpx.ASGITransport(app=create_app(engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for name in ("a", "b", "a"):
                response = await client.post(f"/v2/models/{name}/classify", content=cat_jpeg)
                assert response.status_code == 200, response.text
                (best, *_) = response.json()["results"][0]["predictions"]
                assert best["index"] in range(281, 286)  # a cat
                sources = await client.post(
                    f"/v2/models/{'b' if name == 'a' else 'a'}/classify/sources",
                    json={"sources": ["s3://not-allowed/cat.jpg"]},
                )
                assert sources.status_code == 200, sources.text
                assert sources.json()["results"][0]["status"] == 403  # the bucket, not the model
        cold = engine.metrics.render().decode()
        for name in ("a", "b"):  # each request for the evicted one loaded it again
            assert f'tensorgate_model_cold_start_seconds_count{{model="{name}"}} 2.0' in cold
    finally:
        await engine.stop()


async def test_errors_for_clients_name_no_server_path(tmp_path: Path) -> None:
    """Load errors and index reasons say where in the repository, never where on disk."""
    add_version(tmp_path, "good", 1)
    real = os.path.realpath(tmp_path)  # noqa: ASYNC240 (once, before the engine runs)
    async with engine_for(tmp_path) as engine:
        (tmp_path / "bad" / "1").mkdir(parents=True)
        (tmp_path / "bad" / "config.yaml").write_text("name: bad\nmax_batch_size: -3\n")
        add_version(tmp_path, "nofile", 1, fail="no weights")
        messages = []
        for name, error in [
            ("bad", ModelLoadError),
            ("nofile", ModelLoadError),
            ("missing", ModelNotFoundError),
        ]:
            with pytest.raises(error) as info:
                await engine.load_model(name)
            messages.append(info.value.message)
        messages += [s.reason for s in engine.statuses()]
        assert "bad/config.yaml: field 'max_batch_size' is -3" in messages[0]
        assert "nofile/1/model.fake: no weights" in messages[1]
        assert messages[2] == "model 'missing' is not in the repository; it has bad, good, nofile"
        for message in messages:
            assert str(tmp_path) not in message
            assert real not in message
