"""The Engine: every door (HTTP, CLI, in-process) serves models through it.

It owns the registry of loaded model versions, one batcher per version, one gate per
device, the image decode pool, statistics and metrics. Its API is async::

    async with Engine(EngineSettings(repository=path)) as engine:
        outputs = await engine.infer("efficientnet-lite0", {"input": batch})
        labels = await engine.classify("efficientnet-lite0", [jpeg_bytes])
"""

from __future__ import annotations

import asyncio
import enum
import functools
import itertools
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from tensorgate.allocator import release_free_memory
from tensorgate.batching.batcher import Batcher, BatchRecord, Instance, RunSync, thread_runner
from tensorgate.batching.buckets import (
    PaddedRuntime,
    buckets,
    padded,
    pads,
    session_per_size,
)
from tensorgate.batching.clock import Clock, LoopClock, TimerHandle
from tensorgate.batching.deferred import Deferred, DeviceInputs
from tensorgate.batching.gate import DeviceGate
from tensorgate.batching.policy import BatchPolicy, entry_sizes
from tensorgate.config import EngineSettings
from tensorgate.devices import (
    Inventory,
    cpu_count,
    default_instances,
    discover,
    gate_slots,
    pinnable_cores,
    resolve_device,
)
from tensorgate.errors import (
    ConfigError,
    InvalidInputError,
    ModelLoadError,
    ModelNotAvailableError,
    ModelNotFoundError,
    QueueFullError,
    ShuttingDownError,
    TensorgateError,
)
from tensorgate.imaging.geometry import ImageGeometry, PreparedImage
from tensorgate.imaging.gpu import GpuImagePreprocessor, choose_preprocessor
from tensorgate.imaging.preprocess import ImagePreprocessor, ImageTransform
from tensorgate.imaging.spec import PostprocessSpec
from tensorgate.imaging.transforms import fixed_tensor_shape, tensor_dtype
from tensorgate.logs import event
from tensorgate.memory import MemoryProbe, ProcessMemory
from tensorgate.metrics.prometheus import CONTENT_TYPE, Metrics
from tensorgate.metrics.stats import BatchDurations, ModelStatistics
from tensorgate.pipelines.catalogues import Catalogues
from tensorgate.pipelines.crops import chosen
from tensorgate.pipelines.images import crops_of, open_full
from tensorgate.pipelines.plan import PipelinePlan, plan_pipeline
from tensorgate.protocol.answers import answer_json
from tensorgate.protocol.datatypes import numpy_dtype
from tensorgate.registry import UNLOADED, LoadedModel, Registry
from tensorgate.repository.manifest import ModelConfig
from tensorgate.repository.pipelines import CropStep, MatchStep, ModelStep, PipelineConfig
from tensorgate.repository.store import (
    BrokenModel,
    ModelEntry,
    scan_pipelines,
    scan_repository,
)
from tensorgate.runtimes.backends import BACKENDS
from tensorgate.runtimes.base import Runtime, RuntimeFactory, RuntimeOptions
from tensorgate.sources import Sources
from tensorgate.tasks import Decoder, decoder_named, task_named
from tensorgate.tasks.ctc import dictionary_from_metadata
from tensorgate.tasks.results import (
    Classes,
    Detection,
    Detections,
    Embedding,
    Matches,
    TaskAnswer,
    TextRegion,
    TextRegions,
)
from tensorgate.timing import current_timing, stage
from tensorgate.types import Array, Classification, ModelKey, Tensors, TensorSpec
from tensorgate.validation import check_inputs, check_outputs
from tensorgate.views import (
    ClassifyResult,
    InferResult,
    MetricsText,
    ModelState,
    ModelStatus,
    ModelView,
    PipelineView,
    SourceAnswer,
    SourcesResult,
    StatisticsView,
    StepStatus,
    TaskResult,
)

__all__ = [
    "ClassifyResult",
    "Engine",
    "EngineState",
    "InferResult",
    "MetricsText",
    "ModelState",
    "ModelStatus",
    "ModelView",
    "PipelineView",
    "SourceAnswer",
    "SourcesResult",
    "StatisticsView",
    "TaskResult",
    "broken_models",
    "pipeline_task",
    "preflight",
]

log = logging.getLogger("tensorgate.engine")
_T = TypeVar("_T")


