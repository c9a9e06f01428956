"""``serve --workers N``: several server processes behind one HTTP and one gRPC port.

One process serves at most what its GIL allows (docs/perf.md: about 1.7 ms of GIL per
JPEG image, so near 600 images/s whatever the cores). Past that, a supervisor starts
``N`` worker processes, each a whole server (engine, batchers, instances) that binds
the same ports with ``SO_REUSEPORT``; the kernel spreads new connections over them.

- **Cores.** The supervisor splits its CPU affinity into ``N`` contiguous shares and
  pins each worker to one (a worker with more workers than cores shares a core). Inside
  a worker everything sized "one per core" (instances, gate slots, decode threads,
  pinning) then sizes itself to its share.
- **Memory.** Each worker loads its own copy of every model, so a budget given with
  ``--memory-budget`` is divided: each worker gets ``budget // N`` per device, and the
  workers together stay within the budget asked for.
- **One server to the outside.** The supervisor reserves both ports before any worker
  starts (so port 0 works), prints one ``listening`` line once every worker is ready,
  forwards SIGTERM / SIGINT to the workers (each drains as a single server does) and
  exits 0 when all of them did. A worker that dies while serving is started again; one
  that dies before it was ever ready fails the start.
- **Metrics.** The workers write their Prometheus values into one directory
  (``PROMETHEUS_MULTIPROC_DIR``, made and removed by the supervisor), so ``/metrics``
  answers the totals of all workers whichever one it reaches.
- **Not shared.** Model control (load / unload) would reach one worker only, so it is
  refused with workers; ``/v2/.../stats`` and the console describe the worker that
  answered.

The plan (:func:`plan_workers`) is pure; :func:`supervise` does the processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import Any

from tensorgate.config import EngineSettings, ServerSettings
from tensorgate.errors import ConfigError
from tensorgate.logs import event

__all__ = ["WorkerPlan", "plan_workers", "split_cores", "supervise"]

log = logging.getLogger("tensorgate.server")

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """What one worker runs: its index, the cores it is pinned to, its settings."""

    index: int
    cores: tuple[int, ...]
    engine: EngineSettings
    server: ServerSettings


def split_cores(cores: Sequence[int], count: int) -> list[tuple[int, ...]]:
    """``count`` contiguous, nearly equal shares of ``cores`` (a core each, round robin,
    when there are more workers than cores)."""
    ordered = sorted(cores)
    if count >= len(ordered):
        return [(ordered[i % len(ordered)],) for i in range(count)]
    size, extra = divmod(len(ordered), count)
    shares: list[tuple[int, ...]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        shares.append(tuple(ordered[start:end]))
        start = end
    return shares


def plan_workers(
    count: int,
    engine: EngineSettings,
    server: ServerSettings,
    cores: Sequence[int],
    *,
    http_port: int,
    grpc_port: int | None,
) -> list[WorkerPlan]:
    """One plan per worker: its share of ``cores``, its share of the memory budget, and
    the reserved ports bound with ``SO_REUSEPORT``.

    Raises:
        ConfigError: fewer than one worker, no cores, or model control with workers.
    """
    if count < 1:
        raise ConfigError(f"--workers is {count}; it must be at least 1")
    if not cores:
        raise ConfigError("this process may run on no CPU core; check its affinity mask")
    if server.model_control and count > 1:
        raise ConfigError(
            f"--model-control with --workers {count}: a load or unload would reach one "
            "worker only; run one worker to control models, or change the repository and "
            "let --repository-poll load it in every worker"
        )
    budget = {device: size // count for device, size in engine.memory_budget.items()}
    worker_engine = replace(engine, memory_budget=budget)
    worker_server = replace(server, port=http_port, grpc_port=grpc_port, reuse_port=True)
    return [
        WorkerPlan(index, share, worker_engine, worker_server)
        for index, share in enumerate(split_cores(cores, count))
    ]


def _die_with_parent() -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux), so a
    supervisor killed outright leaves no worker behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the supervisor's own exit path only
        pass


def _worker_main(plan: WorkerPlan, log_level: str, ready: Connection) -> None:
    """A worker process: pinned to its cores, then a whole server."""
    _die_with_parent()
    # Its own process group: a terminal's Ctrl-C reaches the supervisor only, which
    # forwards it once (a second copy would force an exit mid-drain).
    os.setpgid(0, 0)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, plan.cores)
    from tensorgate.server.runner import serve

    def on_ready(url: str, grpc: str | None) -> None:
        ready.send((url, grpc))

    serve(
        plan.engine,
        plan.server,
        log_level=log_level,
        on_ready=on_ready,
        log_fields={"worker": plan.index},
    )


def _reserve(host: str, port: int) -> socket.socket:
    """Bind (not listen) ``host:port`` with SO_REUSEPORT: the port is ours, picked by the
    kernel when 0, and no connection is ever queued on this socket."""
    from tensorgate.server.runner import bind_socket

    try:
        return bind_socket(host, port, reuse_port=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot bind {host}:{port}: {exc.strerror}; the port is taken or not "
            "allowed — pick another"
        ) from None


class _Supervisor:
    """Starts the workers, restarts one that dies while serving, forwards signals."""

    def __init__(self, plans: list[WorkerPlan], log_level: str) -> None:
        self._plans = plans
        self._log_level = log_level
        self._context = multiprocessing.get_context("spawn")
        self._processes: dict[int, Any] = {}
        self._pipes: dict[int, Connection] = {}
        self._ready: set[int] = set()
        self._announced = False
        self._stopping = False
        self._failed = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._signals = 0  # received, not yet forwarded

    def _start(self, plan: WorkerPlan) -> None:
        receive, send = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker_main,
            args=(plan, self._log_level, send),
            name=f"tensorgate-worker-{plan.index}",
        )
        process.start()
        send.close()
        self._processes[plan.index] = process
        self._pipes[plan.index] = receive
        event(
            log, logging.INFO, "worker started",
            worker=plan.index, pid=process.pid, cores=list(plan.cores),
        )  # fmt: skip

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        with contextlib.suppress(OSError):  # full: a wake-up is already pending
            self._wake_w.send(b"\0")

    def run(self, on_ready: Callable[[str, str | None], None]) -> int:
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, self._on_signal)
        for plan in self._plans:
            self._start(plan)
        urls: tuple[str, str | None] | None = None
        while self._processes:
            waiting: list[Any] = [self._wake_r]
            waiting += [p.sentinel for p in self._processes.values()]
            waiting += [self._pipes[i] for i in self._processes if i not in self._ready]
            for item in wait(waiting):
                if item is self._wake_r:
                    self._forward_signals()
                elif isinstance(item, Connection):
                    urls = self._take_ready(item) or urls
                else:
                    self._reap(item)
            if urls is not None and not self._announced and len(self._ready) == len(self._plans):
                self._announced = True
                on_ready(*urls)
        return 1 if self._failed else 0

    def _forward_signals(self) -> None:
        with contextlib.suppress(BlockingIOError):  # drained the wake-ups
            while self._wake_r.recv(64):
                pass
        while self._signals:  # each signal once: a second one forces the workers' exit
            self._signals -= 1
            self._stopping = True
            self._terminate_all()

    def _terminate_all(self) -> None:
        for process in self._processes.values():
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    @staticmethod
    def _forget_metrics(pid: int) -> None:
        """Drop a dead worker's live gauges (its counters still count in the totals)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(pid)  # type: ignore[no-untyped-call]

    def _take_ready(self, pipe: Connection) -> tuple[str, str | None] | None:
        index = next((i for i, p in self._pipes.items() if p is pipe), None)
        if index is None:  # its worker was reaped earlier in this round
            return None
        try:
            url, grpc = pipe.recv()
        except (EOFError, OSError):  # the worker died; its sentinel says so
            return None
        self._ready.add(index)
        return str(url), None if grpc is None else str(grpc)

    def _reap(self, sentinel: Any) -> None:
        index = next(i for i, p in self._processes.items() if p.sentinel == sentinel)
        process = self._processes.pop(index)
        process.join()
        code = process.exitcode
        self._pipes.pop(index).close()
        was_ready = index in self._ready
        self._ready.discard(index)
        event(log, logging.INFO, "worker exited", worker=index, pid=process.pid, exitcode=code)
        if self._stopping:
            # Stopped as asked: drained (0), or killed by the forwarded SIGTERM while
            # still starting, before its server had a handler for it.
            if code not in (0, -signal.SIGTERM):
                self._failed = True
            return
        if not was_ready:
            # It never served: a second try would fail the same way. Stop the rest.
            log.error(
                "worker %d exited with %s before it was ready; stopping", index, code,
                extra={"worker": index, "exitcode": code},
            )  # fmt: skip
            self._failed = True
            self._stopping = True
            self._terminate_all()
            return
        self._forget_metrics(process.pid)
        log.warning(
            "worker %d exited with %s while serving; starting it again", index, code,
            extra={"worker": index, "exitcode": code},
        )  # fmt: skip
        self._start(self._plans[index])


