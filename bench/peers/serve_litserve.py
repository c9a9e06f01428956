"""LitServe: the shared classifier as a ``LitAPI`` with LitServe's batching
(``max_batch_size``, ``batch_timeout``) and ``PEER_WORKERS`` CPU workers. LitServe reads
a request as JSON or a form, so images arrive as the multipart file ``image`` at
``/predict``."""

from __future__ import annotations

import litserve as ls
from classifier import Classifier, Settings

SETTINGS = Settings.from_env()


class Peer(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.classifier = Classifier(SETTINGS.model_dir)

    # No annotation on purpose: LitServe picks the parser from it, and only an
    # unannotated ``request`` gets the form (an ``Any`` one is read as a JSON body).
    def decode_request(self, request) -> bytes:  # type: ignore[no-untyped-def]
        return bytes(request["image"].file.read())

    def predict(self, images: list[bytes]) -> list[dict[str, object]]:
        return self.classifier(images)

    def encode_response(self, output: dict[str, object]) -> dict[str, object]:
        return output


if __name__ == "__main__":
    api = Peer(max_batch_size=SETTINGS.max_batch, batch_timeout=SETTINGS.delay_ms / 1000)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=SETTINGS.workers)
    server.run(host="127.0.0.1", port=SETTINGS.port, generate_client_file=False)
