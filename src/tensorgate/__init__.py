"""tensorgate: serve trained vision models fast, cheaply and safely.

The public API::

    from tensorgate import Engine, EngineSettings

    async with Engine(EngineSettings(repository=path)) as engine:
        labels = await engine.classify("efficientnet-lite0", [jpeg_bytes])

    with Client("http://127.0.0.1:8000") as client:      # or Predictor() in-process
        predictions = client.predict(["cat.jpg"]).result()

Names are imported when first used (PEP 562), so ``import tensorgate.errors`` or the
CLI's ``--help`` does not pay for the engine, httpx or Pillow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tensorgate._version import __version__

if TYPE_CHECKING:
    from tensorgate.client import AsyncClient, Client, Prediction, Predictor, RetryPolicy
    from tensorgate.config import EngineSettings, ServerSettings
    from tensorgate.engine import Engine, ModelState, ModelStatus
    from tensorgate.errors import (
        BlockedSourceError,
        ConfigError,
        ControlDisabledError,
        DeadlineExceededError,
        ImageError,
        ImageTooLargeError,
        InferenceError,
        InvalidInputError,
        MemoryBudgetError,
        ModelLoadError,
        ModelNotAvailableError,
        ModelNotFoundError,
        ModelNotReadyError,
        PayloadTooLargeError,
        PermissionDeniedError,
        ProtocolError,
        QueueFullError,
        ShuttingDownError,
        SourceError,
        SourceNotFoundError,
        SourceTooLargeError,
        TensorgateError,
        UnauthenticatedError,
        UnavailableError,
        UnsupportedImageError,
    )
    from tensorgate.types import Classification, ModelKey, Tensors, TensorSpec

#: Where each public name lives (one table; ``__all__`` is its keys and the version).
_HOMES = {
    **dict.fromkeys(
        ("AsyncClient", "Client", "Prediction", "Predictor", "RetryPolicy"), "tensorgate.client"
    ),
    **dict.fromkeys(("EngineSettings", "ServerSettings"), "tensorgate.config"),
    **dict.fromkeys(("Engine", "ModelState", "ModelStatus"), "tensorgate.engine"),
    **dict.fromkeys(
        (
            "BlockedSourceError",
            "ConfigError",
            "ControlDisabledError",
            "DeadlineExceededError",
            "ImageError",
            "ImageTooLargeError",
            "InferenceError",
            "InvalidInputError",
            "MemoryBudgetError",
            "ModelLoadError",
            "ModelNotAvailableError",
            "ModelNotFoundError",
            "ModelNotReadyError",
            "PayloadTooLargeError",
            "PermissionDeniedError",
            "ProtocolError",
            "QueueFullError",
            "ShuttingDownError",
            "SourceError",
            "SourceNotFoundError",
            "SourceTooLargeError",
            "TensorgateError",
            "UnauthenticatedError",
            "UnavailableError",
            "UnsupportedImageError",
        ),
        "tensorgate.errors",
    ),
    **dict.fromkeys(("Classification", "ModelKey", "Tensors", "TensorSpec"), "tensorgate.types"),
}

__all__ = [  # noqa: RUF022 -- kept in the order of _HOMES, then the version
    "AsyncClient",
    "Client",
    "Prediction",
    "Predictor",
    "RetryPolicy",
    "EngineSettings",
    "ServerSettings",
    "Engine",
    "ModelState",
    "ModelStatus",
    "BlockedSourceError",
    "ConfigError",
    "ControlDisabledError",
    "DeadlineExceededError",
    "ImageError",
    "ImageTooLargeError",
    "InferenceError",
    "InvalidInputError",
    "MemoryBudgetError",
    "ModelLoadError",
    "ModelNotAvailableError",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "QueueFullError",
    "ShuttingDownError",
    "SourceError",
    "SourceNotFoundError",
    "SourceTooLargeError",
    "TensorgateError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnsupportedImageError",
    "Classification",
    "ModelKey",
    "Tensors",
    "TensorSpec",
    "__version__",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tensorgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