def supervise(
    count: int,
    engine_settings: EngineSettings,
    server_settings: ServerSettings,
    *,
    log_level: str = "info",
    on_ready: Callable[[str, str | None], None] | None = None,
) -> int:
    """Serve with ``count`` worker processes until SIGTERM / SIGINT; return the exit
    status (0 when every worker drained and exited cleanly)."""
    from tensorgate.engine import preflight
    from tensorgate.logs import configure_logging
    from tensorgate.server.runner import announce

    preflight(engine_settings)  # a missing repository or model fails here, once
    configure_logging(log_level, worker="supervisor")
    host = server_settings.host
    http = _reserve(host, server_settings.port)
    grpc = None if server_settings.grpc_port is None else _reserve(host, server_settings.grpc_port)
    if hasattr(os, "sched_getaffinity"):
        cores: tuple[int, ...] = tuple(sorted(os.sched_getaffinity(0)))
    else:  # no affinity here: the workers share every core
        cores = tuple(range(os.cpu_count() or 1))
    metrics = tempfile.mkdtemp(prefix="tensorgate-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics  # the workers inherit it
    try:
        plans = plan_workers(
            count,
            engine_settings,
            server_settings,
            cores,
            http_port=http.getsockname()[1],
            grpc_port=None if grpc is None else grpc.getsockname()[1],
        )
        return _Supervisor(plans, log_level).run(on_ready or announce)
    finally:
        http.close()
        if grpc is not None:
            grpc.close()
        shutil.rmtree(metrics, ignore_errors=True)
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
