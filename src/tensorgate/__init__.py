"""tensorgate: serve trained vision models fast, cheaply and safely.

The public API::

    from tensorgate import Engine, EngineSettings

    async with Engine(EngineSettings(repository=path)) as engine:
        labels = await engine.classify("efficientnet-lite0", [jpeg_bytes])

    with Client("http://127.0.0.1:8000") as client:      # or Predictor() in-process
        predictions = client.predict(["cat.jpg"]).result()
"""

from tensorgate._version import __version__
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
    ModelNotFoundError,
    ModelNotReadyError,
    PayloadTooLargeError,
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
from tensorgate.postprocess import Classification
from tensorgate.types import ModelKey, Tensors, TensorSpec

__all__ = [
    "AsyncClient",
    "BlockedSourceError",
    "Classification",
    "Client",
    "ConfigError",
    "ControlDisabledError",
    "DeadlineExceededError",
    "Engine",
    "EngineSettings",
    "ImageError",
    "ImageTooLargeError",
    "InferenceError",
    "InvalidInputError",
    "MemoryBudgetError",
    "ModelKey",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelNotReadyError",
    "ModelState",
    "ModelStatus",
    "PayloadTooLargeError",
    "Prediction",
    "Predictor",
    "ProtocolError",
    "QueueFullError",
    "RetryPolicy",
    "ServerSettings",
    "ShuttingDownError",
    "SourceError",
    "SourceNotFoundError",
    "SourceTooLargeError",
    "TensorSpec",
    "TensorgateError",
    "Tensors",
    "UnauthenticatedError",
    "UnavailableError",
    "UnsupportedImageError",
    "__version__",
]
