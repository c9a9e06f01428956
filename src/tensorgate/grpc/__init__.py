"""The gRPC door: Triton's ``inference.GRPCInferenceService`` over the Engine."""

from __future__ import annotations

__all__: list[str] = []
