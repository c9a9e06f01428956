"""A model's ``config.yaml``: parsed and validated into a frozen ``ModelConfig``.

Every error names the file, the field, the offending value and what is allowed. Example::

    name: efficientnet-lite0
    backend: onnxruntime
    max_batch_size: 32
    dynamic_batching: {max_queue_delay_ms: 0, preferred_batch_sizes: [8, 16, 32]}
    instance_group: {count: auto, device: auto, threads: 1}
    inputs:  [{name: input, datatype: FP32, dims: [3, 224, 224]}]
    outputs: [{name: logits, datatype: FP32, dims: [1000]}]
    preprocess: {resize: 256, crop: 224, mean: [127, 127, 127], std: [128, 128, 128]}
    postprocess: {softmax: true, top_k: 5, labels: labels.txt}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tensorgate.errors import ConfigError
from tensorgate.imaging.spec import PostprocessSpec, PreprocessSpec
from tensorgate.protocol.datatypes import DATATYPES
from tensorgate.runtimes.backends import BACKENDS as _BACKEND_TABLE
from tensorgate.tasks import DECODERS, TASKS, Task
from tensorgate.types import TensorSpec

__all__ = [
    "BACKENDS",
    "NAME_PATTERN",
    "BatchingConfig",
    "ConfigReader",
    "InstanceConfig",
    "ModelConfig",
    "VersionPolicy",
    "check_model_name",
    "load_config",
    "parse_config",
]

#: Model names: a letter or digit first, then letters, digits, ``_ . -``; 64 at most.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: The backend names config.yaml accepts (the runtimes' descriptor table decides).
BACKENDS = tuple(_BACKEND_TABLE)


@dataclass(frozen=True, slots=True)
class BatchingConfig:
    """When the dynamic batcher closes a batch.

    Attributes:
        max_queue_delay_s: longest a batch's first request waits for others to join.
        preferred_batch_sizes: sizes that close a batch at once when reached.
        max_queue_size: queued rows before new requests get 503 (None: 2 × max batch ×
            instances).
    """

    max_queue_delay_s: float = 0.0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int | None = None


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """How many copies of the model run, where, and with how many threads each.

    Attributes:
        count: instances per device (None: one per CPU core, one per GPU).
        device: ``auto`` (a GPU when onnxruntime has one), ``cpu`` or ``cuda:N``.
        threads: intra-op threads of each instance.
    """

    count: int | None = None
    device: str = "auto"
    threads: int = 1


@dataclass(frozen=True, slots=True)
class VersionPolicy:
    """Which numbered versions to serve: the latest N, all, or a specific list."""

    kind: Literal["latest", "all", "specific"] = "latest"
    latest: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        """The versions to serve out of those on disk, ascending."""
        ordered = sorted(available)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.latest :]


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """A validated model configuration. ``inputs`` / ``outputs`` may be empty, in which
    case the runtime's own signature is used."""

    name: str
    backend: str = "onnxruntime"
    max_batch_size: int = 8
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    instances: InstanceConfig = field(default_factory=InstanceConfig)
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    default_model_filename: str = "model.onnx"
    preprocess: PreprocessSpec | None = None
    postprocess: PostprocessSpec | None = None
    task: str = "classify"


