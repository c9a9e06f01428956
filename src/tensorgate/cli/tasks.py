"""``tensorgate detect`` and ``tensorgate embed``: the other vision tasks, here or on a
server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tensorgate.cli._shared import (
    RepositoryOption,
    TokenOption,
    UrlOption,
    print_table,
    pull_named_zoo_models,
)
from tensorgate.config import EngineSettings, default_repository
from tensorgate.errors import InvalidInputError, TensorgateError

__all__ = ["detect", "embed"]

EMBED_MODEL = "efficientnet-lite0-embed"


def _files(images: list[str]) -> list[Path]:
    paths = [Path(i) for i in images]
    for path in paths:
        if not path.is_file():
            raise InvalidInputError(f"{str(path)!r} is not a file; give image files")
    return paths


def _answers(
    task: str, paths: list[Path], model: str, url: str | None, token: str | None, root: Path
) -> list[Any]:
    """One answer (or the error) per file, each its own request."""
    from tensorgate.client import Client, Predictor

    def collect(client: Any) -> list[Any]:
        run = {"detect": client.detect, "embed": client.embed, "text-detect": client.detect_text}[
            task
        ]
        futures = [run([p], model=model) for p in paths]
        answers: list[Any] = []
        for future in futures:
            try:
                answers.extend(future.result())
            except TensorgateError as exc:
                answers.append(exc)
        return answers

    if url:
        with Client(url, model, auth_token=token) as client:
            return collect(client)
    pull_named_zoo_models(root, [model])
    settings = EngineSettings(repository=root, models=(model,), instances=1)
    with Predictor(settings, model) as predictor:
        return collect(predictor)


def detect(
    images: Annotated[list[str], typer.Argument(help="Image files.")],
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="A detect or text-detect model, or a pipeline (pp-ocrv6)."
        ),
    ],
    text: Annotated[
        bool, typer.Option("--text", help="A text-detect model: four-point text regions.")
    ] = False,
    url: UrlOption = None,
    repository: RepositoryOption = None,
    draw: Annotated[
        Path | None,
        typer.Option(help="Write the photo with its boxes here (a folder for several images)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    auth_token: TokenOption = None,
) -> None:
    """Detect objects (boxes in the original image's pixels, xyxy, labels and scores) or,
    with --text, text regions (four-point polygons); --draw writes them over the photo.
    Exit code 1 if any image failed."""
    from tensorgate.protocol.answers import answer_json

    paths = _files(images)
    root = repository or default_repository()
    task = "text-detect" if text else "detect"
    answers = _answers(task, paths, model, url, auth_token, root)
    if draw is not None:
        _draw(paths, answers, draw)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {"image": str(p), "error": a.message, "status": a.http_status}
                    if isinstance(a, TensorgateError)
                    else {"image": str(p), **answer_json(a)}
                    for p, a in zip(paths, answers, strict=True)
                ]
            )
        )
    else:
        shape = "POLYGON (x,y ×4)" if text else "BOX (xyxy)"
        rows = [("IMAGE", "LABEL", f"SCORE  {shape}")]
        for path, answer in zip(paths, answers, strict=True):
            if isinstance(answer, TensorgateError):
                rows.append((str(path), f"error: {answer.message}", "-"))
            elif not answer.items:
                rows.append((str(path), "(nothing found)", "-"))
            for d in [] if isinstance(answer, TensorgateError) else answer.items:
                parts = "".join(f"  {k}: {_summary(v)}" for k, v in d.parts.items())
                if text:
                    corners = " ".join(f"{x:.0f},{y:.0f}" for x, y in d.polygon)
                    rows.append((str(path), "text", f"{d.score:.4f} [{corners}]{parts}"))
                    continue
                box = ", ".join(f"{v:.0f}" for v in d.box)
                rows.append((str(path), d.label, f"{d.score:.4f} [{box}]{parts}"))
        print_table(rows)
    if any(isinstance(a, TensorgateError) for a in answers):
        raise typer.Exit(1)


def _summary(part: Any) -> str:
    """A pipeline step's answer for one crop, in a table cell."""
    from tensorgate.tasks.results import Classes, Embedding, TextLine

    if isinstance(part, TextLine):
        return f"{part.text!r} ({part.score:.4f})"
    if isinstance(part, Classes) and part.classes:
        return f"{part.classes[0].label} ({part.classes[0].score:.4f})"
    if isinstance(part, Embedding):
        return f"{part.dimension} floats"
    return type(part).__name__


def _draw(paths: list[Path], answers: list[Any], target: Path) -> None:
    from tensorgate.imaging.draw import draw_detections

    several = len(paths) > 1
    if several:
        target.mkdir(parents=True, exist_ok=True)
    for path, answer in zip(paths, answers, strict=True):
        if isinstance(answer, TensorgateError):
            continue
        out = target / f"{path.stem}.jpg" if several else target
        draw_detections(path.read_bytes(), answer).save(out, quality=92)
        typer.echo(f"drew {len(answer.items)} region(s) on {path} into {out}", err=True)


def embed(
    images: Annotated[list[str], typer.Argument(help="Image files.")],
    model: Annotated[str, typer.Option("--model", "-m", help="An embed model.")] = EMBED_MODEL,
    url: UrlOption = None,
    repository: RepositoryOption = None,
    auth_token: TokenOption = None,
) -> None:
    """Embed images: one JSON line per image with its L2-normalised vector. Exit code 1
    if any image failed."""
    paths = _files(images)
    root = repository or default_repository()
    answers = _answers("embed", paths, model, url, auth_token, root)
    for path, answer in zip(paths, answers, strict=True):
        if isinstance(answer, TensorgateError):
            typer.echo(json.dumps({"image": str(path), "error": answer.message}))
        else:
            vector = [round(float(v), 7) for v in answer.vector]
            typer.echo(
                json.dumps({"image": str(path), "dimension": len(vector), "embedding": vector})
            )
    if any(isinstance(a, TensorgateError) for a in answers):
        raise typer.Exit(1)
