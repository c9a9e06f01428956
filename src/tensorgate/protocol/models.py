"""What the V2 protocol says about models, built once for both doors (HTTP, gRPC):
server extensions, model metadata, Triton-shaped model config, statistics, repository
index. Pure: each document is shaped from the engine's frozen views."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tensorgate.errors import InvalidInputError
from tensorgate.metrics.stats import Duration, ModelStatistics
from tensorgate.tasks import task_named
from tensorgate.types import TensorSpec
from tensorgate.views import ModelStatus, ModelView, PipelineView, StatisticsView, StepStatus

__all__ = [
    "EXTENSIONS",
    "model_config_json",
    "model_metadata",
    "pipeline_metadata",
    "refuse_load_parameters",
    "repository_index",
    "statistics_v2",
]

#: Protocol extensions this server implements, as reported by server metadata.
EXTENSIONS = (
    "binary_tensor_data",
    "model_configuration",
    "model_repository",
    "model_repository(unload_dependents)",
    "statistics",
    "classification",
    "image_classification",
)


_TRITON_TYPES = {"BYTES": "TYPE_STRING"}


def _tensor_json(spec: TensorSpec, batched: bool) -> dict[str, Any]:
    return {
        "name": spec.name,
        "datatype": spec.datatype,
        "shape": ([-1] if batched else []) + list(spec.shape),
    }


def model_config_json(model: ModelView) -> dict[str, Any]:
    """The model's effective configuration in Triton's model-config JSON shape."""
    cfg = model.config

    def tensors(specs: tuple[TensorSpec, ...]) -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "data_type": _TRITON_TYPES.get(s.datatype, f"TYPE_{s.datatype}"),
                "dims": list(s.shape),
            }
            for s in specs
        ]

    device = model.device
    policy = cfg.version_policy
    version_policy: dict[str, Any] = (
        {"all": {}}
        if policy.kind == "all"
        else {"specific": {"versions": list(policy.versions)}}
        if policy.kind == "specific"
        else {"latest": {"num_versions": policy.latest}}
    )
    doc: dict[str, Any] = {
        "name": cfg.name,
        "platform": model.platform,
        "backend": cfg.backend,
        "version_policy": version_policy,
        "max_batch_size": cfg.max_batch_size,
        "input": tensors(cfg.inputs),
        "output": tensors(cfg.outputs),
        "dynamic_batching": {
            "preferred_batch_size": list(cfg.batching.preferred_batch_sizes),
            "max_queue_delay_microseconds": round(cfg.batching.max_queue_delay_s * 1e6),
            "default_queue_policy": {"max_queue_size": model.queue_rows},
        },
        "instance_group": [
            {
                "name": f"{cfg.name}_0",
                "kind": "KIND_CPU" if device == "cpu" else "KIND_GPU",
                "count": model.instances,
                "gpus": [] if device == "cpu" else [int(device.partition(":")[2] or 0)],
            }
        ],
        "default_model_filename": cfg.default_model_filename,
    }
    if cfg.preprocess is not None:
        p = cfg.preprocess
        doc["parameters"] = {
            "preprocess": {
                "string_value": (
                    f"resize={p.resize} mode={p.mode} crop={p.crop} mean={list(p.mean)} "
                    f"std={list(p.std)} layout={p.layout} color={p.color}"
                )
            }
        }
    return doc


def model_metadata(model: ModelView, versions: Sequence[int]) -> dict[str, Any]:
    """The V2 model metadata document; ``versions``: every version the server knows."""
    return {
        "name": model.name,
        "versions": [str(v) for v in versions],
        "platform": model.platform,
        "inputs": [_tensor_json(s, True) for s in model.config.inputs],
        "outputs": [_tensor_json(s, True) for s in model.config.outputs],
    }


def repository_index(statuses: Iterable[ModelStatus], ready_only: bool) -> list[dict[str, Any]]:
    """The repository index: every model version with its state and reason (and, for a
    pipeline, its steps with their models' states)."""
    index: list[dict[str, Any]] = []
    for s in statuses:
        if ready_only and s.state.value != "READY":
            continue
        entry: dict[str, Any] = {
            "name": s.name,
            "version": "" if s.version is None else str(s.version),
            "state": s.state.value,
            "reason": s.reason,
        }
        if s.steps:
            entry["steps"] = [_step_json(step) for step in s.steps]
        index.append(entry)
    return index


def _step_json(step: StepStatus) -> dict[str, str]:
    return {
        "name": step.name,
        "kind": step.kind,
        "input": step.input,
        "model": step.model,
        "state": step.state.value,
    }


def pipeline_metadata(view: PipelineView) -> dict[str, Any]:
    """V2 model metadata of a pipeline: it takes encoded images (on its task's image
    route) and lists its steps."""
    return {
        "name": view.name,
        "versions": ["1"],
        "platform": "pipeline",
        "inputs": [{"name": "image", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [],
        "task": view.task,
        "route": f"/v2/models/{view.name}/{task_named(view.task).route}",
        "steps": [_step_json(step) for step in view.status.steps],
    }


def refuse_load_parameters(names: Iterable[str]) -> None:
    """A load request may not carry a config or model files (Triton's ``config`` and
    ``file:<path>`` parameters): tensorgate loads models only as they are in its
    repository, so nothing a client sends can become a model file."""
    for name in names:
        if name == "config" or name.startswith("file:"):
            raise InvalidInputError(
                f"load parameter {name!r} is not accepted: tensorgate loads models only as "
                "they are in its repository (config and file:<path> are refused); put the "
                "model and its config.yaml in the repository and load it by name"
            )


def _duration(d: Duration) -> dict[str, int]:
    return {"count": d.count, "ns": d.ns}


def _counters_v2(stats: ModelStatistics) -> dict[str, Any]:
    zero = _duration(Duration())
    return {
        "name": stats.name,
        "version": stats.version,
        "last_inference": stats.last_inference_ms,
        "inference_count": stats.inference_count,
        "execution_count": stats.execution_count,
        "inference_stats": {
            "success": _duration(stats.success),
            "fail": _duration(stats.fail),
            "queue": _duration(stats.queue),
            "compute_input": _duration(stats.compute_input),
            "compute_infer": _duration(stats.compute_infer),
            "compute_output": _duration(stats.compute_output),
            "cache_hit": zero,
            "cache_miss": zero,
        },
        "batch_stats": [
            {
                "batch_size": size,
                "compute_input": _duration(d.input),
                "compute_infer": _duration(d.infer),
                "compute_output": _duration(d.output),
            }
            for size, d in sorted(stats.batches.items())
        ],
    }


def statistics_v2(view: StatisticsView) -> dict[str, Any]:
    """A version's V2 ``model_stats`` entry, with the memory it took when it loaded."""
    doc = _counters_v2(view.counters)
    kind, _, index = view.device.partition(":")
    doc["memory_usage"] = [
        {"type": "CPU" if kind == "cpu" else "GPU", "id": int(index or 0), "byte_size": view.memory}
    ]
    return doc
