"""Soak: N minutes of mixed traffic at about 70 % of measured capacity.

    .venv/bin/python -m bench.soak --minutes 60

One server (efficientnet-lite0, two instances, and the tiny ``add_sub_fp32`` model for
V2 tensors), model control on. Capacity: 10 s of closed-loop ``/classify`` from 8
callers. Then, open loop at 70 % of it: 45 % classify a JPEG, 25 % a PNG, 15 % V2 infer
of tensors, 10 % corrupt images (400 expected), 5 % clients that disconnect mid-request;
every minute efficientnet-lite0 is reloaded (a new copy swaps in under load). The
server's RSS is sampled every 10 s.

Verdict (printed, and the exit status): between the baseline (minute 5, or 40 % into a
shorter run) and the end RSS grows by at most max(5 %, 50 MB); the p99 of the last
tenth of answered requests is within 10 % of the first tenth's (``--tail-factor``); no
unexpected error (anything but 200, and 400 for the corrupt images).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.fixtures import lite0_repository
from tensorgate.server.process import spawn_server

TOKEN = "soak-control-token"
MiB = 1024 * 1024


def photos() -> tuple[bytes, bytes, bytes]:
    from PIL import Image
    from skimage import data

    cat, coffee = io.BytesIO(), io.BytesIO()
    Image.fromarray(data.chelsea()).save(cat, format="JPEG", quality=90)
    Image.fromarray(data.coffee()).save(coffee, format="PNG")
    return cat.getvalue(), coffee.getvalue(), cat.getvalue()[:2000]


def print_minutes(
    answered: list[tuple[float, float]], samples: list[tuple[float, int]], seconds: float
) -> None:
    """A line per minute (or per tenth of a shorter run): answers, p50 / p99, RSS."""
    step = min(60.0, seconds / 10)
    print(f"{'from s':>7} {'answered/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8}")
    at = 0.0
    while at < seconds:
        here = sorted(lat for when, lat in answered if at <= when < at + step)
        memory = [m for t, m in samples if at <= t < at + step]
        if here:
            print(
                f"{at:7.0f} {len(here) / step:10.1f} {here[len(here) // 2] * 1000:8.1f} "
                f"{here[int(0.99 * (len(here) - 1))] * 1000:8.1f} "
                f"{(max(memory) if memory else 0) / MiB:8.0f}"
            )
        at += step


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def capacity(url: str, image: bytes, seconds: float) -> float:
    done = 0
    stop = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=30) as client:

        async def caller() -> None:
            nonlocal done
            while time.monotonic() < stop:
                if (await client.post(url, content=image)).status_code == 200:
                    done += 1

        await asyncio.gather(*(caller() for _ in range(8)))
    return done / seconds


async def soak(
    base: str,
    pid: int,
    repo: Path,
    minutes: float,
    rate: float,
    reload_s: float,
    tail_factor: float = 1.10,
) -> bool:
    cat, coffee, corrupt = photos()
    classify = f"{base}/v2/models/efficientnet-lite0/classify"
    tensors = {
        "inputs": [
            {"name": n, "shape": [1, 16], "datatype": "FP32", "data": list(range(16))}
            for n in ("INPUT0", "INPUT1")
        ]
    }
    rng = random.Random(0)
    seconds = minutes * 60
    started = time.monotonic()
    answered: list[tuple[float, float]] = []  # (when, latency)
    unexpected: list[str] = []
    counts: dict[str, int] = {}
    samples: list[tuple[float, int]] = []

    async def one(client: httpx.AsyncClient, kind: str) -> None:
        try:
            await exchange(client, kind)
        except httpx.TransportError as exc:  # a connection the server dropped: unexpected
            unexpected.append(f"{kind}: {type(exc).__name__} {exc}")

    async def exchange(client: httpx.AsyncClient, kind: str) -> None:
        counts[kind] = counts.get(kind, 0) + 1
        began = time.monotonic()
        if kind == "disconnect":
            request = asyncio.ensure_future(client.post(classify, content=cat))
            await asyncio.sleep(0.005)
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)
            return
        if kind == "infer":
            answer = await client.post(f"{base}/v2/models/add_sub_fp32/infer", json=tensors)
        else:
            body = {"jpeg": cat, "png": coffee, "corrupt": corrupt}[kind]
            answer = await client.post(classify, content=body)
        expected = 400 if kind == "corrupt" else 200
        if answer.status_code != expected:
            unexpected.append(f"{kind}: {answer.status_code} {answer.text[:120]}")
        elif expected == 200:
            answered.append((began - started, time.monotonic() - began))

    async def reload_every_minute(client: httpx.AsyncClient) -> None:
        config = repo / "efficientnet-lite0" / "config.yaml"
        while reload_s > 0:
            await asyncio.sleep(reload_s)
            os.utime(config)  # a changed config: the load builds a new copy
            answer = await client.post(
                f"{base}/v2/repository/models/efficientnet-lite0/load",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            counts["reload"] = counts.get("reload", 0) + 1
            if answer.status_code != 200:
                unexpected.append(f"reload: {answer.status_code} {answer.text[:120]}")

    async def sample_memory() -> None:
        while True:
            samples.append((time.monotonic() - started, rss(pid)))
            await asyncio.sleep(10)

    kinds = ["jpeg"] * 45 + ["png"] * 25 + ["infer"] * 15 + ["corrupt"] * 10 + ["disconnect"] * 5
    # Idle connections are let go before the server's 5 s keep-alive timeout closes them,
    # as a well-configured client does (reusing one the server is closing is a race).
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=4.0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        background = [asyncio.ensure_future(reload_every_minute(client)),
                      asyncio.ensure_future(sample_memory())]  # fmt: skip
        pending: set[asyncio.Future[None]] = set()
        next_at = started
        while time.monotonic() - started < seconds:
            next_at += rng.expovariate(rate)  # Poisson arrivals
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            task = asyncio.ensure_future(one(client, rng.choice(kinds)))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        for task in background:
            task.cancel()
        samples.append((time.monotonic() - started, rss(pid)))
    print_minutes(answered, samples, seconds)
    baseline_at = min(300.0, 0.4 * seconds)
    baseline = next(m for t, m in samples if t >= baseline_at)
    end = samples[-1][1]
    allowed = max(0.05 * baseline, 50 * MiB)
    tenth = max(1, len(answered) // 10)
    first = sorted(latency for _, latency in answered[:tenth])
    last = sorted(latency for _, latency in answered[-tenth:])
    p99_first = first[int(0.99 * (len(first) - 1))]
    p99_last = last[int(0.99 * (len(last) - 1))]
    memory_ok = end - baseline <= allowed
    tail_ok = p99_last <= tail_factor * p99_first
    print(f"{minutes:g} min at {rate:.1f} req/s: {dict(sorted(counts.items()))}")
    print(
        f"RSS: {baseline / MiB:.0f} MiB at {baseline_at / 60:.1f} min -> {end / MiB:.0f} MiB at "
        f"the end ({(end - baseline) / MiB:+.1f} MiB; allowed {allowed / MiB:.0f}) "
        f"{'ok' if memory_ok else 'FAIL'}"
    )
    print(
        f"p99 first tenth {p99_first * 1000:.1f} ms, last tenth {p99_last * 1000:.1f} ms "
        f"({p99_last / p99_first:.2f}x; allowed {tail_factor:.2f}x) {'ok' if tail_ok else 'FAIL'}; "
        f"median {statistics.median(latency for _, latency in answered) * 1000:.1f} ms"
    )
    print(
        f"unexpected errors: {len(unexpected)}"
        + (f" (first: {unexpected[0]})" if unexpected else "")
    )
    passed = memory_ok and tail_ok and not unexpected
    print(f"verdict: {'pass' if passed else 'FAIL'}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--load", type=float, default=0.7, help="share of capacity")
    parser.add_argument("--reload-every", type=float, default=60.0, help="seconds; 0: never")
    parser.add_argument(
        "--tail-factor", type=float, default=1.10,
        help="the last tenth's p99 may be this many times the first tenth's (a short run's "
        "tenths are a few hundred answers, whose p99 alone moves ±2x on a 2-vCPU VM)",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tensorgate-soak-") as scratch:
        repo = lite0_repository(Path(scratch), tensors=True)
        with spawn_server(
            repo, "--instances", "2", "--model-control", "--control-token", TOKEN
        ) as server:
            url = f"{server.url}/v2/models/efficientnet-lite0/classify"
            cat = photos()[0]
            asyncio.run(capacity(url, cat, 3.0))  # warm-up
            measured = asyncio.run(capacity(url, cat, 10.0))
            print(f"capacity: {measured:.1f} img/s (8 callers, closed loop)")
            passed = asyncio.run(
                soak(
                    server.url,
                    server.process.pid,
                    repo,
                    args.minutes,
                    args.load * measured,
                    args.reload_every,
                    args.tail_factor,
                )
            )
    raise SystemExit(0 if passed else 1)


if __name__ == "__main__":
    main()
