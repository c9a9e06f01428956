"""Clients: ``Client`` (HTTP, futures), ``AsyncClient`` (HTTP, awaitables) and
``Predictor`` (in-process), all with ``predict(images)`` and ``infer(tensors)``."""

from tensorgate.client._common import ImageInput, Prediction, RetryPolicy
from tensorgate.client.aio import AsyncClient
from tensorgate.client.inprocess import Predictor
from tensorgate.client.sync import Client

__all__ = ["AsyncClient", "Client", "ImageInput", "Prediction", "Predictor", "RetryPolicy"]
