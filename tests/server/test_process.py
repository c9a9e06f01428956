"""``spawn_server`` keeps draining the server's output: a server that logs a lot (every
rejected request of an overload) must not block on a full pipe and stop answering."""

from __future__ import annotations

import http.client
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from tensorgate.client._common import encode_infer_request
from tensorgate.server.process import spawn_server


def test_an_overloaded_server_keeps_answering(lite0_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "efficientnet-lite0"
    shutil.copytree(lite0_dir, model_dir)
    config = yaml.safe_load((model_dir / "config.yaml").read_text())
    config["max_batch_size"] = 1  # a queue bound of 2 rows: most requests are refused
    config["instance_group"]["count"] = 1
    (model_dir / "config.yaml").write_text(yaml.safe_dump(config))
    body, headers = encode_infer_request({"input": np.zeros((1, 3, 224, 224), np.float32)})
    statuses: Counter[int] = Counter()
    slowest = [0.0]
    with spawn_server(tmp_path, "--model", "efficientnet-lite0") as server:
        host, port = server.host_port.split(":")
        stop_at = time.monotonic() + 2.0

        def caller() -> None:
            connection = http.client.HTTPConnection(host, int(port), timeout=20)
            try:
                while time.monotonic() < stop_at:
                    started = time.monotonic()
                    connection.request(
                        "POST",
                        "/v2/models/efficientnet-lite0/infer",
                        body=body,
                        headers=headers,
                    )
                    response = connection.getresponse()
                    response.read()
                    statuses[response.status] += 1
                    slowest[0] = max(slowest[0], time.monotonic() - started)
            finally:
                connection.close()

        callers = [threading.Thread(target=caller) for _ in range(24)]
        for thread in callers:
            thread.start()
        for thread in callers:
            thread.join()
        assert set(statuses) <= {200, 503}
        assert statuses[200] > 0
        assert statuses[503] > 0
        assert slowest[0] < 5.0, f"a request took {slowest[0]:.1f} s"
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            connection.request("GET", "/v2/health/live")
            assert connection.getresponse().status == 200
        finally:
            connection.close()
