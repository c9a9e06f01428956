"""The model registry: which model versions serve, and every change to that.

It loads what the repository holds, swaps in new versions beside the old ones (traffic
moves in one assignment; the old version drains what it accepted), unloads on request,
evicts the least recently used idle models when a device's memory budget would be
exceeded, loads an evicted model again when a request names it, and re-reads the
repository when polled. One change runs at a time (an ``asyncio.Lock``): memory is
measured as the growth of the device's use while one model loads.

Building and closing a model version are the engine's business; the registry calls
them through the two callables it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from tensorgate.batching.batcher import Batcher
from tensorgate.batching.buckets import sessions
from tensorgate.errors import (
    ConfigError,
    InvalidInputError,
    MemoryBudgetError,
    ModelLoadError,
    ModelNotAvailableError,
    ModelNotFoundError,
    ModelNotReadyError,
    TensorgateError,
)
from tensorgate.imaging.preprocess import ImageTransform
from tensorgate.memory import MemoryProbe, Resident, format_bytes, plan_eviction
from tensorgate.metrics.prometheus import Metrics
from tensorgate.metrics.stats import ModelStatistics
from tensorgate.repository.manifest import NAME_PATTERN, ModelConfig
from tensorgate.repository.store import BrokenModel, ModelEntry, scan_model, scan_repository
from tensorgate.runtimes.backends import backend_named
from tensorgate.runtimes.base import Runtime
from tensorgate.types import ModelKey
from tensorgate.views import ModelState, ModelStatus

__all__ = ["LoadedModel", "ModelState", "ModelStatus", "Registry"]

log = logging.getLogger("tensorgate.registry")

#: Why a model that is not served now was taken down (its status reason).
UNLOADED = "unloaded by request; load it again through the repository API"
EVICTED = "evicted to fit the memory budget; the next request loads it again"


@dataclass(eq=False, slots=True)
class LoadedModel:
    """One READY model version: its effective config, instances, batcher and counters.

    ``retired`` turns True when a newer copy replaced it or it was unloaded: it then only
    drains what it accepted. ``inflight`` counts requests between lookup and answer;
    ``decoding`` the images admitted but not yet queued (they count against the queue's
    bound, so image requests are refused before they are decoded, not after).
    """

    key: ModelKey
    config: ModelConfig
    runtimes: list[Runtime]
    batcher: Batcher
    stats: ModelStatistics
    preprocess: ImageTransform | None
    shutdown: Callable[[], None]
    load_seconds: float
    device: str = "cpu"
    memory: int = 0
    retired: bool = False
    inflight: int = 0
    decoding: int = 0
    last_used: float = 0.0

    @property
    def platform(self) -> str:
        return backend_named(self.config.backend).platform

    @property
    def idle(self) -> bool:
        return self.inflight == 0 and not self.batcher.busy


#: Builds one version: (entry, version, model file, device) → a started LoadedModel.
Build = Callable[[ModelEntry, int, Path, str], Awaitable[LoadedModel]]
#: Drains and frees a retired version.
Close = Callable[[LoadedModel], Awaitable[None]]
#: The device a model's instances run on.
DeviceOf = Callable[[ModelConfig], str]


def _stamp(entry: ModelEntry) -> tuple[tuple[int, int], dict[int, tuple[int, int]]]:
    """What the config and version files looked like when loaded (a change reloads)."""
    config = (entry.directory / "config.yaml").stat()
    files = {v: (p.stat().st_mtime_ns, p.stat().st_size) for v, p in entry.versions.items()}
    return (config.st_mtime_ns, config.st_size), files


def _version_bytes(path: Path) -> int:
    """Size of a version directory's files: the floor of what the version takes."""
    return sum(p.stat().st_size for p in path.parent.iterdir() if p.is_file())


@dataclass(slots=True)
class _Model:
    """The registry's record of one model name."""

    versions: dict[int, LoadedModel] = field(default_factory=dict)
    config_stamp: tuple[int, int] | None = None
    file_stamps: dict[int, tuple[int, int]] = field(default_factory=dict)


