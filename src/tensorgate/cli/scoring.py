"""``tensorgate classify`` and ``tensorgate batch``: score images here or on a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tensorgate.cli._shared import (
    DEFAULT_MODEL,
    QuietOption,
    RepositoryOption,
    S3EndpointOption,
    TokenOption,
    UrlOption,
    print_table,
    pull_named_zoo_models,
)
from tensorgate.config import EngineSettings, default_repository
from tensorgate.errors import InvalidInputError, TensorgateError

if TYPE_CHECKING:
    from tensorgate.client import Prediction

__all__ = ["batch", "classify"]


def _expand(items: list[str]) -> tuple[list[Path], list[str]]:
    """Files (globs expanded) and s3:// / https:// sources, in the order given."""
    import glob

    files: list[Path] = []
    sources: list[str] = []
    for item in items:
        if item.startswith(("s3://", "https://", "http://")):
            sources.append(item)
        elif any(c in item for c in "*?["):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise InvalidInputError(f"no file matches {item!r}")
            files.extend(Path(m) for m in matches if Path(m).is_file())
        else:
            path = Path(item)
            if not path.is_file():
                raise InvalidInputError(f"{item!r} is not a file, a glob or an s3:// key")
            files.append(path)
    return files, sources


def _run_clients(
    client: Any, files: list[Path], sources: list[str], model: str, top: int
) -> list[Prediction | TensorgateError]:
    """One answer per file (each its own request, so one bad file fails only itself),
    then one per source."""
    futures = [client.predict([f], model=model, top_k=top) for f in files]
    answers: list[Prediction | TensorgateError] = []
    for future in futures:
        try:
            answers.extend(future.result())
        except TensorgateError as exc:
            answers.append(exc)
    if sources:
        answers.extend(client.predict_sources(sources, model=model, top_k=top).result())
    return answers


def classify(
    images: Annotated[
        list[str],
        typer.Argument(help="Image files, globs ('photos/*.jpg') or s3://bucket/key URIs."),
    ],
    url: UrlOption = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model name.")] = DEFAULT_MODEL,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Classes per image.")] = 3,
    repository: RepositoryOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    auth_token: TokenOption = None,
    s3_endpoint: Annotated[
        str | None,
        typer.Option(envvar="TENSORGATE_S3_ENDPOINT", help="S3-compatible endpoint (in-process)."),
    ] = None,
) -> None:
    """Classify images, in-process or through a running server (--url).

    s3:// keys are read here (in-process, with your AWS credentials) or by the server
    (--url, from the buckets it allows). Exit code 1 if any image failed.
    """
    from tensorgate.client import Client, Predictor
    from tensorgate.sources import S3Policy, SourcePolicy

    files, sources = _expand(images)
    names = [str(f) for f in files] + sources
    if url:
        with Client(url, auth_token=auth_token) as client:
            answers = _run_clients(client, files, sources, model, top_k)
    else:
        buckets = tuple(sorted({s[5:].partition("/")[0] for s in sources if s.startswith("s3://")}))
        settings = EngineSettings(
            repository=repository or default_repository(),
            models=(model,),
            instances=1,
            sources=SourcePolicy(s3=S3Policy(allowed=buckets, endpoint_url=s3_endpoint)),
        )
        with Predictor(settings, model) as predictor:
            answers = _run_clients(predictor, files, sources, model, top_k)
    failed = any(isinstance(a, TensorgateError) for a in answers)
    if as_json:
        typer.echo(json.dumps([_answer_json(n, a) for n, a in zip(names, answers, strict=True)]))
    else:
        rows = [("IMAGE", "LABEL", "SCORE")]
        for name, answer in zip(names, answers, strict=True):
            if isinstance(answer, TensorgateError):
                rows.append((name, f"error: {answer.message}", "-"))
                continue
            rows.extend((name, c.label, f"{c.score:.4f}") for c in answer.classes)
        print_table(rows)
    if failed:
        raise typer.Exit(1)


def _answer_json(name: str, answer: Prediction | TensorgateError) -> dict[str, Any]:
    if isinstance(answer, TensorgateError):
        return {"image": name, "error": answer.message, "status": answer.http_status}
    return {
        "image": name,
        "predictions": [
            {"label": c.label, "index": c.index, "score": c.score} for c in answer.classes
        ],
    }


def batch(
    model: Annotated[str, typer.Option("--model", "-m", help="The model that scores.")],
    inputs: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="A directory, a glob, a manifest file or s3://bucket/prefix."
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file: .parquet, .csv or .jsonl.")
    ],
    engine: Annotated[str, typer.Option(help="local (this process), ray or spark.")] = "local",
    top_k: Annotated[int, typer.Option(help="Classes kept per input.")] = 5,
    repository: RepositoryOption = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu or cuda:N (default: the model's config).")
    ] = None,
    instances: Annotated[
        int | None, typer.Option(help="Model instances per engine (default: per core).")
    ] = None,
    s3_endpoint: S3EndpointOption = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (default: a local one).")
    ] = None,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master (default: local[CORES]).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Discard an existing output and unfinished state first.")
    ] = False,
    commit_every: Annotated[
        int, typer.Option(help="Make results durable at least every this many rows.")
    ] = 4096,
    quiet: QuietOption = False,
) -> None:
    """Score every image of a folder, glob, manifest or S3 prefix into a file; rerun the
    same command after a crash to resume."""
    import sys

    from tensorgate.jobs import run as run_job
    from tensorgate.sources import S3Policy

    root = repository or default_repository()
    pull_named_zoo_models(root, [model])
    summary = run_job(
        model,
        inputs,
        output,
        engine=engine,
        top_k=top_k,
        settings=EngineSettings(repository=root, device=device, instances=instances),
        s3=S3Policy(endpoint_url=s3_endpoint),
        overwrite=overwrite,
        progress=None if quiet else sys.stderr,
        ray_address=ray_address,
        spark_master=spark_master,
        commit_rows=commit_every,
    )
    typer.echo(summary.render())