def check_model_name(name: str, where: str = "model name") -> str:
    """Return ``name`` if it is a valid model name, else raise ConfigError."""
    if not NAME_PATTERN.match(name):
        raise ConfigError(
            f"{where} {name!r} is invalid: use 1–64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


class ConfigReader:
    """Typed access to one YAML mapping with errors that name the file and field."""

    def __init__(self, data: Mapping[str, Any], source: str, prefix: str = "") -> None:
        self._data = data
        self._source = source
        self._prefix = prefix

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self._source}: field '{self._prefix}{key}' {problem}")

    def unknown(self, allowed: tuple[str, ...]) -> None:
        extra = sorted(set(self._data) - set(allowed))
        if extra:
            raise self.fail(extra[0], f"is not a known field; known fields: {', '.join(allowed)}")

    def has(self, key: str) -> bool:
        return key in self._data

    def raw(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def section(self, key: str) -> ConfigReader:
        value = self._data.get(key, {})
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {value!r:.60}")
        return ConfigReader(value, self._source, f"{self._prefix}{key}.")

    def get_str(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self._data.get(key, default)
        if value is None:
            raise self.fail(key, "is required")
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {value!r:.60}")
        if choices and value not in choices:
            raise self.fail(key, f"is {value!r}; must be one of {', '.join(choices)}")
        return value

    def get_int(self, key: str, default: int | None = None, minimum: int = 0) -> int:
        value = self._data.get(key, default)
        if value is None:
            raise self.fail(key, "is required")
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"must be an integer, got {value!r:.60}")
        if value < minimum:
            raise self.fail(key, f"is {value}; must be >= {minimum}")
        return value

    def get_float(self, key: str, default: float, minimum: float = 0.0) -> float:
        value = self._data.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(key, f"must be a number, got {value!r:.60}")
        if value < minimum:
            raise self.fail(key, f"is {value}; must be >= {minimum}")
        return float(value)

    def get_bool(self, key: str, default: bool) -> bool:
        value = self._data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r:.60}")
        return value

    def get_ints(self, key: str, minimum: int = 0) -> tuple[int, ...]:
        value = self._data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
        ):
            raise self.fail(key, f"must be a list of integers >= {minimum}, got {value!r:.60}")
        return tuple(value)

    def get_floats3(
        self, key: str, default: tuple[float, float, float]
    ) -> tuple[float, float, float]:
        value = self._data.get(key, default)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return (float(value),) * 3
        if (
            not isinstance(value, list | tuple)
            or len(value) != 3
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            raise self.fail(key, f"must be a number or a list of 3 numbers, got {value!r:.60}")
        return (float(value[0]), float(value[1]), float(value[2]))


def _tensor_specs(reader: ConfigReader, key: str) -> tuple[TensorSpec, ...]:
    raw = reader.raw(key, [])
    if not isinstance(raw, list):
        raise reader.fail(key, f"must be a list of {{name, datatype, dims}}, got {raw!r:.60}")
    specs: list[TensorSpec] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise reader.fail(f"{key}[{index}]", "must be a mapping with name, datatype, dims")
        sub = ConfigReader(item, reader._source, f"{reader._prefix}{key}[{index}].")
        sub.unknown(("name", "datatype", "dims"))
        dims = sub.raw("dims")
        if not isinstance(dims, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and (d == -1 or d > 0) for d in dims
        ):
            raise sub.fail("dims", f"must be a list of sizes > 0 or -1, got {dims!r:.60}")
        specs.append(
            TensorSpec(sub.get_str("name"), sub.get_str("datatype", choices=DATATYPES), tuple(dims))
        )
    return tuple(specs)


def _size_pair(reader: ConfigReader, key: str) -> tuple[int, int] | None:
    value = reader.raw(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value, value)
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return (value[0], value[1])
    raise reader.fail(key, f"must be a size > 0 or [height, width], got {value!r:.60}")


def _preprocess(reader: ConfigReader) -> PreprocessSpec:
    reader.unknown(
        (
            "input",
            "resize",
            "mode",
            "crop",
            "mean",
            "std",
            "layout",
            "color",
            "datatype",
            "pad",
            "width_step",
        )
    )
    mode = reader.get_str("mode", "shorter", ("shorter", "exact", "letterbox", "dbnet", "height"))
    resize: tuple[int, int] | int | None
    if mode == "dbnet":
        resize = reader.get_int("resize", 736, minimum=32)
    elif mode == "shorter":
        resize = (
            reader.get_int("resize", 256, minimum=1)
            if reader.raw("resize", 0) is not None
            else None
        )
    else:
        resize = _size_pair(reader, "resize")
        if resize is None:
            raise reader.fail("resize", f"is required when mode is {mode}: give [height, width]")
    pad = reader.get_int("pad", 114)
    if pad > 255:
        raise reader.fail("pad", f"is {pad}; must be 0–255")
    std = reader.get_floats3("std", (1.0, 1.0, 1.0))
    if 0.0 in std:
        raise reader.fail("std", f"is {list(std)}; a divisor of 0 is not allowed")
    name = reader.raw("input")
    return PreprocessSpec(
        input=None if name is None else reader.get_str("input"),
        resize=resize,
        mode=mode,  # type: ignore[arg-type]
        crop=None if mode in ("dbnet", "height") else _size_pair(reader, "crop"),
        mean=reader.get_floats3("mean", (0.0, 0.0, 0.0)),
        std=std,
        layout=reader.get_str("layout", "NCHW", ("NCHW", "NHWC")),  # type: ignore[arg-type]
        color=reader.get_str("color", "RGB", ("RGB", "BGR")),  # type: ignore[arg-type]
        datatype=reader.get_str("datatype", "FP32", ("FP32", "FP16", "UINT8")),
        pad=pad,
        width_step=reader.get_int("width_step", 1, minimum=1),
    )


def _unit(reader: ConfigReader, key: str, default: float) -> float:
    value = reader.get_float(key, default)
    if value > 1.0:
        raise reader.fail(key, f"is {value}; must be 0–1")
    return value


def _postprocess(reader: ConfigReader, model_dir: Path, task: Task) -> PostprocessSpec:
    decoder = reader.get_str("decoder", task.decoders[0], task.decoders)
    reader.unknown(("decoder", "output", "labels", *DECODERS[decoder].fields))
    labels: tuple[str, ...] = ()
    if reader.has("labels"):
        name = reader.get_str("labels")
        path = (model_dir / name).resolve()
        if model_dir.resolve() not in path.parents:
            raise reader.fail("labels", f"is {name!r}, which leaves the model directory")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise reader.fail(
                "labels", f"names {str(path)!r}, which cannot be read: {exc.strerror}"
            ) from None
        labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    output = reader.raw("output")
    score = reader.get_float("score_threshold", 0.25)
    iou = reader.get_float("iou_threshold", 0.45)
    for key, value in (("score_threshold", score), ("iou_threshold", iou)):
        if value > 1.0:
            raise reader.fail(key, f"is {value}; must be 0–1")
    return PostprocessSpec(
        output=None if output is None else reader.get_str("output"),
        softmax=reader.get_bool("softmax", True),
        top_k=reader.get_int("top_k", 5, minimum=1),
        labels=labels,
        decoder=decoder,
        score_threshold=score,
        iou_threshold=iou,
        max_detections=reader.get_int("max_detections", 100, minimum=1),
        max_candidates=reader.get_int(
            "max_candidates", 1000 if decoder == "dbnet" else 3000, minimum=1
        ),
        class_agnostic=reader.get_bool("class_agnostic", False),
        threshold=_unit(reader, "threshold", 0.3),
        box_threshold=_unit(reader, "box_threshold", 0.5),
        unclip_ratio=reader.get_float("unclip_ratio", 1.6),
    )


def _version_policy(reader: ConfigReader) -> VersionPolicy:
    reader.unknown(("latest", "all", "specific"))
    if reader.has("all"):
        return VersionPolicy(kind="all")
    if reader.has("specific"):
        versions = reader.get_ints("specific", minimum=1)
        if not versions:
            raise reader.fail("specific", "must list at least one version number")
        return VersionPolicy(kind="specific", versions=versions)
    return VersionPolicy(kind="latest", latest=reader.get_int("latest", 1, minimum=1))


def _instances(reader: ConfigReader) -> InstanceConfig:
    reader.unknown(("count", "device", "threads"))
    count: int | None = None
    if reader.raw("count", "auto") != "auto":
        count = reader.get_int("count", minimum=1)
    device = reader.get_str("device", "auto")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise reader.fail("device", f"is {device!r}; must be auto, cpu or cuda:N")
    return InstanceConfig(
        count=count, device=device, threads=reader.get_int("threads", 1, minimum=1)
    )


def parse_config(data: Any, source: str, model_dir: Path) -> ModelConfig:
    """Validate a config mapping loaded from ``source`` (used in error messages)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must hold a mapping of fields, got {type(data).__name__}")
    reader = ConfigReader(data, source)
    reader.unknown(
        (
            "name",
            "backend",
            "max_batch_size",
            "inputs",
            "outputs",
            "dynamic_batching",
            "instance_group",
            "version_policy",
            "default_model_filename",
            "preprocess",
            "postprocess",
            "task",
        )
    )
    task = TASKS[reader.get_str("task", "classify", tuple(TASKS))]
    name = reader.get_str("name", model_dir.name)
    check_model_name(name, f"{source}: field 'name'")
    if name != model_dir.name:
        raise reader.fail(
            "name", f"is {name!r} but the directory is {model_dir.name!r}; they must match"
        )
    backend = reader.get_str("backend", "onnxruntime", BACKENDS)
    max_batch = reader.get_int("max_batch_size", 8, minimum=1)
    batching_reader = reader.section("dynamic_batching")
    batching_reader.unknown(("max_queue_delay_ms", "preferred_batch_sizes", "max_queue_size"))
    preferred = batching_reader.get_ints("preferred_batch_sizes", minimum=1)
    too_big = [p for p in preferred if p > max_batch]
    if too_big:
        raise batching_reader.fail(
            "preferred_batch_sizes", f"has {too_big[0]} > max_batch_size {max_batch}"
        )
    queue_size = (
        batching_reader.get_int("max_queue_size", minimum=1)
        if batching_reader.has("max_queue_size")
        else None
    )
    batching = BatchingConfig(
        max_queue_delay_s=batching_reader.get_float("max_queue_delay_ms", 0.0) / 1000.0,
        preferred_batch_sizes=tuple(sorted(set(preferred))),
        max_queue_size=queue_size,
    )
    filename = reader.get_str("default_model_filename", _BACKEND_TABLE[backend].default_filename)
    preprocess = _preprocess(reader.section("preprocess")) if reader.has("preprocess") else None
    if preprocess is not None and preprocess.mode not in task.modes:
        raise reader.fail(
            "preprocess.mode",
            f"is {preprocess.mode!r}, which a {task.name} model does not take; use "
            f"{' or '.join(task.modes)}",
        )
    postprocess = (
        _postprocess(reader.section("postprocess"), model_dir, task)
        if reader.has("postprocess") or task.name != "classify"
        else None
    )
    if "/" in filename or "\\" in filename or filename.startswith("."):
        raise reader.fail("default_model_filename", f"is {filename!r}; give a plain file name")
    return ModelConfig(
        name=name,
        backend=backend,
        max_batch_size=max_batch,
        inputs=_tensor_specs(reader, "inputs"),
        outputs=_tensor_specs(reader, "outputs"),
        batching=batching,
        instances=_instances(reader.section("instance_group")),
        version_policy=_version_policy(reader.section("version_policy")),
        default_model_filename=filename,
        preprocess=preprocess,
        postprocess=postprocess,
        task=task.name,
    )


def load_config(model_dir: Path) -> ModelConfig:
    """Load ``<model_dir>/config.yaml`` (safe YAML) and validate it."""
    path = model_dir / "config.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: missing; every model directory needs a config.yaml "
            "(at least 'name: <directory name>')"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config({} if data is None else data, str(path), model_dir)
