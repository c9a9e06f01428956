"""The systems in the peers table: how each is installed, started, reached and checked.

Every peer runs in its own virtual environment under ``$TENSORGATE_HOME/venvs/peer-NAME``
(built once, rebuilt when its pins change) and serves the shared ``classifier.py``; every
one gets the same knobs through the environment (``PEER_*``: workers, largest batch,
batching delay). tensorgate runs from this checkout's environment on a scratch copy of
the model with the same knobs written into its config.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tensorgate.config import tensorgate_home

HERE = Path(__file__).resolve().parent
MODEL = "efficientnet-lite0"
#: What every peer's environment shares with tensorgate's own (constraints.txt).
COMMON = ("onnxruntime==1.31.1", "pillow==13.0.0", "simplejpeg==1.9.0")


@dataclass(frozen=True)
class System:
    """One column of the comparison.

    Attributes:
        key: short name (``--systems``), also the venv's suffix.
        title: what the table calls it.
        packages: pinned requirements of its environment (empty: this checkout's).
        report: the distributions whose installed versions the table names.
        command: how to start it, run in ``bench/peers`` (``{python}`` and ``{bin}`` are
            the environment's interpreter and scripts folder; ``{port}`` its HTTP port).
        endpoint: the path an image is POSTed to.
        image_as: how the image travels (``tensorgate bench --image-as``).
        field: the form field or V2 input name.
        extra_env: more environment for the process (``{libdir}``: the interpreter's
            shared-library folder).
        note: how it is configured, for the table (``{workers}``, ``{max_batch}``,
            ``{delay}`` and ``{torchserve_delay}`` are the knobs of the run).
    """

    key: str
    title: str
    packages: tuple[str, ...]
    report: tuple[str, ...]
    command: tuple[str, ...]
    endpoint: str
    image_as: Literal["body", "form", "v2"] = "body"
    field: str = "image"
    extra_env: tuple[tuple[str, str], ...] = ()
    note: str = ""


SYSTEMS: tuple[System, ...] = (
    System(
        key="tensorgate",
        title="tensorgate",
        packages=(),
        report=("tensorgate", "onnxruntime", "uvicorn"),
        command=(),  # started with tensorgate.server.process.spawn_server
        endpoint=f"/v2/models/{MODEL}/classify?top_k=1",
        note="{workers} instances × 1 thread, batch ≤ {max_batch}, delay {delay} ms; raw JPEG body",
    ),
    System(
        key="triton",
        title="Triton (PyTriton)",
        packages=("nvidia-pytriton==0.7.0", "numpy==1.26.4", *COMMON),
        report=("nvidia-pytriton", "onnxruntime"),
        command=("{python}", "serve_triton.py"),
        endpoint=f"/v2/models/{MODEL}/infer",
        image_as="v2",
        # PyTriton's Python stub links libpython3.11 by name: without this it finds the
        # system's (3.11.2) next to this interpreter's standard library and fails.
        extra_env=(("LD_LIBRARY_PATH", "{libdir}"),),
        note="{workers} model instances, dynamic batcher ≤ {max_batch}, delay {delay} ms; V2 BYTES tensor",
    ),
    System(
        key="torchserve",
        title="TorchServe",
        packages=(
            "torchserve==0.12.0",
            "torch-model-archiver==0.12.0",
            "torch==2.13.0",  # the worker imports torch even for a custom handler
            "pyyaml==6.0.3",
            "numpy==2.4.6",
            *COMMON,
        ),
        report=("torchserve", "onnxruntime"),
        command=("{python}", "serve_torchserve.py"),
        endpoint=f"/predictions/{MODEL}",
        note=(
            "{workers} workers, batchSize {max_batch}, maxBatchDelay {torchserve_delay} ms "
            "(its shortest: 0 means its 100 ms default); raw JPEG body"
        ),
    ),
    System(
        key="bentoml",
        title="BentoML",
        # 1.4.40 needs certifi ≥ 2026.10.19, which the package index does not have yet.
        packages=("bentoml==1.4.39", "numpy==2.4.6", *COMMON),
        report=("bentoml", "onnxruntime"),
        command=(
            "{bin}/bentoml",
            "serve",
            "serve_bentoml:Peer",
            "--host=127.0.0.1",
            "--port={port}",
        ),
        endpoint="/classify",
        image_as="form",
        field="images",
        note="{workers} workers, adaptive batching ≤ {max_batch} (no delay knob); multipart form",
    ),
    System(
        key="litserve",
        title="LitServe",
        packages=("litserve==0.2.19", "python-multipart==0.0.34", "numpy==2.4.6", *COMMON),
        report=("litserve", "onnxruntime"),
        command=("{python}", "serve_litserve.py"),
        endpoint="/predict",
        image_as="form",
        note="{workers} workers, max_batch_size {max_batch}, batch_timeout {delay} ms; multipart form",
    ),
    System(
        key="rayserve",
        title="Ray Serve",
        packages=("ray[serve]==2.60.0", "numpy==2.4.6", *COMMON),
        report=("ray", "onnxruntime"),
        command=("{python}", "serve_rayserve.py"),
        endpoint="/classify",
        note="{workers} replicas × 1 CPU, @serve.batch ≤ {max_batch}, wait {delay} ms; raw JPEG body",
    ),
)


def by_key(keys: Sequence[str]) -> list[System]:
    """The named systems, in the order given; unknown names raise ``SystemExit``."""
    known = {s.key: s for s in SYSTEMS}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise SystemExit(f"unknown systems {unknown}; choose from {sorted(known)}")
    return [known[k] for k in keys]


def environment(system: System) -> Path:
    """The system's virtual environment's ``bin`` folder, built (once) if needed."""
    if not system.packages:
        return Path(sys.executable).parent
    venv = tensorgate_home() / "venvs" / f"peer-{system.key}"
    digest = hashlib.sha256(" ".join(system.packages).encode()).hexdigest()[:12]
    stamp = venv / f".tensorgate-{digest}"
    if not stamp.exists():
        print(f"peers: building {venv} ({' '.join(system.packages)})", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                *system.packages,
            ],
            check=True,
        )  # fmt: skip
        stamp.touch()
    return venv / "bin"


def versions(bin_dir: Path, names: Sequence[str]) -> dict[str, str]:
    """Installed versions of ``names`` in the environment of ``bin_dir``."""
    code = (
        "import importlib.metadata as m, sys\n"
        "for n in sys.argv[1:]:\n"
        "    try: print(n, m.version(n))\n"
        "    except m.PackageNotFoundError: print(n, '-')\n"
    )
    out = subprocess.run(
        [str(bin_dir / "python"), "-c", code, *names], capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
