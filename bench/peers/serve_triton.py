"""Triton Inference Server through nvidia-pytriton: the shared classifier bound as a
model with ``PEER_WORKERS`` instances and Triton's dynamic batcher. Encoded images
arrive as a BYTES input ``image`` of shape ``[batch, 1]`` (KServe V2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from classifier import Classifier, Settings
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig


def instance(classifier: Classifier) -> Callable[..., dict[str, np.ndarray]]:
    @batch
    def infer(image: np.ndarray) -> dict[str, np.ndarray]:
        results = classifier([bytes(row[0]) for row in image])
        labels = np.array([[r["label"].encode()] for r in results], dtype=np.object_)
        scores = np.array([[r["score"]] for r in results], dtype=np.float32)
        return {"label": labels, "score": scores}

    return infer


def main() -> None:
    settings = Settings.from_env()
    config = TritonConfig(
        http_address="127.0.0.1",
        http_port=settings.port,
        grpc_address="127.0.0.1",
        grpc_port=settings.port + 1,
        metrics_port=settings.port + 2,
    )
    funcs: list[Any] = [instance(Classifier(settings.model_dir)) for _ in range(settings.workers)]
    with Triton(config=config) as triton:
        triton.bind(
            model_name="efficientnet-lite0",
            infer_func=funcs,
            inputs=[Tensor(name="image", dtype=bytes, shape=(1,))],
            outputs=[
                Tensor(name="label", dtype=bytes, shape=(1,)),
                Tensor(name="score", dtype=np.float32, shape=(1,)),
            ],
            config=ModelConfig(
                max_batch_size=settings.max_batch,
                batcher=DynamicBatcher(max_queue_delay_microseconds=int(settings.delay_ms * 1000)),
            ),
            strict=True,
        )
        triton.serve()


if __name__ == "__main__":
    main()