class EngineState(enum.Enum):
    """Lifecycle of the engine. DRAINING: readiness is off, requests still run."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPING = "stopping"
    STOPPED = "stopped"


def _default_factories() -> dict[str, RuntimeFactory]:
    # Each loader imports its runtime only when a model of that backend loads.
    return {name: backend.load for name, backend in BACKENDS.items()}


class Engine:
    """Loads a model repository and serves inference through batchers and device gates.

    Args:
        settings: what to load and how.
        clock: time source (tests inject a FakeClock).
        factories: runtime factory per backend name (tests may add their own).
        run_sync: how a batch reaches its instance's thread (tests may run inline).
        probe: reads device memory for the budget (tests may script it).
    """

    def __init__(
        self,
        settings: EngineSettings,
        *,
        clock: Clock | None = None,
        factories: Mapping[str, RuntimeFactory] | None = None,
        run_sync: RunSync | None = None,
        probe: MemoryProbe | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self._clock: Clock = clock or LoopClock()
        self._factories = dict(factories or _default_factories())
        self._run_sync = run_sync
        self._registry = Registry(
            settings.repository,
            build=self._load_version,
            close=self._retire,
            device_of=lambda config: resolve_device(
                self._effective_config(config).instances.device, config.backend
            ),
            probe=probe or ProcessMemory(),
            budget=dict(settings.memory_budget),
            metrics=self.metrics,
            only=_models_to_load(settings),
        )
        self._pipelines: dict[str, PipelinePlan | BrokenModel] = {}
        self._pipelines_off: set[str] = set()
        self._crop_slot_table: dict[ModelKey, asyncio.Semaphore] = {}
        self._catalogues = Catalogues(settings.repository)
        self._watchdog: TimerHandle | None = None
        self._start_aborted = threading.Event()
        self._replacing: set[ModelKey] = set()
        self._replacements: set[asyncio.Task[None]] = set()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._gates: dict[str, DeviceGate] = {}
        self._decode_pool: ThreadPoolExecutor | None = None
        self._sources = Sources(settings.sources)
        self._inventory: Inventory | None = None
        self._state = EngineState.NEW

    # ----------------------------------------------------------------- lifecycle
    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def ready(self) -> bool:
        """True while running with every model that should serve READY and no pipeline
        broken (V2 readiness)."""
        return (
            self._state is EngineState.RUNNING
            and self._registry.ready
            and not self._replacing
            and not any(isinstance(p, BrokenModel) for p in self._pipelines.values())
        )

    async def start(self) -> None:
        """Scan the repository and load every model (or those named in settings)."""
        if self._state is not EngineState.NEW:
            raise RuntimeError(
                f"Engine cannot start from state {self._state.value}; create a new Engine"
            )
        self._state = EngineState.STARTING
        self._decode_pool = ThreadPoolExecutor(
            max_workers=self.settings.decode_threads or cpu_count(),
            thread_name_prefix="tensorgate-decode",
        )
        preflight(self.settings)
        self._idle.set()
        await self._registry.start()
        await self._plan_pipelines()
        self._schedule_hang_check()
        if self.settings.repository_poll_s:
            self._poller = asyncio.create_task(self._poll_forever(self.settings.repository_poll_s))
        self._state = EngineState.RUNNING

    def abort_start(self) -> None:
        """Stop a start in progress (a signal while models load): the instance loading
        now finishes (a load cannot be interrupted), nothing after it loads, and
        ``start`` returns so the server can shut down."""
        self._start_aborted.set()

    @property
    def draining(self) -> bool:
        """Shutting down: readiness is off (requests may still be served)."""
        return self._state in (EngineState.DRAINING, EngineState.STOPPING, EngineState.STOPPED)

    def begin_drain(self) -> None:
        """Turn readiness off (load balancers stop sending) while requests still run."""
        if self._state is EngineState.RUNNING:
            self._state = EngineState.DRAINING
            log.info("draining: readiness is off")

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Refuse new requests and wait until the accepted ones are answered (at most
        ``timeout_s``, default settings.drain_timeout_s). True when all were."""
        if self._state in (EngineState.RUNNING, EngineState.DRAINING):
            self._state = EngineState.STOPPING
        limit = self.settings.drain_timeout_s if timeout_s is None else timeout_s
        try:
            await asyncio.wait_for(self._idle.wait(), limit)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        """Refuse new work, drain accepted requests (up to drain_timeout_s), free models."""
        if self._state is EngineState.STOPPED:
            return
        self._state = EngineState.STOPPING
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        await self._registry.stop()
        if self._decode_pool is not None:
            self._decode_pool.shutdown(wait=False, cancel_futures=True)
        self._state = EngineState.STOPPED

    async def _poll_forever(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.poll_repository()
            except Exception:  # a broken repository must not stop the poller
                log.exception("repository poll failed")

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------- loading
    def _gate(self, device: str) -> DeviceGate:
        if device not in self._gates:
            self._gates[device] = DeviceGate(device, gate_slots(device))
        return self._gates[device]

    def _effective_config(self, config: ModelConfig) -> ModelConfig:
        s = self.settings
        batching = config.batching
        if s.max_queue_delay_ms is not None:
            batching = replace(batching, max_queue_delay_s=s.max_queue_delay_ms / 1000.0)
        max_batch = s.max_batch_size or config.max_batch_size
        batching = replace(
            batching,
            preferred_batch_sizes=tuple(
                p for p in batching.preferred_batch_sizes if p <= max_batch
            ),
        )
        instances = config.instances
        if s.instances is not None:
            instances = replace(instances, count=s.instances)
        if s.device is not None:
            instances = replace(instances, device=s.device)
        return replace(config, max_batch_size=max_batch, batching=batching, instances=instances)

    async def _load_version(
        self, entry: ModelEntry, version: int, path: Path, device: str
    ) -> LoadedModel:
        """Build one version off the event loop and start its batcher."""
        key = ModelKey(entry.name, version)
        started = time.perf_counter()
        config = self._effective_config(entry.config)
        try:
            gate = self._gate(device)  # created here, on the event loop
            model = await asyncio.to_thread(self._build, key, config, path, device, gate)
        except Exception as exc:  # a model that cannot load must not stop the others
            reason = (
                exc.message if isinstance(exc, TensorgateError) else f"{type(exc).__name__}: {exc}"
            )
            log.error("model failed to load", extra={"model": str(key), "reason": reason})
            raise ModelLoadError(reason) from exc
        model.load_seconds = time.perf_counter() - started
        model.batcher.start()
        return model

    async def _retire(self, model: LoadedModel) -> None:
        """Drain a version that no longer takes requests, then free it."""
        await model.batcher.stop(self.settings.drain_timeout_s)
        self._close(model)
        # Its weights and buffers were freed in arenas no new thread will reuse.
        await asyncio.to_thread(release_free_memory)

    def _build(
        self, key: ModelKey, config: ModelConfig, path: Path, device: str, gate: DeviceGate
    ) -> LoadedModel:
        """Create instances, check the signature, warm up (runs in a worker thread)."""
        try:
            factory = self._factories[config.backend]
        except KeyError:
            raise ConfigError(f"{path}: backend {config.backend!r} has no runtime here") from None
        count = config.instances.count or default_instances(device)
        options = RuntimeOptions(
            device,
            config.instances.threads,
            config.inputs,
            config.outputs,
            max_batch_size=config.max_batch_size,
        )
        runtimes: list[Runtime] = []
        try:
            for _ in range(count):
                if self._start_aborted.is_set():
                    raise ShuttingDownError("the server is shutting down: the load was aborted")
                runtimes.append(factory(path, options))
            first = runtimes[0]
            _check_declared(path, "input", config.inputs, first.inputs)
            _check_declared(path, "output", config.outputs, first.outputs)
            config = replace(config, inputs=first.inputs, outputs=first.outputs)
            config = _with_dictionary(config, getattr(first, "metadata", {}))
            _check_decoder(path, config)
            preprocess = self._preprocessor(path, config, device)
            padding = pads(self.settings.pad_batches, device, config.max_batch_size)

            def prepare(index: int) -> None:
                """Pad an instance's batches (a runtime per bucket size where its
                runtime sets up at every change of shape), then warm it up."""
                runtime = runtimes[index]
                if padding:
                    per_size = session_per_size(self.settings.sessions_per_size, runtime)
                    make = functools.partial(factory, path, options) if per_size else None
                    try:
                        runtimes[index] = runtime = padded(runtime, config.max_batch_size, make)
                    except TensorgateError as exc:
                        sizes = len(buckets(config.max_batch_size))
                        raise ConfigError(
                            f"{exc.message} (while making a session for each of the "
                            f"{sizes} batch sizes of each instance; each holds the "
                            "weights: --sessions-per-size never keeps one an instance, "
                            "or lower max_batch_size)"
                        ) from exc
                _warm_up(runtime)

            if len(runtimes) == 1:
                prepare(0)
            else:  # each instance sets itself up: side by side, not one after another
                with ThreadPoolExecutor(len(runtimes)) as pool:
                    list(pool.map(prepare, range(len(runtimes))))
        except BaseException:
            for runtime in runtimes:
                runtime.close()
            raise
        pinned = pinnable_cores() if device == "cpu" and self.settings.pin_threads else ()
        run_sync, shutdown = (
            (self._run_sync, lambda: None) if self._run_sync else thread_runner(count, pinned)
        )
        queue_rows = config.batching.max_queue_size or 2 * config.max_batch_size * count
        policy = BatchPolicy(
            max_batch_size=config.max_batch_size,
            max_queue_delay_s=config.batching.max_queue_delay_s,
            preferred_batch_sizes=config.batching.preferred_batch_sizes,
            max_queue_rows=max(queue_rows, config.max_batch_size),
        )
        stats = ModelStatistics(key.name, str(key.version))
        batcher = Batcher(
            key,
            policy,
            [Instance(r, gate) for r in runtimes],
            self._clock,
            run_sync,
            on_batch=lambda record: self._record_batch(record, stats, lambda: batcher.queued_rows),
        )
        return LoadedModel(
            key, config, runtimes, batcher, stats, preprocess, shutdown, 0.0, device=device
        )

    def _preprocessor(self, path: Path, config: ModelConfig, device: str) -> ImageTransform | None:
        spec = config.preprocess
        if spec is None:
            return None
        name = spec.input or config.inputs[0].name
        target = next((s for s in config.inputs if s.name == name), None)
        if target is None:
            raise ConfigError(
                f"{path}: field 'preprocess.input' is {name!r}, which the model does not have"
            )
        if target.datatype != spec.datatype:
            raise ConfigError(
                f"{path}: field 'preprocess.datatype' is {spec.datatype} but input {name!r} "
                f"is {target.datatype}; make them match"
            )
        if len(config.inputs) != 1:
            raise ConfigError(f"{path}: 'preprocess' needs a model with exactly one input")
        return choose_preprocessor(
            replace(spec, input=name),
            self.settings.image_limits,
            device,
            allow_gpu=self.settings.gpu_decode,
        )

    def _close(self, model: LoadedModel) -> None:
        model.shutdown()
        busy = model.batcher.running_for()
        for index, runtime in enumerate(model.runtimes):
            if index in busy:  # a hung call still runs in it: closing could crash it
                log.error(
                    "instance left open: it is still running a batch",
                    extra={"model": str(model.key), "instance": index},
                )
                continue
            runtime.close()

    # ------------------------------------------------------------------- hangs
    def _schedule_hang_check(self) -> None:
        every = min(1.0, self.settings.hang_timeout_s / 4)
        self._watchdog = self._clock.call_at(self._clock.now() + every, self._check_hangs)

    def _check_hangs(self) -> None:
        """Replace any model version one of whose instances has run a single batch for
        longer than settings.hang_timeout_s (its requests got 504 at their deadlines);
        runs on the engine's clock."""
        if self._state not in (EngineState.RUNNING, EngineState.DRAINING):
            return
        limit = self.settings.hang_timeout_s
        for model in self._registry.loaded():
            stuck = {i: s for i, s in model.batcher.running_for().items() if s > limit}
            if stuck and model.key not in self._replacing and not model.retired:
                self._replacing.add(model.key)
                self._replacements.add(asyncio.ensure_future(self._replace_hung(model, stuck)))
        self._schedule_hang_check()

    async def _replace_hung(self, model: LoadedModel, stuck: Mapping[int, float]) -> None:
        instance, seconds = max(stuck.items(), key=lambda item: item[1])
        log.error(
            "instance hung: replacing the model version",
            extra={"model": str(model.key), "instance": instance, "seconds": round(seconds, 1)},
        )
        self.metrics.rejected.labels(model.key.name, "InstanceHung").inc()
        try:
            await self._registry.replace(model.key.name, model.key.version)
        except TensorgateError as exc:
            log.error("hung model could not be replaced", extra={"reason": exc.message})
        finally:
            self._replacing.discard(model.key)
            current = asyncio.current_task()
            if current is not None:
                self._replacements.discard(current)

    # ---------------------------------------------------------------- statistics
    def _record_batch(
        self, record: BatchRecord, stats: ModelStatistics, queued: Callable[[], int]
    ) -> None:
        name = record.model.name
        stats.execution_count += 1
        stats.inference_count += record.rows
        for waited in record.queue_s:
            stats.queue.add(waited)
        requests = record.requests
        stats.compute_input.add(record.input_s * requests, requests)
        stats.compute_infer.add(record.infer_s * requests, requests)
        stats.compute_output.add(record.output_s * requests, requests)
        phases = stats.batches.setdefault(record.rows, BatchDurations())
        phases.add(record.input_s, record.infer_s, record.output_s)
        stats.last_inference_ms = int(time.time() * 1000)
        metrics = self.metrics
        metrics.child(metrics.queue_depth, name).set(queued())
        queue_duration = metrics.child(metrics.queue_duration, name)
        for waited in record.queue_s:
            queue_duration.observe(waited)
        metrics.child(metrics.compute_duration, name, record.device).observe(record.compute_s)
        metrics.child(metrics.batch_size, name).observe(record.rows)
        level = logging.DEBUG if record.error is None else logging.WARNING
        if log.isEnabledFor(level):  # the fields cost more than the check
            event(
                log,
                level,
                "batch",
                model=str(record.model),
                instance=record.instance,
                device=record.device,
                rows=record.rows,
                requests=record.requests,
                device_ms=round(record.compute_s * 1000, 3),
                max_queue_ms=round(max(record.queue_s) * 1000, 3),
                error=record.error,
            )

    # ------------------------------------------------------------------- queries
    def statuses(self) -> list[ModelStatus]:
        """Every model version and pipeline the engine knows, sorted by name and version."""
        pipelines = [self._pipeline_status(name) for name in self._pipelines]
        return sorted(
            [*self._registry.statuses(), *pipelines], key=lambda s: (s.name, s.version or 0)
        )

    def is_pipeline(self, name: str) -> bool:
        """True when ``name`` is a pipeline of the repository (served or not)."""
        return name in self._pipelines

    def pipeline(self, name: str) -> PipelineView:
        """A pipeline, its state and each step's.

        Raises:
            ModelNotFoundError: no pipeline has that name.
        """
        plan = self._pipelines.get(name)
        if plan is None:
            raise ModelNotFoundError(
                f"{name!r} is not a pipeline here; pipelines: "
                f"{', '.join(self._pipelines) or 'none'}"
            )
        task = plan.task if isinstance(plan, PipelinePlan) else ""
        return PipelineView(name, task, self._pipeline_status(name))

    def _pipeline_status(self, name: str) -> ModelStatus:
        plan = self._pipelines[name]
        if isinstance(plan, BrokenModel):
            return ModelStatus(name, None, ModelState.UNAVAILABLE, plan.reason)
        steps: list[StepStatus] = []
        problems: list[str] = []
        for step in plan.config.steps:
            if not isinstance(step, ModelStep):  # crops and catalogues are loaded with it
                kind = "crop" if isinstance(step, CropStep) else "match"
                steps.append(StepStatus(step.name, kind, step.input, "", ModelState.READY))
                continue
            state = ModelState.READY
            try:
                self._registry.model(step.model, step.version)
            except TensorgateError as exc:
                state = ModelState.UNAVAILABLE
                problems.append(f"step {step.name!r}: {exc.message}")
            steps.append(StepStatus(step.name, "model", step.input, step.model, state))
        if name in self._pipelines_off:
            problems.insert(0, UNLOADED)
        state = ModelState.UNAVAILABLE if problems else ModelState.READY
        return ModelStatus(name, 1, state, "; ".join(problems), tuple(steps))

    def model(self, name: str, version: int | None = None) -> ModelView:
        """The READY model version (the highest READY one when ``version`` is None).

        Raises:
            ModelNotFoundError: no such model or version in the repository.
            ModelNotAvailableError: no version of it is loaded (unloaded, or failed).
            ModelNotReadyError: it is loading, or was evicted for the memory budget.
        """
        return _view(self._registry.model(name, version))

    async def acquire(self, name: str, version: int | None = None) -> ModelView:
        """Like ``model``, but a model evicted for the memory budget is loaded again."""
        self._check_running()
        return _view(await self._registry.acquire(name, version))

    def versions(self, name: str) -> list[int]:
        """Every version number the engine knows of ``name`` (serving or not), sorted."""
        return sorted({s.version for s in self.statuses() if s.name == name and s.version})

    def statistics(
        self, name: str | None = None, version: int | None = None
    ) -> list[StatisticsView]:
        """Counters of one model's READY versions (or of every model's), copied now."""
        if name is not None and isinstance(self._pipelines.get(name), PipelinePlan):
            plan = self._pipelines[name]
            assert isinstance(plan, PipelinePlan)
            keys = dict.fromkeys((s.model, s.version) for s in plan.steps)
            chosen = [self._registry.model(m, v) for m, v in keys]
        elif name is not None:
            if version is not None:
                chosen = [self._registry.model(name, version)]
            else:
                self._registry.model(name)  # raises for unknown names
                versions = self._registry.versions(name)
                chosen = [versions[v] for v in sorted(versions)]
        else:
            chosen = self._registry.loaded()
        return [StatisticsView(m.key, m.device, m.memory, m.stats.copy()) for m in chosen]

    def inventory(self) -> Inventory:
        """The devices here (read once, then kept: they do not change while serving)."""
        if self._inventory is None:
            self._inventory = discover()
        return self._inventory

    def render_metrics(self) -> MetricsText:
        """The Prometheus exposition of every instrument."""
        return MetricsText(self.metrics.render(), CONTENT_TYPE)

    # ------------------------------------------------------------ model control
    async def load_model(self, name: str) -> None:
        """Load or reload ``name`` from the repository (new versions swap in at once).
        A pipeline is read again, and each model its steps run that is not serving
        loads.

        Raises:
            InvalidInputError, ModelNotFoundError, ModelLoadError, MemoryBudgetError.
        """
        self._check_running()
        if name in self._pipelines or name in {p.name for p in self._scan_pipelines()}:
            self._pipelines_off.discard(name)
            await self._plan_pipelines()
            plan = self._pipelines.get(name)
            if isinstance(plan, BrokenModel):
                raise ModelLoadError(plan.reason)
            assert plan is not None
            for step in plan.steps:
                if not self._registry.versions(step.model):
                    await self._registry.load(step.model)
            return
        await self._registry.load(name)

    async def unload_model(self, name: str) -> None:
        """Stop serving ``name``; its accepted requests finish first. A pipeline that
        runs an unloaded model turns UNAVAILABLE (its reason names the step) until the
        model loads again; unloading a pipeline leaves its models serving."""
        self._check_running()
        if name in self._pipelines:
            self._pipelines_off.add(name)
            return
        await self._registry.unload(name)

    async def poll_repository(self) -> None:
        """Pick up new, changed and removed models, versions and pipelines (what the
        poller does)."""
        await self._registry.poll()
        await self._plan_pipelines()

    def _scan_pipelines(self) -> list[PipelineConfig | BrokenModel]:
        try:
            found = scan_pipelines(self.settings.repository)
        except ConfigError:
            return []
        wanted = set(self.settings.models)
        return [p for p in found if not wanted or p.name in wanted]

    async def _plan_pipelines(self) -> None:
        """Read the repository's pipelines, check each step fits its model, and load
        (or reload, when rebuilt) the catalogue indexes their match steps search."""
        found = self._scan_pipelines()
        try:
            entries = scan_repository(self.settings.repository)
        except ConfigError:
            entries = []
        models = _model_table(entries)
        names = {p.name for p in found}
        table: dict[str, PipelinePlan | BrokenModel] = {}
        for config in found:
            if isinstance(config, BrokenModel):
                table[config.name] = config
                continue
            try:
                planned = plan_pipeline(config, models, names)
                await self._catalogues.refresh(planned)
                table[config.name] = planned
            except ConfigError as exc:
                table[config.name] = BrokenModel(config.name, config.source.parent, exc.message)
        for name, plan in table.items():
            if isinstance(plan, BrokenModel) and not isinstance(
                self._pipelines.get(name), BrokenModel
            ):
                log.error("pipeline cannot load", extra={"model": name, "reason": plan.reason})
        self._pipelines = table

    # ----------------------------------------------------------------- inference
    def _check_running(self) -> None:
        if self._state not in (EngineState.RUNNING, EngineState.DRAINING):
            raise ShuttingDownError(
                f"the engine is {self._state.value} and takes no new requests; retry elsewhere"
            )

    @asynccontextmanager
    async def _accepted(self) -> AsyncIterator[None]:
        """One accepted request: counted until answered, so a drain can wait for it."""
        self._check_running()
        self._inflight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    @asynccontextmanager
    async def _request(self, name: str, version: int | None) -> AsyncIterator[LoadedModel]:
        """One accepted request to one model version, held from lookup to answer."""
        async with self._accepted():
            if name in self._pipelines:
                raise InvalidInputError(
                    f"{name!r} is a pipeline; it takes encoded images on "
                    f"{self._pipeline_route(name)}, not tensors"
                )
            model = await self._registry.acquire(name, version)
            model.inflight += 1
            try:
                yield model
            finally:
                model.inflight -= 1

    def _pipeline_route(self, name: str) -> str:
        plan = self._pipelines[name]
        task = plan.task if isinstance(plan, PipelinePlan) else "detect"
        return f"/v2/models/{name}/{task_named(task).route}"

    async def infer(
        self,
        name: str,
        inputs: Tensors,
        *,
        version: int | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Array]:
        """Run one request (rows first) through the model's batcher.

        Args:
            name: model name.
            inputs: the input tensors by name.
            version: a version number, or None for the highest READY one.
            outputs: output names to return (None: all).
            timeout_s: the request's deadline, capped by settings.request_timeout_s.

        Raises:
            InvalidInputError, ModelNotFoundError, UnavailableError, DeadlineExceededError,
            InferenceError: see tensorgate.errors.
        """
        result = await self.infer_keyed(
            name, inputs, version=version, outputs=outputs, timeout_s=timeout_s
        )
        return result.outputs

    async def infer_keyed(
        self,
        name: str,
        inputs: Tensors,
        *,
        version: int | None = None,
        outputs: Sequence[str] | None = None,
        timeout_s: float | None = None,
    ) -> InferResult:
        """``infer``, also saying which model version answered (protocol responses)."""
        async with self._request(name, version) as model:
            images = _encoded_images(model, inputs)
            if images is not None:  # encoded files for an image model: decode them here
                preprocess, post, decoder = self._image_model(model, None, None)
                own = [o for o in outputs or () if o != ANSWER or _has_output(model, ANSWER)]
                if outputs is not None:
                    check_outputs(name, model.config.outputs, own)
                answered = await self._run_images(
                    model, version, preprocess, post, decoder, images, None, timeout_s,
                    raw=outputs is None or bool(own), decode=len(own) != len(outputs or ()),
                )  # fmt: skip
                found = dict(answered.outputs)
                if answered.answers:  # the task's answers, as /<task> renders each
                    found[ANSWER] = np.array(
                        [json.dumps(answer_json(a)).encode() for a in answered.answers],
                        dtype=object,
                    )
                if outputs is not None:
                    return InferResult(answered.key, {k: found[k] for k in outputs})
                return InferResult(answered.key, answered.outputs)
            check_inputs(name, model.config.inputs, inputs, model.config.max_batch_size)
            if outputs is not None:
                check_outputs(name, model.config.outputs, outputs)
            result = await self._submit(model, version, inputs, timeout_s)
        if outputs is not None:
            return InferResult(result.key, {k: result.outputs[k] for k in outputs})
        return result

    async def _submit(
        self,
        model: LoadedModel,
        version: int | None,
        inputs: Tensors | Deferred,
        timeout_s: float | None,
    ) -> InferResult:
        """One queue entry's outputs (see ``_submit_all``)."""
        (result,) = await self._submit_all(model, version, (inputs,), timeout_s)
        return result

    async def _submit_all(
        self,
        model: LoadedModel,
        version: int | None,
        entries: Sequence[Tensors | Deferred],
        timeout_s: float | None,
    ) -> list[InferResult]:
        """Queue one request's entries and await their outputs, in order; the request
        is counted once, and fails with the first entry that fails (the others are
        cancelled: a batch drops them before it runs)."""
        name = model.key.name
        started = self._clock.now()
        limit = self.settings.request_timeout_s
        deadline = started + (limit if timeout_s is None else min(timeout_s, limit))
        queued: list[tuple[ModelKey, asyncio.Future[dict[str, Array]]]] = []
        try:
            for inputs in entries:
                try:
                    future = model.batcher.submit(inputs, deadline)
                except ShuttingDownError:
                    if not model.retired:
                        raise
                    # A newer copy replaced this version after the request looked it up
                    # (a hot swap while it was decoding): the replacement takes it.
                    model = self._registry.model(name, version)
                    future = model.batcher.submit(inputs, deadline)
                queued.append((model.key, future))
        except TensorgateError as exc:
            self.metrics.rejected.labels(name, type(exc).__name__).inc()
            for _, future in queued:
                future.cancel()
            raise
        self.metrics.child(self.metrics.queue_depth, name).set(model.batcher.queued_rows)
        with self._outcome(name, started, model.stats):
            if len(queued) == 1:
                key, future = queued[0]
                return [InferResult(key, await future)]
            try:
                outputs = await asyncio.gather(*(future for _, future in queued))
            except BaseException:
                for _, future in queued:
                    future.cancel()
                raise
            return [InferResult(key, out) for (key, _), out in zip(queued, outputs, strict=True)]

    @contextmanager
    def _outcome(
        self, name: str, started: float, stats: ModelStatistics | None = None
    ) -> Iterator[None]:
        """Count a request's outcome (success, its error's class, or cancelled) and its
        duration since ``started`` under ``name``."""
        outcome = "success"
        try:
            yield
        except TensorgateError as exc:
            outcome = type(exc).__name__
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            elapsed = self._clock.now() - started
            if stats is not None:
                (stats.success if outcome == "success" else stats.fail).add(elapsed)
            self.metrics.child(self.metrics.requests, name, outcome).inc()
            self.metrics.child(self.metrics.request_duration, name).observe(elapsed)

    @staticmethod
    def _image_model(
        model: LoadedModel, task: str | None, top: int | None
    ) -> tuple[ImageTransform, PostprocessSpec, Decoder]:
        """The model's preprocessor, postprocess spec and decoder, checked to exist and
        to serve ``task`` (None: whatever task the model has)."""
        name = model.key.name
        if model.preprocess is None or model.config.postprocess is None:
            raise InvalidInputError(
                f"model {name!r} has no preprocess/postprocess spec in its config.yaml, so it "
                "takes tensors, not images: use the V2 infer endpoint"
            )
        if task is not None and task != model.config.task:
            route = task_named(model.config.task).route
            raise InvalidInputError(
                f"model {name!r} is a {model.config.task} model, not {task}; send its images "
                f"to /v2/models/{name}/{route}"
            )
        if top is not None and top < 1:
            raise InvalidInputError(f"top_k is {top}; it must be at least 1")
        post = model.config.postprocess
        return model.preprocess, post, decoder_named(post.decoder)

    async def classify(
        self,
        name: str,
        images: Sequence[bytes],
        *,
        top: int | None = None,
        version: int | None = None,
        timeout_s: float | None = None,
    ) -> list[list[Classification]]:
        """Decode, preprocess and classify encoded images (JPEG, PNG, WebP).

        Each image is its own request to the batcher, so images from many callers share
        batches. Returns, per image, the ``top`` best classes (default: the model's
        ``postprocess.top_k``)::

            (best, *_), = await engine.classify("efficientnet-lite0", [jpeg_bytes])
        """
        result = await self.classify_keyed(
            name, images, top=top, version=version, timeout_s=timeout_s
        )
        return result.answers

    async def classify_keyed(
        self,
        name: str,
        images: Sequence[bytes],
        *,
        top: int | None = None,
        version: int | None = None,
        timeout_s: float | None = None,
    ) -> ClassifyResult:
        """``classify``, also saying which model version answered (a version swapped in
        while the images decoded answers them, and is the one named)."""
        result = await self.run_images(
            name, images, task="classify", top=top, version=version, timeout_s=timeout_s
        )
        return ClassifyResult(result.key, [_classes(a) for a in result.answers])

    async def run_images(
        self,
        name: str,
        images: Sequence[bytes],
        *,
        task: str | None = None,
        top: int | None = None,
        version: int | None = None,
        timeout_s: float | None = None,
    ) -> TaskResult:
        """Decode, preprocess, infer and decode the answers of encoded images, whatever the
        model's task: classes, detections (in original-image pixels) or embeddings.

        Args:
            name: model name.
            images: encoded JPEG / PNG / WebP files.
            task: the task the caller expects (None: the model's own); a model of
                another task is refused with the route it does answer on.
            top: classifiers: how many classes (default: the model's ``top_k``).
            version: a version number, or None for the highest READY one.
            timeout_s: each image's deadline, capped by settings.request_timeout_s.

        A pipeline's name runs the pipeline: its first model's answers, with each
        detection's crop answered by the steps that read it (``parts``).
        """
        if name in self._pipelines:
            return await self._run_pipeline(name, images, task, timeout_s)
        async with self._request(name, version) as model:
            preprocess, post, decoder = self._image_model(model, task, top)
            return await self._run_images(
                model, version, preprocess, post, decoder, images, top, timeout_s
            )

    async def _run_images(
        self,
        model: LoadedModel,
        version: int | None,
        preprocess: ImageTransform,
        post: PostprocessSpec,
        decoder: Decoder,
        images: Sequence[bytes],
        top: int | None,
        timeout_s: float | None,
        *,
        raw: bool = False,
        decode: bool = True,
    ) -> TaskResult:
        """``raw``: also the model's own outputs stacked (the V2 door); ``decode``: run
        the task's decoder (off when only raw outputs were asked for)."""
        input_name = preprocess.spec.input or model.config.inputs[0].name
        on_instance = self._decodes_on_instance(model, preprocess, input_name)
        # A few queue entries of several images each (batching.policy.entry_sizes)
        sizes = entry_sizes(len(images), len(model.runtimes), model.batcher.policy.max_batch_size)
        bounds = list(itertools.accumulate(sizes, initial=0))
        geometries: list[ImageGeometry] = []
        if on_instance is not None:
            # Queued undecoded: decoded on the instance thread of its batch. The
            # request is admitted whole or refused whole, as on the pool path.
            refused = self._over_bound(model, len(images))
            if refused is not None:
                raise refused
            chunks = [images[a:b] for a, b in itertools.pairwise(bounds)]
            entries = [on_instance(chunk) for chunk in chunks]
            results = await self._submit_all(model, version, entries, timeout_s)
            for entry, chunk in zip(entries, chunks, strict=True):
                size = sum(len(data) for data in chunk)
                geometries.extend(self._decoded_on_instance(model, entry, size))
        else:
            self._admit(model, len(images))
            try:
                prepared = await asyncio.gather(
                    *(self._prepare(model, preprocess, d) for d in images)
                )
            finally:  # decoded, failed or cancelled: they count as decoding no longer
                model.decoding -= len(images)
            if len({p.tensor.shape for p in prepared}) > 1:  # shaped by each image
                bounds = list(range(len(prepared) + 1))  # an entry each, batched by shape
            tensors = [
                {input_name: _stacked([p.tensor for p in prepared[a:b]])}
                for a, b in itertools.pairwise(bounds)
            ]
            results = await self._submit_all(model, version, tensors, timeout_s)
            geometries = [p.geometry for p in prepared]
        key = max((r.key for r in results), key=lambda k: k.version, default=model.key)
        stacked: dict[str, Array] = {}
        if raw:  # the V2 door answers the model's own outputs
            names = results[0].outputs if results else {}
            stacked = {k: _joined([r.outputs[k] for r in results]) for k in names}
        if not decode:
            return TaskResult(key, model.config.task, [], stacked)
        answers = await self._answers(model, results, geometries, post, decoder, top)
        return TaskResult(key, model.config.task, answers, stacked)

    async def _answers(
        self,
        model: LoadedModel,
        results: Sequence[InferResult],
        geometries: Sequence[ImageGeometry],
        post: PostprocessSpec,
        decoder: Decoder,
        top: int | None,
    ) -> list[TaskAnswer]:
        """Each image's answer, decoded from its output row (the results' rows in order)."""
        output = post.output or model.config.outputs[0].name
        outputs = [r.outputs[output] for r in results]
        with stage("postprocess", images=len(geometries), decoder=decoder.name):
            if not decoder.heavy and len({o.shape[1:] for o in outputs}) == 1:
                return decoder.decode_all(_joined(outputs), geometries, post, top)
            rows = zip((row for o in outputs for row in o), geometries, strict=True)
            if not decoder.heavy:  # rows of different shapes (text lines of their widths)
                return [decoder.decode(row, geometry, post, top) for row, geometry in rows]
            # NMS and contours: off the event loop, beside the decoding
            pooled = (
                self._pooled(decoder.decode, row, geometry, post, top) for row, geometry in rows
            )
            return list(await asyncio.gather(*pooled))

    # ------------------------------------------------------------------ pipelines
    async def _run_pipeline(
        self, name: str, images: Sequence[bytes], task: str | None, timeout_s: float | None
    ) -> TaskResult:
        """Run a pipeline on encoded images: each image is detected on its own request
        to the first model; its crops go, one request each, to the batchers of the
        models that read them, where they share batches with other requests' crops."""
        plan = self._pipelines[name]
        if isinstance(plan, BrokenModel):
            raise ModelNotAvailableError(f"pipeline {name!r} cannot load: {plan.reason}")
        if name in self._pipelines_off:
            raise ModelNotAvailableError(f"pipeline {name!r} is {UNLOADED}")
        if task is not None and task != plan.task:
            raise InvalidInputError(
                f"pipeline {name!r} answers {plan.task}, not {task}; send its images to "
                f"{self._pipeline_route(name)}"
            )
        with self._outcome(name, self._clock.now()):
            async with self._accepted(), AsyncExitStack() as stack:
                models = [
                    await stack.enter_async_context(self._step_model(plan, step))
                    for step in plan.steps
                ]
                root = models[0]
                preprocess, _, _ = self._image_model(root, None, None)
                self._admit(root, len(images))
                limits = self.settings.image_limits
                try:
                    opened = await asyncio.gather(
                        *(self._pooled(open_full, d, limits, preprocess.spec) for d in images)
                    )
                finally:
                    root.decoding -= len(images)
                answers = await asyncio.gather(
                    *(
                        self._pipeline_image(plan, models, image, prepared, timeout_s)
                        for image, prepared in opened
                    )
                )
            return TaskResult(ModelKey(name, 1), plan.task, list(answers))

    @asynccontextmanager
    async def _step_model(self, plan: PipelinePlan, step: ModelStep) -> AsyncIterator[LoadedModel]:
        """The model a step runs, held for the request; a model that is not serving
        names the pipeline and the step."""
        try:
            model = await self._registry.acquire(step.model, step.version)
        except (ModelNotFoundError, ModelNotAvailableError) as exc:
            raise ModelNotAvailableError(
                f"pipeline {plan.name!r} step {step.name!r}: {exc.message}"
            ) from None
        model.inflight += 1
        try:
            yield model
        finally:
            model.inflight -= 1

    async def _pooled(self, fn: Callable[..., _T], *args: object) -> _T:
        if self._decode_pool is None:
            raise RuntimeError("the engine has not started; use `async with Engine(...)`")
        return await asyncio.get_running_loop().run_in_executor(self._decode_pool, fn, *args)

    def _crop_slots(self, model: LoadedModel) -> asyncio.Semaphore:
        """Bounds the crops one model has queued from pipelines to half its queue: a
        crop waits for a slot (the image was admitted already) rather than being
        refused, and direct requests keep the other half."""
        slots = self._crop_slot_table.get(model.key)
        if slots is None:
            slots = asyncio.Semaphore(max(1, model.batcher.policy.max_queue_rows // 2))
            self._crop_slot_table[model.key] = slots
        return slots

    async def _pipeline_image(
        self,
        plan: PipelinePlan,
        models: Sequence[LoadedModel],
        image: Image.Image,
        prepared: PreparedImage,
        timeout_s: float | None,
    ) -> TaskAnswer:
        """One image through the pipeline: its first model; then its crops through each
        model that reads them, or its vector through the catalogues; merged."""
        root, branches = models[0], models[1:]
        _, post, decoder = self._image_model(root, None, None)
        input_name = self._input_name(root)
        with stage(f"step {plan.root.name}", model=root.key.name):
            result = await self._submit(
                root, plan.root.version, {input_name: prepared.tensor[np.newaxis]}, timeout_s
            )
            (answer,) = await self._answers(
                root, [result], [prepared.geometry], post, decoder, None
            )
        if plan.crop is None:  # a whole-image search
            if not isinstance(answer, Embedding):
                raise TypeError(f"an embed model answered {type(answer).__name__}")
            searched = {m.name: (await self._search(plan, m, [answer]))[0] for m in plan.matches}
            return replace(answer, parts=searched)
        if not isinstance(answer, Detections | TextRegions):
            raise TypeError(f"a {plan.task} model answered {type(answer).__name__}")
        picked = chosen(answer.items, plan.crop)
        specs = [self._image_model(m, None, None)[0].spec for m in branches]
        with stage("crop", crops=len(picked)):
            tensors = await self._pooled(
                crops_of, image, [answer.items[i] for i in picked], plan.crop, specs
            )
        per_branch = await asyncio.gather(
            *(
                self._branch(step, model, [row[k] for row in tensors], timeout_s)
                for k, (step, model) in enumerate(zip(plan.branches, branches, strict=True))
            )
        )
        by_step = {s.name: found for s, found in zip(plan.branches, per_branch, strict=True)}
        for match in plan.matches:
            vectors = [a if isinstance(a, Embedding) else None for a in by_step[match.input]]
            found = iter(await self._search(plan, match, [v for v in vectors if v is not None]))
            by_step[match.name] = [None if v is None else next(found) for v in vectors]
        shown = [s.name for s in plan.branches if s.answer] + [m.name for m in plan.matches]
        parts: dict[int, dict[str, TaskAnswer]] = {i: {} for i in picked}
        for name in shown:
            for i, part in zip(picked, by_step[name], strict=True):
                if part is not None:
                    parts[i][name] = part
        if isinstance(answer, Detections):
            return replace(answer, items=_with_parts(answer.items, parts))
        return replace(answer, items=_with_parts(answer.items, parts))

    async def _search(
        self, plan: PipelinePlan, step: MatchStep, embeddings: Sequence[Embedding]
    ) -> list[Matches]:
        """The catalogue items nearest each embedding (one faiss search, in the pool)."""
        if not embeddings:
            return []
        catalogue = self._catalogues.get(plan, step.name)  # a rebuilt index swaps in here
        vectors = np.stack([e.vector for e in embeddings])
        with stage(f"step {step.name}", catalogue=str(step.index), queries=len(embeddings)):
            return await self._pooled(catalogue.search, vectors, step.top_k, step.nprobe)

    async def _branch(
        self,
        step: ModelStep,
        model: LoadedModel,
        crops: Sequence[PreparedImage | None],
        timeout_s: float | None,
    ) -> list[TaskAnswer | None]:
        """Each crop through one step's model (None where the crop was too small)."""
        _, post, decoder = self._image_model(model, None, None)
        input_name = self._input_name(model)
        slots = self._crop_slots(model)

        async def one(crop: PreparedImage) -> InferResult:
            async with slots:
                return await self._submit(
                    model, step.version, {input_name: crop.tensor[np.newaxis]}, timeout_s
                )

        todo = [c for c in crops if c is not None]
        with stage(f"step {step.name}", model=model.key.name, crops=len(todo)):
            results = await asyncio.gather(*(one(c) for c in todo))
            answers = await self._answers(
                model, results, [c.geometry for c in todo], post, decoder, None
            )
        found = iter(answers)
        return [None if c is None else next(found) for c in crops]

    @staticmethod
    def _input_name(model: LoadedModel) -> str:
        spec = model.preprocess.spec if model.preprocess is not None else None
        return (spec.input if spec else None) or model.config.inputs[0].name

    async def classify_sources(
        self,
        name: str,
        sources: Sequence[str],
        *,
        top: int | None = None,
        version: int | None = None,
        timeout_s: float | None = None,
    ) -> SourcesResult:
        """Fetch ``s3://`` / ``https://`` sources concurrently and classify each; every
        item is answered on its own (its classes, or the error that stopped it)."""
        async with self._request(name, version) as model:
            preprocess, post, decoder = self._image_model(model, "classify", top)
            keys = [model.key]

            async def one(source: str) -> SourceAnswer:
                try:
                    data = await self._sources.fetch(source)
                    result = await self._run_images(
                        model, version, preprocess, post, decoder, [data], top, timeout_s
                    )
                except TensorgateError as exc:
                    return exc
                keys.append(result.key)
                return _classes(result.answers[0])

            answers = list(await asyncio.gather(*(one(s) for s in sources)))
            return SourcesResult(max(keys, key=lambda k: k.version), answers)

    def shed(self, name: str, version: int | None = None) -> QueueFullError | None:
        """The refusal any request to ``name`` would get at admission now, because its
        queue (with the images being decoded) is at its bound; None when a request may
        be admitted, or when only the full path can tell (a pipeline, a model that is not
        serving). Lets the server refuse an overload before it reads a byte of the body.
        """
        if name in self._pipelines or self._state is not EngineState.RUNNING:
            return None
        try:
            model = self._registry.model(name, version)
        except TensorgateError:
            return None
        return self._over_bound(model, 1)

    def _admit(self, model: LoadedModel, images: int) -> None:
        """Count ``images`` against the model's queue bound before any is decoded: under
        overload an image request is refused at once, instead of waiting in the decode
        pool (which has no bound of its own) and being refused, or timing out, later.

        Raises:
            QueueFullError: the queued and decoding images would pass the bound.
        """
        refused = self._over_bound(model, images)
        if refused is not None:
            raise refused
        model.decoding += images

    def _over_bound(self, model: LoadedModel, rows: int) -> QueueFullError | None:
        """The refusal (counted in the metrics) if ``rows`` more would pass the model's
        queue bound, counting the rows queued and the images being decoded; else None."""
        bound = model.batcher.policy.max_queue_rows
        waiting = model.batcher.queued_rows + model.decoding
        if waiting + rows <= bound:
            return None
        self.metrics.rejected.labels(model.key.name, "QueueFullError").inc()
        return QueueFullError(
            f"model {model.key.name!r} is at its queue bound (rows queued or decoding: "
            f"{waiting} of {bound}); retry later or add instances",
            retry_after=1.0,
        )

    def _decodes_on_instance(
        self, model: LoadedModel, preprocess: ImageTransform, input_name: str
    ) -> Callable[[Sequence[bytes]], Deferred] | None:
        """How to queue images undecoded (one entry), to be decoded on its batch's instance
        thread (settings.decode_on == "instance"), or None when this model decodes in
        the pool: a preprocessing whose tensor shape depends on the image, or a GPU
        model decoding on the CPU (one instance thread would decode a whole batch in
        sequence, where the pool spreads it over every core).

        A GPU model with a GPU decoder queues its images for ``batching.device``: the
        instance decodes the whole batch with one nvJPEG call and binds the stacked
        tensor to the model on the GPU (each request keeps its host path, for a batch
        that cannot stay on the device)."""
        if self.settings.decode_on != "instance":
            return None
        device: DeviceInputs | None = None
        if isinstance(preprocess, GpuImagePreprocessor):
            device = DeviceInputs(preprocess, input_name)
        elif not isinstance(preprocess, ImagePreprocessor) or model.device != "cpu":
            return None
        shape = fixed_tensor_shape(preprocess.spec)
        if shape is None:
            return None
        key = ((input_name, shape, tensor_dtype(preprocess.spec).str),)

        def deferred(datas: Sequence[bytes]) -> Deferred:
            def make() -> tuple[Tensors, object]:
                prepared = [preprocess.prepare(data) for data in datas]
                tensor = _stacked([p.tensor for p in prepared])
                return {input_name: tensor}, [p.geometry for p in prepared]

            payloads = () if device is None else tuple(datas)
            return Deferred(make, key, rows=len(datas), device=device, payloads=payloads)

        return deferred

    def _decoded_on_instance(
        self, model: LoadedModel, deferred: Deferred, size: int
    ) -> list[ImageGeometry]:
        """The answered entry's images' geometries; their decode is recorded as the
        pool's are (each image the entry's time over its images)."""
        self._record_decode(
            model, deferred.started, deferred.ended, size, images=deferred.rows, on="instance"
        )
        assert isinstance(deferred.extra, list)
        return deferred.extra

    def _record_decode(
        self,
        model: LoadedModel,
        started: float,
        ended: float,
        size: int,
        images: int = 1,
        **attributes: str,
    ) -> None:
        """The decode time (``time.monotonic`` bounds) of ``images`` images decoded in
        sequence in the metrics (each their share) and in the request's breakdown,
        wherever they were decoded."""
        observe = self.metrics.child(self.metrics.decode_duration, model.key.name).observe
        for _ in range(images):
            observe((ended - started) / images)
        timing = current_timing()
        if timing is not None:
            timing.decoded(ended - started)
            timing.stage("decode", started, ended, bytes=size, images=images, **attributes)

    async def _prepare(
        self, model: LoadedModel, preprocess: ImageTransform, data: bytes
    ) -> PreparedImage:
        if self._decode_pool is None:
            raise RuntimeError("the engine has not started; use `async with Engine(...)`")
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        prepared = await loop.run_in_executor(self._decode_pool, preprocess.prepare, data)
        self._record_decode(model, started, time.monotonic(), len(data))
        return prepared


_Region = TypeVar("_Region", Detection, TextRegion)


def _with_parts(
    items: Sequence[_Region], parts: Mapping[int, Mapping[str, TaskAnswer]]
) -> tuple[_Region, ...]:
    """``items`` with each one's pipeline parts (by index) merged in."""
    return tuple(
        replace(item, parts=parts[i]) if parts.get(i) else item for i, item in enumerate(items)
    )


#: The output a V2 request to an image model may ask for beside the model's own: each
#: image's task answer as JSON (BYTES), as the task's image route renders it.
ANSWER = "answer"


def _stacked(arrays: Sequence[Array]) -> Array:
    """Images' tensors as one batch (a view of a lone one, with its batch axis)."""
    return arrays[0][np.newaxis] if len(arrays) == 1 else np.stack(arrays)


def _joined(arrays: Sequence[Array]) -> Array:
    """Batches' rows as one batch, in order (a lone one as it is)."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _has_output(model: LoadedModel, name: str) -> bool:
    return any(spec.name == name for spec in model.config.outputs)


def _encoded_images(model: LoadedModel, inputs: Tensors) -> list[bytes] | None:
    """The files of a V2 request that sends encoded images to an image model (one BYTES
    tensor ``[N]`` or ``[N, 1]`` of JPEG / PNG / WebP files, where the model's own input
    is not BYTES); None for an ordinary tensor request.

    Raises:
        InvalidInputError: a BYTES tensor of another shape.
    """
    if model.preprocess is None or model.config.postprocess is None or len(inputs) != 1:
        return None
    ((input_name, array),) = inputs.items()
    if array.dtype != object or any(s.datatype == "BYTES" for s in model.config.inputs):
        return None
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] != 1) or not array.size:
        raise InvalidInputError(
            f"input {input_name!r}: encoded images go as a BYTES tensor [N] or [N, 1] of "
            f"JPEG / PNG / WebP files, got shape {list(array.shape)}"
        )
    return [bytes(item) for item in array.reshape(-1)]


def _classes(answer: object) -> list[Classification]:
    if not isinstance(answer, Classes):
        raise TypeError(f"a classify model answered {type(answer).__name__}")
    return list(answer.classes)


def _view(model: LoadedModel) -> ModelView:
    """What the doors may know of a loaded version: a frozen snapshot."""
    return ModelView(
        key=model.key,
        config=model.config,
        platform=model.platform,
        device=model.device,
        instances=len(model.runtimes),
        queue_rows=model.batcher.policy.max_queue_rows,
        state=ModelState.READY,
        memory=model.memory,
        load_seconds=model.load_seconds,
    )


def preflight(settings: EngineSettings) -> list[ModelEntry | BrokenModel]:
    """Scan the repository and check the models (and pipelines) asked for exist, before
    any loading.

    Raises:
        ConfigError: the repository is missing.
        ModelNotFoundError: ``settings.models`` names a model the repository lacks.
    """
    entries = scan_repository(settings.repository)
    names = [e.name for e in entries] + [p.name for p in scan_pipelines(settings.repository)]
    unknown = set(settings.models) - set(names)
    if unknown:
        raise ModelNotFoundError(
            f"model {sorted(unknown)[0]!r} is not in the repository {settings.repository}; "
            f"it has {', '.join(sorted(names)) or 'none'}"
        )
    return entries


def pipeline_task(settings: EngineSettings, name: str) -> str | None:
    """The task pipeline ``name`` answers (None: no pipeline has that name).

    Raises:
        ConfigError: the pipeline is malformed, or its steps do not fit their models.
    """
    found = {p.name: p for p in scan_pipelines(settings.repository)}
    config = found.get(name)
    if config is None:
        return None
    if isinstance(config, BrokenModel):
        raise ConfigError(config.reason)
    models = _model_table(scan_repository(settings.repository))
    return plan_pipeline(config, models, set(found)).task


def _model_table(entries: Sequence[ModelEntry | BrokenModel]) -> dict[str, ModelConfig | str]:
    """Each model of a repository scan: its config, or why it cannot load (what a
    pipeline's steps are checked against)."""
    return {e.name: e.config if isinstance(e, ModelEntry) else e.reason for e in entries}


def _models_to_load(settings: EngineSettings) -> tuple[str, ...]:
    """``settings.models`` with each pipeline named replaced by the models its steps
    run (empty: every model)."""
    if not settings.models:
        return ()
    try:
        pipelines = {
            p.name: p for p in scan_pipelines(settings.repository) if isinstance(p, PipelineConfig)
        }
    except ConfigError:
        return settings.models  # preflight reports the missing repository
    names: list[str] = []
    for name in settings.models:
        names.extend(pipelines[name].models if name in pipelines else (name,))
    return tuple(dict.fromkeys(names))


def broken_models(settings: EngineSettings) -> dict[str, str]:
    """The models of the repository that cannot load, each with why (``preflight``'s
    checks first).

    Raises:
        ConfigError, ModelNotFoundError: as ``preflight``.
    """
    return {e.name: e.reason for e in preflight(settings) if isinstance(e, BrokenModel)}


def _with_dictionary(config: ModelConfig, metadata: Mapping[str, str]) -> ModelConfig:
    """A ``ctc`` recogniser without a labels file reads its dictionary from the model
    file's ``character`` metadata (PP-OCR's export: blank first and space last added)."""
    post = config.postprocess
    if post is None or post.decoder != "ctc" or post.labels or "character" not in metadata:
        return config
    labels = dictionary_from_metadata(metadata["character"])
    return replace(config, postprocess=replace(post, labels=labels))


def _check_decoder(path: Path, config: ModelConfig) -> None:
    """The postprocess decoder must fit the model's real output (checked at load)."""
    post = config.postprocess
    if post is None or not config.outputs:
        return
    source = path.parent.parent / "config.yaml"
    name = post.output or config.outputs[0].name
    output = next((s for s in config.outputs if s.name == name), None)
    if output is None:
        raise ConfigError(
            f"{source}: field 'postprocess.output' is {name!r}, which the model does not "
            f"have; its outputs are {', '.join(s.name for s in config.outputs)}"
        )
    problem = decoder_named(post.decoder).check(output, post)
    if problem is not None:
        raise ConfigError(
            f"{source}: field 'postprocess.decoder' is {post.decoder!r}, but output "
            f"{name!r} {problem}"
        )


def _check_declared(
    path: Path, kind: str, declared: tuple[TensorSpec, ...], actual: tuple[TensorSpec, ...]
) -> None:
    """A config's declared inputs/outputs must agree with the model file's own."""
    if not declared:
        return
    by_name = {s.name: s for s in actual}
    for spec in declared:
        real = by_name.get(spec.name)
        if real is None:
            raise ConfigError(
                f"{path}: config.yaml declares {kind} {spec.name!r}, but the model's {kind}s "
                f"are {', '.join(by_name)}"
            )
        if (
            real.datatype != spec.datatype
            or len(real.shape) != len(spec.shape)
            or any(
                a != -1 and b != -1 and a != b for a, b in zip(real.shape, spec.shape, strict=True)
            )
        ):
            raise ConfigError(
                f"{path}: config.yaml declares {kind} {spec.name!r} as {spec.datatype} "
                f"{list(spec.shape)}, but the model has {real.datatype} {list(real.shape)}"
            )


def _warm_up(runtime: Runtime) -> None:
    """Run zeros so the first real request does not pay for lazy setup: one row, or
    each bucket size of a padded runtime (batching/buckets.py)."""
    if any(-1 in s.shape for s in runtime.inputs):
        return

    def zeros(rows: int) -> Tensors:
        feed: dict[str, Array] = {}
        for spec in runtime.inputs:
            if spec.datatype == "BYTES":
                feed[spec.name] = np.full((rows, *spec.shape), b"", dtype=object)
            else:
                feed[spec.name] = np.zeros((rows, *spec.shape), dtype=numpy_dtype(spec.datatype))
        return feed

    for rows in runtime.sizes if isinstance(runtime, PaddedRuntime) else (1,):
        runtime.infer(zeros(rows))
