"""The offline scorer's images per engine call: one at a time against groups.

    python -m bench.scoring_groups [--inputs 4000] [--groups 1,8] [--rounds 2] [--bad 0.01]
    python -m bench.scoring_groups --model efficientnet-lite0 --size 640x480 --inputs 1000

``jobs.Scorer`` (what ``tensorgate batch`` runs locally and every Ray actor or Spark
worker runs) over a folder of real photos as 64 × 48 JPEG files, scored by the null
classifier of ``bench.engine_python`` (a pixel mean and a 3 × 1000 product: the model
and the decode out of the way), so what is timed is the engine's Python per image,
what bounds one process in front of a fast device. ``--bad 0.01`` makes that share
of the files corrupt (a group holding one is scored again an image at a time). Per
run, through the local runner (``jobs.engines.run_local``: a Scorer with as many images
in flight as the model's queue holds), the model's load included: images a second and
the process's CPU per image; the groups alternate, rounds apart.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.imaging.test_accuracy import photo_jpeg

from bench.engine_python import MODEL, PHOTOS, null_classifier
from tensorgate.config import EngineSettings, default_repository
from tensorgate.jobs.engines import ScorerSpec, run_local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=4000)
    parser.add_argument("--groups", default="1,8")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bad", type=float, default=0.0, help="share of corrupt files")
    parser.add_argument(
        "--model", help="a real model of --repository instead of the null classifier"
    )
    parser.add_argument("--repository", type=Path, help="where --model is")
    parser.add_argument("--size", default="64x48", help="photo size, WxH")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tg-scoring-groups-") as scratch:
        root = Path(scratch)
        null_classifier(root / "repository", 64)
        repository, model = root / "repository", MODEL
        if args.model:
            repository, model = args.repository or default_repository(), args.model
        width, height = (int(v) for v in args.size.split("x"))
        photos = [photo_jpeg(name, (width, height)) for name in PHOTOS]
        every = round(1 / args.bad) if args.bad else 0
        items = []
        for i in range(args.inputs):
            path = root / f"{i:06d}.jpg"
            path.write_bytes(b"not a jpeg" if every and i % every == every - 1 else photos[i % 4])
            items.append((i, str(path)))
        settings = EngineSettings(repository=repository, max_queue_delay_ms=0.0)
        print(
            f"{model}: {args.inputs} files of {args.size}, {args.bad:.1%} corrupt; "
            "the local runner (run_local)"
        )
        print("| round | images a call | img/s | process CPU ms per image | error rows |")
        print("| --- | --- | --- | --- | --- |")
        for round_ in range(args.rounds):
            for group in (int(g) for g in args.groups.split(",")):
                spec = ScorerSpec(model, settings, top_k=1, group=group)
                list(run_local(spec, items[:256]))  # the model's first load, page cache
                began, cpu = time.perf_counter(), time.process_time()
                rows = [row for chunk in run_local(spec, items) for row in chunk]
                wall, used = time.perf_counter() - began, time.process_time() - cpu
                errors = sum(1 for row in rows if row["error"] is not None)
                print(
                    f"| {round_ + 1} | {group} | {len(rows) / wall:,.0f} | "
                    f"{1e3 * used / len(rows):.3f} | {errors} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
