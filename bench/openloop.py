"""An open-loop HTTP/1.1 load generator with Poisson arrivals, for the overload figures.

    python -m bench.openloop HOST:PORT PATH BODY_FILE RATE SECONDS [CONTENT_TYPE]

Prints one JSON line: every request's status, latency and whether it carried
``Retry-After``. Each request's latency runs from the moment it was *scheduled* to
arrive (no coordinated omission), over keep-alive connections taken from a pool (a new
one is opened when none is idle). Arrivals are exponential gaps at RATE per second:
the bursts of a real crowd, without the lock-step of tools whose workers share one
ticker (hey's ``-q`` fires all its workers in the same millisecond, which measures how
fast a server drains a 400-request burst rather than how fast it refuses one request).

Run it in its own process, ideally at a higher priority than the server
(``nice -n -10`` as root), so that its own timing does not wait for cores the server
saturates — as if it ran on another machine.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path

__all__ = ["open_loop"]


async def open_loop(
    host: str,
    port: int,
    request: bytes,
    rate: float,
    seconds: float,
    *,
    seed: int = 0,
) -> list[tuple[int, float, bool]]:
    """(status, seconds from scheduled arrival to the whole answer, Retry-After seen)
    for every request of a Poisson process at ``rate`` per second over ``seconds``."""
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    results: list[tuple[int, float, bool]] = []
    rng = random.Random(seed)

    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[int, dict[str, str]]:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        await reader.readexactly(int(headers.get("content-length", "0")))
        return int(lines[0].split()[1]), headers

    async def one(scheduled: float) -> None:
        reused = bool(idle)
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
        try:
            try:
                status, headers = await exchange(reader, writer)
            except asyncio.IncompleteReadError as exc:
                if not (reused and not exc.partial):
                    raise
                # The server closed the idle connection (its keep-alive timeout) as we
                # reused it: like any HTTP client, try once more on a new connection.
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                status, headers = await exchange(reader, writer)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            results.append((0, time.perf_counter() - scheduled, False))
            writer.close()
            return
        results.append((status, time.perf_counter() - scheduled, "retry-after" in headers))
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            idle.append((reader, writer))

    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()
    at = start
    while at - start < seconds:
        at += rng.expovariate(rate)
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(one(at))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return results


def http_post(path: str, body: bytes, content_type: str = "image/jpeg") -> bytes:
    """One keep-alive POST request's bytes."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: tensorgate\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def main() -> None:
    address, path, body_file, rate, seconds = sys.argv[1:6]
    content_type = sys.argv[6] if len(sys.argv) > 6 else "image/jpeg"
    host, port = address.rsplit(":", 1)
    request = http_post(path, Path(body_file).read_bytes(), content_type)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    results = asyncio.run(open_loop(host, int(port), request, float(rate), float(seconds)))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
