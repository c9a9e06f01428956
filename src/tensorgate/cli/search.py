"""``tensorgate index build``: a catalogue index for a pipeline's match step."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tensorgate.cli._shared import (
    QuietOption,
    RepositoryOption,
    S3EndpointOption,
    pull_named_zoo_models,
)
from tensorgate.config import EngineSettings, default_repository

__all__ = ["index_app"]

index_app = typer.Typer(help="Catalogue indexes for visual search.", no_args_is_help=True)


@index_app.command("build")
def index_build(
    inputs: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="The catalogue: a directory, a manifest file or s3://bucket/prefix.",
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The index folder (created; rebuilt in place).")
    ],
    model: Annotated[
        str, typer.Option("--model", "-m", help="The embed model.")
    ] = "efficientnet-lite0-embed",
    repository: RepositoryOption = None,
    exact_limit: Annotated[
        int, typer.Option(help="Search exactly up to this many items, approximately above.")
    ] = 100_000,
    s3_endpoint: S3EndpointOption = None,
    overwrite: Annotated[
        bool, typer.Option(help="Embed every image again (a changed catalogue).")
    ] = False,
    quiet: QuietOption = False,
) -> None:
    """Embed every catalogue image and index the vectors (faiss); rerun the same command
    after a crash to resume. A server whose pipeline searches the folder swaps the new
    index in on its next repository poll or load request."""
    import sys

    from tensorgate.search.build import build_catalogue
    from tensorgate.sources import S3Policy

    root = repository or default_repository()
    pull_named_zoo_models(root, [model])
    summary = build_catalogue(
        model,
        inputs,
        output,
        settings=EngineSettings(repository=root),
        s3=S3Policy(endpoint_url=s3_endpoint),
        overwrite=overwrite,
        progress=None if quiet else sys.stderr,
        exact_limit=exact_limit,
    )
    typer.echo(summary.render())
