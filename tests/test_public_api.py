"""The public API is curated: this list changes only on purpose."""

from __future__ import annotations

import subprocess
import sys

import tensorgate


def test_exported_members() -> None:
    assert sorted(tensorgate.__all__) == sorted(
        [
            "AsyncClient", "BlockedSourceError", "Classification", "Client", "ConfigError",
            "ControlDisabledError", "DeadlineExceededError", "MemoryBudgetError",
            "ModelLoadError", "UnauthenticatedError", "Prediction", "Predictor", "RetryPolicy",
            "Engine", "EngineSettings", "ImageError", "ImageTooLargeError", "InferenceError",
            "InvalidInputError", "ModelKey", "ModelNotFoundError", "ModelNotReadyError",
            "ModelNotAvailableError", "PermissionDeniedError",
            "ModelState", "ModelStatus", "PayloadTooLargeError", "ProtocolError",
            "QueueFullError", "ServerSettings", "ShuttingDownError", "SourceError",
            "SourceNotFoundError", "SourceTooLargeError", "TensorSpec", "TensorgateError",
            "Tensors", "UnavailableError", "UnsupportedImageError", "__version__",
        ]
    )  # fmt: skip
    for name in tensorgate.__all__:
        assert hasattr(tensorgate, name)
    assert set(tensorgate.__all__) == set(tensorgate._HOMES) | {"__version__"}


def test_light_entry_points_import_no_heavy_modules() -> None:
    """``import tensorgate.errors`` and ``tensorgate plan --help`` load neither the
    engine, nor httpx, nor Pillow (bench/imports.py times them)."""
    code = """
import sys
import tensorgate.errors
light = [m for m in ("tensorgate.engine", "httpx", "PIL") if m in sys.modules]
sys.argv = ["tensorgate", "plan", "--help"]
from tensorgate.cli import main
try:
    main()
except SystemExit:
    pass
print(light, [m for m in ("tensorgate.engine", "httpx", "PIL") if m in sys.modules])
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip().splitlines()[-1] == "[] []"


def test_every_error_maps_to_a_status() -> None:
    for name in tensorgate.__all__:
        member = getattr(tensorgate, name)
        if isinstance(member, type) and issubclass(member, tensorgate.TensorgateError):
            assert 400 <= member.http_status < 600
            assert member.grpc_code.isupper()


def test_serving_an_onnx_model_never_imports_torch(zoo_repository: object, cat_jpeg: bytes) -> None:
    code = f"""
import asyncio, sys
from pathlib import Path
from tensorgate import Engine, EngineSettings
from tensorgate.server.app import create_app
from tensorgate.server.runner import serve
from tensorgate.cli import app

async def main():
    settings = EngineSettings(
        repository=Path({str(zoo_repository)!r}), models=("efficientnet-lite0",), instances=1
    )
    async with Engine(settings) as e:
        await e.classify("efficientnet-lite0", [sys.stdin.buffer.read()])

asyncio.run(main())
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], input=cat_jpeg, capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "ok"
