"""Load, unload and inference racing on one model, on a seeded random schedule: every
request is answered (or refused with a defined error), nothing deadlocks, and the
memory accounting and in-flight counters return to where they started."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tensorgate.engine import Engine
from tensorgate.errors import (
    ModelNotAvailableError,
    ModelNotReadyError,
    QueueFullError,
    ShuttingDownError,
)
from tests.test_registry import X, add_version, engine_for

#: The answers a request may get while its model is unloaded or swapped under it, or
#: its queue is full (400, 503).
REFUSED = (ModelNotAvailableError, ModelNotReadyError, QueueFullError, ShuttingDownError)


def memory(engine: Engine) -> int:
    return sum(view.memory for view in engine.statistics())


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_load_unload_and_inference_race(tmp_path: Path, seed: int) -> None:
    add_version(tmp_path, "m", 1, size=4096, delay_s=0.001)
    add_version(tmp_path, "n", 1, size=2048)
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    async with engine_for(tmp_path, request_timeout_s=10.0) as engine:
        start = memory(engine)

        async def infer() -> None:
            try:
                answer = await engine.infer("m", {"x": X})
                np.testing.assert_array_equal(answer["y"], [[3, 4]])
                outcomes["answered"] += 1
            except REFUSED as exc:
                outcomes[type(exc).__name__] += 1

        async def control(action: str) -> None:
            await getattr(engine, action)("m")
            outcomes[action] += 1

        tasks: list[asyncio.Task[None]] = []
        requests = 0
        for _ in range(400):
            draw = rng.random()
            if draw < 0.85:
                tasks.append(asyncio.create_task(infer()))
                requests += 1
            elif draw < 0.93:
                tasks.append(asyncio.create_task(control("unload_model")))
            else:
                tasks.append(asyncio.create_task(control("load_model")))
            for _ in range(rng.randrange(3)):  # interleave at random points
                await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)  # no deadlock, nothing lost
        answered = sum(outcomes[k] for k in ("answered", *(e.__name__ for e in REFUSED)))
        assert answered == requests, outcomes
        assert outcomes["answered"] > 0
        assert outcomes["unload_model"] > 0
        await engine.load_model("m")
        assert engine.ready
        assert memory(engine) == start, "memory accounting drifted"
        await engine.infer("m", {"x": X})
        assert engine.statistics("m")[0].counters.inference_count > 0
        assert await engine.drain(1.0), "a request is still counted in flight"
    print(dict(outcomes))
