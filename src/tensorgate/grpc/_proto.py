"""The message classes of Triton's ``grpc_service.proto`` (``inference`` package).

They come generated in the official ``tritonclient[grpc]`` wheel; using those very
classes keeps the wire format Triton's by construction. Installed with the ``grpc``
extra: ``pip install 'tensorgate[grpc]'``.
"""

from __future__ import annotations

from typing import Any

from tensorgate.errors import ConfigError

__all__ = ["mc", "pb", "pb_grpc"]

try:
    from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ConfigError(
        f"gRPC needs the grpc extra ({exc}); install it with pip install 'tensorgate[grpc]' "
        "or serve without gRPC (--grpc-port -1)"
    ) from None

pb: Any = service_pb2
pb_grpc: Any = service_pb2_grpc
mc: Any = model_config_pb2
