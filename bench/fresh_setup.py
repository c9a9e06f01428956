"""From a fresh clone to the first answer: the README's serve command, timed and sized.

    .venv/bin/python -m bench.fresh_setup [--rev REV ...] [--cold-pip]

For each revision: clone this repository into a scratch folder, run
``scripts/serve.sh`` there with an empty ``$TENSORGATE_HOME`` (so the zoo export runs),
and time until ``/classify`` answers the cat photo. ``--cold-pip`` also gives pip an
empty cache (every wheel is fetched again); otherwise pip's cache is shared, which is
what a second machine set-up or a CI cache sees. Sizes: the virtual environment and the
exported model repository.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cat_jpeg() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            file = Path(root) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def one(rev: str, cold_pip: bool, timeout_s: float) -> dict[str, object]:
    scratch = Path(tempfile.mkdtemp(prefix="tensorgate-fresh-"))
    clone = scratch / "repo"
    try:
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", rev], check=True)
        env = {**os.environ, "TENSORGATE_HOME": str(scratch / "home")}
        env.pop("VIRTUAL_ENV", None)
        if cold_pip:
            env["PIP_CACHE_DIR"] = str(scratch / "pip-cache")
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen(
            ["bash", "scripts/serve.sh", "--port", str(port), "--grpc-port", "-1"],
            cwd=clone,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        image = cat_jpeg()
        label = None
        try:
            while time.perf_counter() - started < timeout_s:
                if server.poll() is not None:
                    raise RuntimeError(f"serve.sh exited with {server.returncode}")
                try:
                    answer = httpx.post(
                        f"http://127.0.0.1:{port}/v2/models/efficientnet-lite0/classify",
                        content=image,
                        timeout=10,
                    )
                except httpx.HTTPError:
                    time.sleep(0.5)
                    continue
                if answer.status_code == 200:
                    label = answer.json()["results"][0]["predictions"][0]["label"]
                    break
                time.sleep(0.5)
            seconds = time.perf_counter() - started
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        return {
            "rev": rev,
            "seconds": round(seconds, 1),
            "label": label,
            "venv_mib": round(folder_bytes(clone / ".venv") / 2**20),
            "models_mib": round(folder_bytes(scratch / "home") / 2**20, 1),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rev", action="append", help="revisions to set up (default: HEAD)")
    parser.add_argument("--cold-pip", action="store_true", help="an empty pip cache per run")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    print("| revision | pip cache | seconds to first answer | answer | .venv MiB | models MiB |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rev in args.rev or ["HEAD"]:
        row = one(rev, args.cold_pip, args.timeout)
        cache = "empty" if args.cold_pip else "warm"
        print(
            f"| {row['rev']} | {cache} | {row['seconds']} | {row['label']} | "
            f"{row['venv_mib']} | {row['models_mib']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
