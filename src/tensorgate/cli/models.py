"""``tensorgate models`` and ``tensorgate zoo``: what a repository or server holds."""

from __future__ import annotations

from typing import Annotated

import typer

from tensorgate.cli._shared import (
    DEFAULT_MODEL,
    ControlTokenOption,
    RepositoryOption,
    ServerUrl,
    TokenOption,
    UrlOption,
    print_table,
)
from tensorgate.config import default_repository

__all__ = ["models_app", "zoo_app"]

models_app = typer.Typer(
    help="List the models of a repository or a running server; load and unload them.",
    no_args_is_help=True,
)
zoo_app = typer.Typer(help="Pretrained models shipped in PyPI packages.", no_args_is_help=True)


@models_app.command("list")
def models_list(
    url: UrlOption = None, repository: RepositoryOption = None, auth_token: TokenOption = None
) -> None:
    """List models with their versions and states."""
    rows = [("MODEL", "VERSION", "STATE")]
    if url:
        from tensorgate.client import Client

        with Client(url, auth_token=auth_token) as client:
            index = client.repository_index().result()
        for item in index:
            shown = "-" if item.version is None else str(item.version)
            rows.append((item.name, shown, item.state))
    else:
        from tensorgate.repository.store import (
            BrokenModel,
            ModelEntry,
            scan_pipelines,
            scan_repository,
        )

        root = repository or default_repository()
        for entry in [*scan_repository(root), *scan_pipelines(root)]:
            if isinstance(entry, BrokenModel):
                rows.append((entry.name, "-", f"UNAVAILABLE: {entry.reason}"))
            elif isinstance(entry, ModelEntry):
                for version in entry.versions:
                    rows.append((entry.name, str(version), "ON DISK"))
            else:
                steps = " -> ".join(s.name for s in entry.steps)
                rows.append((entry.name, "1", f"PIPELINE: {steps}"))
        rows[1:] = sorted(rows[1:])
    print_table(rows)


@models_app.command("load")
def models_load(
    name: Annotated[str, typer.Argument(help="Model name in the server's repository.")],
    url: ServerUrl = "http://127.0.0.1:8000",
    control_token: ControlTokenOption = None,
    auth_token: TokenOption = None,
) -> None:
    """Load (or reload) a model on a running server; new versions swap in at once."""
    _control(url, auth_token, control_token, name, "load")


@models_app.command("unload")
def models_unload(
    name: Annotated[str, typer.Argument(help="Model name.")],
    url: ServerUrl = "http://127.0.0.1:8000",
    control_token: ControlTokenOption = None,
    auth_token: TokenOption = None,
) -> None:
    """Unload a model from a running server (its accepted requests finish first)."""
    _control(url, auth_token, control_token, name, "unload")


def _control(url: str, auth: str | None, control: str | None, name: str, action: str) -> None:
    from tensorgate.client import Client

    with Client(url, auth_token=auth, control_token=control or auth) as client:
        operation = client.load_model if action == "load" else client.unload_model
        operation(name).result()
    typer.echo(f"{action}ed {name}")


@zoo_app.command("list")
def zoo_list() -> None:
    """List the zoo's models."""
    from tensorgate.zoo import (
        CATALOG,
        WHEEL_MODELS,
        ZOO_PIPELINES,
        WheelModel,
        ZooModel,
        ZooPipeline,
    )

    every: list[ZooModel | WheelModel | ZooPipeline] = [
        *CATALOG.values(),
        *WHEEL_MODELS.values(),
        *ZOO_PIPELINES.values(),
    ]
    print_table(
        [("MODEL", "PACKAGES", "DESCRIPTION")]
        + [(m.name, ", ".join(m.packages), m.description) for m in every]
    )


@zoo_app.command("pull")
def zoo_pull(
    name: Annotated[str, typer.Argument(help="Zoo model name.")] = DEFAULT_MODEL,
    repository: RepositoryOption = None,
    force: Annotated[bool, typer.Option(help="Export again even if present.")] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="onnx (FP32 normalised NCHW tensors, served by onnxruntime), pytorch (a "
            "torch.export archive, into NAME-pytorch), uint8 or uint8-nchw (UINT8 pixels, "
            "NHWC or NCHW, normalisation folded into the graph; into NAME-uint8…).",
        ),
    ] = "onnx",
) -> None:
    """Export a zoo model into the repository (once; cached)."""
    from tensorgate.zoo import pull

    result = pull(name, repository or default_repository(), force=force, fmt=fmt)
    if result.exported and result.max_abs_error is None:
        typer.echo(f"copied {name} into {result.directory}")
    elif result.exported:
        typer.echo(
            f"exported {name} to {result.directory} "
            f"(max |{fmt} - torch| = {result.max_abs_error:.2e})"
        )
    else:
        typer.echo(f"{name} is ready in {result.directory}")