class Registry:
    """Model versions by name, their states, and the operations that change them.

    Args:
        root: the model repository.
        build: builds and starts one version (runs the loading off the event loop).
        close: drains and frees a retired version.
        device_of: the device a config's instances use.
        probe: reads device memory in use.
        budget: bytes allowed per device (devices absent: unlimited).
        metrics: where load, memory, eviction and cold-start figures go.
        only: model names to serve (empty: every model).
        now: monotonic clock for least-recently-used order.
    """

    def __init__(
        self,
        root: Path,
        *,
        build: Build,
        close: Close,
        device_of: DeviceOf,
        probe: MemoryProbe,
        budget: dict[str, int],
        metrics: Metrics,
        only: tuple[str, ...] = (),
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._root = root
        self._build = build
        self._close = close
        self._device_of = device_of
        self._probe = probe
        self._budget = dict(budget)
        self._metrics = metrics
        self._only = set(only)
        self._now = now
        self._models: dict[str, _Model] = {}
        self._status: dict[tuple[str, int | None], ModelStatus] = {}
        self._evicted: set[str] = set()
        self._dormant: set[str] = set()
        self._sizes: dict[tuple[str, int], int] = {}
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------------ queries
    def statuses(self) -> list[ModelStatus]:
        """Every model version known, sorted by name and version."""
        return sorted(self._status.values(), key=lambda s: (s.name, s.version or 0))

    def loaded(self) -> list[LoadedModel]:
        """Every version serving now, by name and version."""
        return [
            m for n in sorted(self._models) for _, m in sorted(self._models[n].versions.items())
        ]

    def versions(self, name: str) -> dict[int, LoadedModel]:
        record = self._models.get(name)
        return dict(record.versions) if record else {}

    @property
    def ready(self) -> bool:
        """Every model that should serve has a READY version (unloaded ones aside)."""
        names = {s.name for s in self._status.values()} - self._dormant
        return all(self._models.get(n) and self._models[n].versions for n in names)

    def model(self, name: str, version: int | None = None) -> LoadedModel:
        """The serving version (the highest when ``version`` is None).

        Raises:
            ModelNotFoundError: no such model or version.
            ModelNotReadyError: it exists but nothing of it serves.
        """
        record = self._models.get(name)
        if record and record.versions:
            if version is None:
                return record.versions[max(record.versions)]
            if version in record.versions:
                return record.versions[version]
        known = [s for s in self._status.values() if s.name == name]
        if not known:
            raise ModelNotFoundError(
                f"model {name!r} is not served here; models: "
                f"{', '.join(sorted({s.name for s in self._status.values()})) or 'none'}"
            )
        match = [s for s in known if version is None or s.version == version]
        if not match:
            served = sorted(s.version for s in known if s.version is not None)
            raise ModelNotFoundError(
                f"model {name!r} has no version {version}; versions: {served or 'none'}"
            )
        worst = sorted(match, key=lambda s: s.version or 0)[-1]
        reason = f": {worst.reason}" if worst.reason else ""
        if name in self._dormant and name not in self._evicted:
            # Unloaded by request: retrying will not help until a load request brings it
            # back, so this is no 503 that clients retry (Triton answers the same way).
            raise ModelNotAvailableError(
                f"Request for unknown model: {name!r} has no available versions; "
                f"it is {worst.state.value}{reason}"
            )
        raise ModelNotReadyError(f"model {name!r} is {worst.state.value}{reason}")

    async def acquire(self, name: str, version: int | None = None) -> LoadedModel:
        """Like ``model`` but loads an evicted model again first (a cold start)."""
        if name in self._evicted and not self.versions(name):
            started = time.perf_counter()
            await self.load(name)
            self._metrics.cold_start.labels(name).observe(time.perf_counter() - started)
        model = self.model(name, version)
        model.last_used = self._now()
        return model

    # --------------------------------------------------------------- operations
    async def start(self) -> None:
        """Load every model of the repository (or those in ``only``)."""
        async with self._lock:
            for entry in scan_repository(self._root):
                if self._only and entry.name not in self._only:
                    continue
                await self._apply(entry, raise_errors=False)

    async def load(self, name: str) -> None:
        """Load (or reload) ``name`` from the repository: new and changed versions load
        beside the serving ones, then traffic switches to them at once; versions the
        policy no longer selects drain and unload. Loading what already serves unchanged
        does nothing.

        Raises:
            InvalidInputError: ``name`` is not a valid model name.
            ModelNotFoundError: the repository has no such model directory.
            ModelLoadError: it (or one of its versions) failed; what served keeps serving.
            MemoryBudgetError: it does not fit the memory budget.
        """
        directory = self._directory(name)
        async with self._lock:
            try:
                entry: ModelEntry | BrokenModel = scan_model(self._root, directory)
            except ConfigError as exc:
                entry = BrokenModel(name, directory, exc.message)
            await self._apply(entry, raise_errors=True)

    async def replace(self, name: str, version: int) -> None:
        """Build a fresh copy of a serving version and swap it in (a hung instance's
        way out): the old copy retires as on any reload.

        Raises:
            ModelLoadError, MemoryBudgetError: the copy failed; the old one keeps serving.
        """
        directory = self._directory(name)
        async with self._lock:
            record = self._models.get(name)
            if record is None or version not in record.versions:
                return  # unloaded or replaced meanwhile
            record.file_stamps[version] = (-1, -1)  # seen as changed: it is built again
            try:
                entry: ModelEntry | BrokenModel = scan_model(self._root, directory)
            except ConfigError as exc:
                entry = BrokenModel(name, directory, exc.message)
            await self._apply(entry, raise_errors=True)

    async def unload(self, name: str, reason: str = UNLOADED) -> None:
        """Stop serving ``name``: it leaves the routing table at once, then drains.

        Raises:
            ModelNotFoundError: the registry has never heard of ``name``.
        """
        async with self._lock:
            if not any(s.name == name for s in self._status.values()):
                raise ModelNotFoundError(
                    f"model {name!r} is not loaded and was never loaded; nothing to unload"
                )
            await self._take_down(name, reason)
            self._evicted.discard(name)

    async def poll(self) -> None:
        """Re-read the repository: load new models, new or changed versions and configs;
        unload models whose directory went away. Unloaded and evicted models stay down.
        Failures are logged (and shown in the index); the old versions keep serving."""
        async with self._lock:
            on_disk = {}
            if self._root.is_dir():
                on_disk = {
                    d.name: d
                    for d in self._root.iterdir()
                    if d.is_dir() and not d.name.startswith(".")
                }
            for name in sorted(set(self._models) | {s.name for s in self._status.values()}):
                if name not in on_disk:
                    await self._take_down(name, "removed from the repository")
                    for key in [k for k in self._status if k[0] == name]:
                        del self._status[key]
                    self._dormant.discard(name)
                    self._evicted.discard(name)
            for name, directory in sorted(on_disk.items()):
                if name in self._dormant or (self._only and name not in self._only):
                    continue
                try:
                    entry: ModelEntry | BrokenModel = scan_model(self._root, directory)
                except ConfigError as exc:
                    entry = BrokenModel(name, directory, exc.message)
                await self._apply(entry, raise_errors=False)

    async def stop(self) -> None:
        """Drain and free every version."""
        async with self._lock:
            models = self.loaded()
            self._models.clear()
            for model in models:
                model.retired = True
            await asyncio.gather(*(self._close(m) for m in models), *self._retiring)

    # ----------------------------------------------------------------- internals
    def _public(self, text: str) -> str:
        """``text`` fit for clients: repository paths relative to the repository (the
        server's own file system is no business of theirs; logs keep the full paths)."""
        for root in {str(self._root.resolve()), str(self._root)}:
            text = text.replace(root + "/", "").replace(root, "<repository>")
        return text

    def _directory(self, name: str) -> Path:
        if not NAME_PATTERN.match(name):
            raise InvalidInputError(
                f"model name {name!r} is not valid; names are 1–64 letters, digits, '_', "
                "'.' or '-', starting with a letter or digit"
            )
        directory = self._root / name
        if directory.is_symlink():
            raise InvalidInputError(
                f"model directory {name!r} is a symlink; tensorgate loads only real "
                "directories inside the repository"
            )
        if not directory.is_dir():
            names = sorted(
                d.name for d in self._root.iterdir() if d.is_dir() and not d.name.startswith(".")
            )
            raise ModelNotFoundError(
                f"model {name!r} is not in the repository; it has {', '.join(names) or 'none'}"
            )
        return directory

    async def _apply(self, entry: ModelEntry | BrokenModel, *, raise_errors: bool) -> None:
        """Bring one model in line with its directory (the lock is held)."""
        name = entry.name
        self._dormant.discard(name)
        self._evicted.discard(name)
        record = self._models.setdefault(name, _Model())
        try:
            await self._apply_entry(entry, record, raise_errors=raise_errors)
        finally:
            if not record.versions and self._models.get(name) is record:
                del self._models[name]

    async def _apply_entry(
        self, entry: ModelEntry | BrokenModel, record: _Model, *, raise_errors: bool
    ) -> None:
        name = entry.name
        if isinstance(entry, BrokenModel):
            reason = self._public(entry.reason)
            message = f"model {name!r} cannot load: {reason}"
            if record.versions:
                message += f"; versions {sorted(record.versions)} keep serving"
            else:
                self._status[(name, None)] = ModelStatus(name, None, ModelState.UNAVAILABLE, reason)
            log.error("model unavailable", extra={"model": name, "reason": entry.reason})
            if raise_errors:
                raise ModelLoadError(message)
            return
        self._status.pop((name, None), None)
        config_stamp, file_stamps = _stamp(entry)
        config_changed = record.config_stamp is not None and record.config_stamp != config_stamp
        build = [
            v
            for v in entry.versions
            if v not in record.versions
            or config_changed
            or record.file_stamps.get(v) != file_stamps[v]
        ]
        device = self._device_of(entry.config)
        kept = [m for v, m in record.versions.items() if v in entry.versions and v not in build]
        failures: list[str] = []
        built: dict[int, LoadedModel] = {}
        try:
            estimate = sum(
                self._sizes.get((name, v)) or _version_bytes(entry.versions[v]) for v in build
            )
            await self._make_room(device, estimate + sum(m.memory for m in kept), keep=name)
            for version in build:
                try:
                    built[version] = await self._build_one(entry, version, device)
                except TensorgateError as exc:
                    reason = self._public(exc.message)
                    failures.append(f"version {version}: {reason}")
                    self._status[(name, version)] = ModelStatus(
                        name, version, ModelState.UNAVAILABLE, reason
                    )
            if built:
                measured = sum(m.memory for m in built.values()) + sum(m.memory for m in kept)
                await self._make_room(device, measured, keep=name)
        except MemoryBudgetError as exc:
            for model in built.values():
                model.retired = True
                await self._close(model)
            for version in build:
                if version not in record.versions:
                    self._status[(name, version)] = ModelStatus(
                        name, version, ModelState.UNAVAILABLE, exc.message
                    )
            if raise_errors:
                raise
            log.error("model does not fit", extra={"model": name, "reason": exc.message})
            return
        self._switch(entry, record, built, keep_old=bool(failures))
        record.config_stamp = config_stamp
        record.file_stamps.update({v: file_stamps[v] for v in built})
        if failures:
            message = f"model {name!r} did not load " + "; ".join(failures)
            if record.versions:
                message += f"; versions {sorted(record.versions)} keep serving"
            if raise_errors:
                raise ModelLoadError(message)

    async def _build_one(self, entry: ModelEntry, version: int, device: str) -> LoadedModel:
        name = entry.name
        path = entry.versions[version]
        if (name, version) not in self._status or (
            self._status[(name, version)].state is not ModelState.READY
        ):
            self._status[(name, version)] = ModelStatus(name, version, ModelState.LOADING)
        before = self._probe.used(device)
        model = await self._build(entry, version, path, device)
        after = self._probe.used(device)
        grown = after - before if before is not None and after is not None else 0
        # Freed pages of an earlier model (or of this one before its eviction) can be
        # reused without the resident size growing: never count less than the files, nor
        # less than this version measured the last time it loaded.
        model.memory = max(grown, _version_bytes(path), self._sizes.get((name, version), 0))
        model.last_used = self._now()
        self._sizes[(name, version)] = model.memory
        self._metrics.model_load.labels(name, str(version)).set(model.load_seconds)
        self._metrics.model_memory.labels(name, str(version), device).set(model.memory)
        log.info(
            "model ready",
            extra={
                "model": str(model.key),
                "instances": len(model.runtimes),
                # a padded GPU model's instance holds a session per batch size
                "sessions_per_instance": sessions(model.runtimes[0]),
                "device": device,
                "load_s": round(model.load_seconds, 3),
                "memory_mib": round(model.memory / 1024**2, 1),
            },
        )
        return model

    def _residents(self, device: str, keep: str) -> list[Resident]:
        """Models holding memory on ``device``, ``keep`` (the one loading) left out: its
        old versions leave when its new ones take over, so its size is counted anew."""
        residents = []
        for name, record in self._models.items():
            if name == keep:
                continue
            on_device = [m for m in record.versions.values() if m.device == device]
            if not on_device:
                continue
            residents.append(
                Resident(
                    name,
                    sum(m.memory for m in on_device),
                    max(m.last_used for m in on_device),
                    all(m.idle for m in on_device),
                )
            )
        return residents

    async def _make_room(self, device: str, need: int, *, keep: str) -> None:
        """Evict least recently used idle models so ``need`` more bytes fit."""
        budget = self._budget.get(device)
        if budget is None or need == 0:
            return
        if need > budget:
            raise MemoryBudgetError(
                f"model {keep!r} needs {format_bytes(need)} on {device}, more than the whole "
                f"budget of {format_bytes(budget)}; raise the budget (--memory-budget "
                f"{device}=SIZE) or serve a smaller model"
            )
        residents = self._residents(device, keep)
        plan = plan_eviction(residents, need, budget)
        if plan is None:
            used = sum(r.size for r in residents)
            busy = ", ".join(r.name for r in residents if not r.idle) or "none"
            raise MemoryBudgetError(
                f"model {keep!r} needs {format_bytes(need)} on {device}, where "
                f"{format_bytes(used)} of the {format_bytes(budget)} budget is held and the "
                f"models busy now ({busy}) cannot be evicted; retry later, unload a model "
                "or raise --memory-budget"
            )
        for name in plan:
            log.info("evicting model", extra={"model": name, "device": device})
            self._metrics.evictions.labels(name).inc()
            await self._take_down(name, EVICTED)
            self._evicted.add(name)

    def _switch(
        self,
        entry: ModelEntry,
        record: _Model,
        built: dict[int, LoadedModel],
        *,
        keep_old: bool,
    ) -> None:
        """Point traffic at the new versions in one assignment, then retire the old."""
        name = entry.name
        old = record.versions
        new = {v: m for v, m in old.items() if keep_old or v in entry.versions}
        new.update(built)
        record.versions = new
        for version in built:
            self._status[(name, version)] = ModelStatus(name, version, ModelState.READY)
        retired = [m for v, m in old.items() if new.get(v) is not m]
        for model in retired:
            model.retired = True
            if model.key.version not in new:
                self._status.pop((name, model.key.version), None)
        for model in retired:
            # Drain in the background: a swap must not wait for the old version's queue.
            task = asyncio.ensure_future(self._close(model))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _take_down(self, name: str, reason: str) -> None:
        record = self._models.pop(name, None)
        models = list(record.versions.values()) if record else []
        for model in models:
            model.retired = True
            self._status[(name, model.key.version)] = ModelStatus(
                name, model.key.version, ModelState.UNAVAILABLE, reason
            )
            with contextlib.suppress(KeyError):  # never set if it failed before measuring
                self._metrics.model_memory.remove(name, str(model.key.version), model.device)
        if not models and (name, None) not in self._status:
            for key in list(self._status):
                if key[0] == name:
                    self._status[key] = ModelStatus(name, key[1], ModelState.UNAVAILABLE, reason)
        self._dormant.add(name)
        await asyncio.gather(*(self._close(m) for m in models))
