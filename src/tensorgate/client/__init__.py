"""Clients: ``Client`` (HTTP, futures), ``AsyncClient`` (HTTP, awaitables) and
``Predictor`` (in-process), all with ``predict(images)`` and ``infer(tensors)``.

``Predictor`` (which holds an Engine) is imported when first used, so a remote client
does not load the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tensorgate.client._common import ImageInput, ModelIndexEntry, Prediction, RetryPolicy
from tensorgate.client.aio import AsyncClient
from tensorgate.client.sync import Client

if TYPE_CHECKING:
    from tensorgate.client.inprocess import Predictor

__all__ = [
    "AsyncClient",
    "Client",
    "ImageInput",
    "ModelIndexEntry",
    "Prediction",
    "Predictor",
    "RetryPolicy",
]


def __getattr__(name: str) -> Any:
    if name == "Predictor":
        from tensorgate.client.inprocess import Predictor

        return Predictor
    raise AttributeError(f"module 'tensorgate.client' has no attribute {name!r}")
