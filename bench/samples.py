"""Request tensors the load generators and the raw bounds share (no gevent here: a
module that patches threads must not be imported where threads run inference)."""

from __future__ import annotations

import json

import numpy as np


def sample_batch(rows: int, datatype: str, model: str) -> np.ndarray:
    """``rows`` random inputs: normalised FP32 NCHW, or UINT8 pixels (NHWC unless the
    model's name ends in -nchw)."""
    rng = np.random.default_rng(0)
    if datatype == "FP32":
        return rng.standard_normal((rows, 3, 224, 224)).astype(np.float32)
    shape = (rows, 3, 224, 224) if model.endswith("-nchw") else (rows, 224, 224, 3)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def binary_request(rows: int, datatype: str, model: str) -> tuple[bytes, int]:
    """The V2 request tritonclient sends for ``rows`` sample inputs with the binary tensor
    extension (the output ``logits`` asked for in binary too): its body, and its JSON
    header's length (the Inference-Header-Content-Length)."""
    batch = sample_batch(rows, datatype, model)
    spec = {"name": "input", "shape": list(batch.shape), "datatype": datatype}
    header = json.dumps(
        {
            "inputs": [{**spec, "parameters": {"binary_data_size": batch.nbytes}}],
            "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
        }
    ).encode()
    return header + batch.tobytes(), len(header)
