"""What the engine hands to the doors: frozen views and results, never its internals.

The HTTP and gRPC doors, the clients, batch jobs and ``describe`` see a model version
as a ``ModelView`` (a snapshot of its effective config, device, instances, queue bound
and state), its counters as a ``StatisticsView``, and an answer together with the key of
the version that gave it (``InferResult``, ``ClassifyResult``). The registry's mutable
record of a loaded version, with its batcher and runtimes, stays inside the engine.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from tensorgate.errors import TensorgateError
from tensorgate.metrics.stats import ModelStatistics
from tensorgate.repository.manifest import ModelConfig
from tensorgate.tasks.results import TaskAnswer
from tensorgate.types import Array, Classification, DeviceId, ModelKey

__all__ = [
    "ClassifyResult",
    "InferResult",
    "MetricsText",
    "ModelState",
    "ModelStatus",
    "ModelView",
    "PipelineView",
    "SourceAnswer",
    "SourcesResult",
    "StatisticsView",
    "StepStatus",
    "TaskResult",
]


class ModelState(enum.Enum):
    """Lifecycle of one model version."""

    LOADING = "LOADING"
    READY = "READY"
    UNLOADING = "UNLOADING"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class StepStatus:
    """One step of a pipeline and the state of the model it runs.

    Attributes:
        name: the step's name.
        kind: ``model`` or ``crop``.
        input: the step it reads (``image``: the request's image).
        model: the model it runs ("" for a crop step).
        state: that model's state (READY for a crop step).
    """

    name: str
    kind: str
    input: str
    model: str
    state: ModelState


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """A model version's state, as the repository index reports it.

    Attributes:
        name: model name.
        version: version number, or None for a model that failed before any version.
        state: its lifecycle state (a pipeline: READY when every step's model is).
        reason: why it is UNAVAILABLE ("" otherwise).
        steps: a pipeline's steps with their models' states (empty for a model).
    """

    name: str
    version: int | None
    state: ModelState
    reason: str = ""
    steps: tuple[StepStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class PipelineView:
    """A pipeline as the doors may see it.

    Attributes:
        name: its name (its repository directory).
        task: the task it answers (its first model's), on that task's image route.
        status: its state and each step's.
    """

    name: str
    task: str
    status: ModelStatus

    @property
    def ready(self) -> bool:
        return self.status.state is ModelState.READY


@dataclass(frozen=True, slots=True)
class ModelView:
    """One serving model version as the doors may see it (a snapshot).

    Attributes:
        key: name and version.
        config: the effective configuration (settings applied; inputs and outputs as
            the model file declares them).
        platform: the platform name Triton's clients show (``onnxruntime_onnx``, …).
        device: the device its instances run on (``cpu``, ``cuda:0``).
        instances: how many instances run batches at once.
        queue_rows: the bound of its request queue, in rows.
        state: its lifecycle state (READY for a view handed to a door).
        memory: bytes it took on its device when it loaded.
        load_seconds: how long it took to load.
    """

    key: ModelKey
    config: ModelConfig
    platform: str
    device: DeviceId
    instances: int
    queue_rows: int
    state: ModelState
    memory: int
    load_seconds: float

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def version(self) -> int:
        return self.key.version

    @property
    def takes_images(self) -> bool:
        """True when the config declares how images become its input (``preprocess``)."""
        return self.config.preprocess is not None and self.config.postprocess is not None


@dataclass(frozen=True, slots=True)
class StatisticsView:
    """A version's counters, copied when asked for, with where it runs.

    Attributes:
        key: name and version.
        device: its device.
        memory: bytes it took on that device.
        counters: request, queue and compute counters (a copy; the engine's own go on).
    """

    key: ModelKey
    device: DeviceId
    memory: int
    counters: ModelStatistics


@dataclass(frozen=True, slots=True)
class InferResult:
    """Output tensors and the version that computed them.

    Attributes:
        key: the model version that answered (after a hot swap, the new one).
        outputs: output tensors by name, rows first.
    """

    key: ModelKey
    outputs: dict[str, Array]


@dataclass(frozen=True, slots=True)
class ClassifyResult:
    """Per image, its best classes; and the version that answered.

    Attributes:
        key: the model version that answered (the newest, if a swap split the images).
        answers: per image, the best classes, best first.
    """

    key: ModelKey
    answers: list[list[Classification]]


@dataclass(frozen=True, slots=True)
class TaskResult:
    """Per image, the task's answer (classes, detections, an embedding); and the version
    that answered.

    Attributes:
        key: the model version that answered.
        task: the model's task (``classify``, ``detect``, ``embed``).
        answers: per image, in order (empty when the raw outputs were asked for).
        outputs: the model's raw outputs, one row per image, when asked for (V2 infer of
            encoded images: no decoder runs); empty otherwise.
    """

    key: ModelKey
    task: str
    answers: list[TaskAnswer]
    outputs: dict[str, Array] = field(default_factory=dict)


#: One source's answer: its classes, or the error that stopped that source alone.
SourceAnswer = list[Classification] | TensorgateError


@dataclass(frozen=True, slots=True)
class SourcesResult:
    """Per source, its classes or its error; and the version that answered.

    Attributes:
        key: the model version that answered.
        answers: per source, in order, the best classes or the ``TensorgateError``.
    """

    key: ModelKey
    answers: Sequence[SourceAnswer]


@dataclass(frozen=True, slots=True)
class MetricsText:
    """The Prometheus exposition and its content type."""

    body: bytes
    content_type: str
