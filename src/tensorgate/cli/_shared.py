"""What every command shares: its options, the error handler, tables, zoo pulls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tensorgate.errors import TensorgateError

__all__ = [
    "DEFAULT_MODEL",
    "ControlTokenOption",
    "ErrorsExit",
    "QuietOption",
    "RepositoryOption",
    "S3EndpointOption",
    "ServerUrl",
    "TokenOption",
    "UrlOption",
    "levels",
    "print_table",
    "pull_named_zoo_models",
]

DEFAULT_MODEL = "efficientnet-lite0"

RepositoryOption = Annotated[
    Path | None,
    typer.Option(
        "--repository",
        "-r",
        envvar="TENSORGATE_REPOSITORY",
        help="Model repository directory (default: the zoo's cache).",
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url", envvar="TENSORGATE_URL", help="Ask a running server, e.g. http://127.0.0.1:8000."
    ),
]
ServerUrl = Annotated[
    str,
    typer.Option(
        "--url", envvar="TENSORGATE_URL", help="The running server, e.g. http://127.0.0.1:8000."
    ),
]
S3EndpointOption = Annotated[
    str | None, typer.Option(help="S3-compatible endpoint URL for s3:// inputs.")
]
QuietOption = Annotated[bool, typer.Option(help="No progress line.")]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--auth-token", envvar="TENSORGATE_AUTH_TOKEN", help="Bearer token of the server."
    ),
]
ControlTokenOption = Annotated[
    str | None,
    typer.Option(
        "--control-token",
        envvar="TENSORGATE_CONTROL_TOKEN",
        help="Bearer token of model control (default: --auth-token).",
    ),
]


class ErrorsExit(TyperGroup):
    """The one place a ``TensorgateError`` becomes ``error: <message>`` on stderr and exit
    status 1: every command (those of sub-groups too) runs inside this group's invoke."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except TensorgateError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None


def print_table(rows: list[tuple[str, str, str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def pull_named_zoo_models(repository: Path, names: list[str]) -> None:
    """Export zoo models that ``--model`` names and the repository lacks."""
    from tensorgate.zoo import pull, resolve

    for name in names:
        found = resolve(name)
        if found is None or (repository / name / "config.yaml").is_file():
            continue
        zoo_model, fmt = found
        typer.echo(f"pulling {name} from the zoo into {repository} (once)", err=True)
        pull(zoo_model.name, repository, fmt=fmt)


def levels(text: str | None, kind: type[int] | type[float], what: str) -> tuple[Any, ...]:
    """``1,2,4,8`` → (1, 2, 4, 8); a bad list is a usage error naming it."""
    if not text:
        return ()
    try:
        return tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a list of {what} like 1,2,4,8") from None
