"""Ray Serve: the shared classifier as a deployment with ``PEER_WORKERS`` replicas (one
CPU each) and ``@serve.batch``; a local Ray instance with as many CPUs, no dashboard.
Images are POSTed raw to ``/classify``."""

from __future__ import annotations

import time

import ray
from classifier import Classifier, Settings
from ray import serve
from starlette.requests import Request

SETTINGS = Settings.from_env()


@serve.deployment(
    num_replicas=SETTINGS.workers,
    ray_actor_options={"num_cpus": 1},
    max_ongoing_requests=64,
)
class Peer:
    def __init__(self) -> None:
        self.classifier = Classifier(SETTINGS.model_dir)

    @serve.batch(max_batch_size=SETTINGS.max_batch, batch_wait_timeout_s=SETTINGS.delay_ms / 1000)
    async def classify(self, images: list[bytes]) -> list[dict[str, object]]:
        return self.classifier(images)

    async def __call__(self, request: Request) -> dict[str, object]:
        return await self.classify(await request.body())  # type: ignore[no-any-return]


def main() -> None:
    ray.init(num_cpus=SETTINGS.workers, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": SETTINGS.port})
    serve.run(Peer.bind(), name="peer", route_prefix="/classify")  # type: ignore[attr-defined]
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
