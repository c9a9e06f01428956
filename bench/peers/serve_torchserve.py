"""TorchServe: archive the ONNX model with the shared classifier as a custom handler (no
torch in the worker), then run the frontend in the foreground with ``PEER_WORKERS``
workers and TorchServe's own batching (``batchSize``, ``maxBatchDelay``). Images are
POSTed raw to ``/predictions/efficientnet-lite0``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from classifier import Settings

HERE = Path(__file__).resolve().parent
NAME = "efficientnet-lite0"


def main() -> None:
    settings = Settings.from_env()
    # Inside the runner's scratch folder (PEER_SCRATCH), which it removes afterwards: the
    # archive and logs of every start would otherwise pile up in /tmp.
    scratch = Path(tempfile.mkdtemp(prefix="peer-torchserve-", dir=os.environ.get("PEER_SCRATCH")))
    store = scratch / "store"
    store.mkdir()
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [
            str(bin_dir / "torch-model-archiver"),
            "--model-name", NAME,
            "--version", "1.0",
            "--serialized-file", str(settings.model_dir / "model.onnx"),
            "--handler", str(HERE / "torchserve_handler.py"),
            "--extra-files", f"{HERE / 'classifier.py'},{settings.model_dir / 'labels.txt'}",
            "--export-path", str(store),
        ],
        check=True,
    )  # fmt: skip
    models = {
        NAME: {
            "1.0": {
                "marName": f"{NAME}.mar",
                "minWorkers": settings.workers,
                "maxWorkers": settings.workers,
                "batchSize": settings.max_batch,
                # 0 is read as "unset", i.e. TorchServe's 100 ms default (measured: p50
                # 122 ms at concurrency 1); 1 ms is the shortest wait it takes.
                "maxBatchDelay": max(1, round(settings.delay_ms)),
                "responseTimeout": 60,
            }
        }
    }
    properties = {
        "inference_address": f"http://127.0.0.1:{settings.port}",
        "management_address": f"http://127.0.0.1:{settings.port + 1}",
        "metrics_address": f"http://127.0.0.1:{settings.port + 2}",
        "model_store": str(store),
        "load_models": f"{NAME}.mar",
        "models": json.dumps(models),
        "default_workers_per_model": str(settings.workers),
        "disable_token_authorization": "true",
        "install_py_dep_per_model": "false",
        "job_queue_size": "1000",
        "vmargs": "-Xmx1g -XX:+UseContainerSupport",
    }
    config = scratch / "config.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in properties.items()), encoding="utf-8")
    # TorchServe keeps its pid file (and worker sockets) in the temporary directory: a
    # private one keeps an earlier run's stale pid file from refusing this start.
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "TMPDIR": str(scratch),
        "LOG_LOCATION": str(scratch / "logs"),
        "METRICS_LOCATION": str(scratch / "logs"),
    }
    os.chdir(scratch)  # anything else it writes lands in the scratch folder too
    os.execve(
        str(bin_dir / "torchserve"),
        [
            "torchserve", "--foreground", "--ncs", "--disable-token-auth",
            "--model-store", str(store), "--ts-config", str(config),
        ],
        env,
    )  # fmt: skip


if __name__ == "__main__":
    main()
