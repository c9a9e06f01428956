"""What the V2 protocol says about models, built once for both doors (HTTP, gRPC):
server extensions, model metadata, Triton-shaped model config, repository index."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tensorgate.engine import Engine
from tensorgate.errors import InvalidInputError
from tensorgate.registry import LoadedModel
from tensorgate.types import TensorSpec

__all__ = [
    "EXTENSIONS",
    "model_config_json",
    "model_metadata",
    "refuse_load_parameters",
    "repository_index",
]

#: Protocol extensions this server implements, as reported by server metadata.
EXTENSIONS = (
    "binary_tensor_data",
    "model_configuration",
    "model_repository",
    "model_repository(unload_dependents)",
    "statistics",
    "image_classification",
)


_TRITON_TYPES = {"BYTES": "TYPE_STRING"}


def _tensor_json(spec: TensorSpec, batched: bool) -> dict[str, Any]:
    return {
        "name": spec.name,
        "datatype": spec.datatype,
        "shape": ([-1] if batched else []) + list(spec.shape),
    }


def model_config_json(model: LoadedModel) -> dict[str, Any]:
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

    device = model.runtimes[0].device
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
            "default_queue_policy": {"max_queue_size": model.batcher.policy.max_queue_rows},
        },
        "instance_group": [
            {
                "name": f"{cfg.name}_0",
                "kind": "KIND_CPU" if device == "cpu" else "KIND_GPU",
                "count": len(model.runtimes),
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


def model_metadata(engine: Engine, name: str, model: LoadedModel) -> dict[str, Any]:
    """The V2 model metadata document."""
    versions = [str(s.version) for s in engine.statuses() if s.name == name and s.version]
    return {
        "name": name,
        "versions": versions,
        "platform": model.platform,
        "inputs": [_tensor_json(s, True) for s in model.config.inputs],
        "outputs": [_tensor_json(s, True) for s in model.config.outputs],
    }


def repository_index(engine: Engine, ready_only: bool) -> list[dict[str, str]]:
    """The repository index: every model version with its state and reason."""
    return [
        {
            "name": s.name,
            "version": "" if s.version is None else str(s.version),
            "state": s.state.value,
            "reason": s.reason,
        }
        for s in engine.statuses()
        if not ready_only or s.state.value == "READY"
    ]


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
