"""The ``tensorgate`` command line, one module per area.

| module | commands |
| --- | --- |
| ``serving`` | ``serve`` |
| ``scoring`` | ``classify``, ``batch`` |
| ``tasks`` | ``detect``, ``embed`` |
| ``models`` | ``models list / load / unload``, ``zoo list / pull`` |
| ``tools`` | ``devices``, ``convert``, ``optimize`` |
| ``lab`` | ``bench``, ``tune``, ``plan`` |
| ``search`` | ``index build`` |

Every remote call goes through the public ``Client``; a ``TensorgateError`` from any
command becomes ``error: <message>`` and exit status 1 in one place
(``_shared.ErrorsExit``). Each command imports what it needs inside its body, so
``tensorgate plan --help`` loads neither the engine, nor httpx, nor Pillow.
"""

from __future__ import annotations

import typer

from tensorgate.cli._shared import ErrorsExit
from tensorgate.cli.lab import bench, plan, tune
from tensorgate.cli.models import models_app, zoo_app
from tensorgate.cli.scoring import batch, classify
from tensorgate.cli.search import index_app
from tensorgate.cli.serving import serve
from tensorgate.cli.tasks import detect, embed
from tensorgate.cli.tools import convert, devices, optimize

__all__ = ["app", "main"]

app = typer.Typer(
    name="tensorgate",
    help="Serve trained vision models fast, cheaply and safely.",
    cls=ErrorsExit,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.command()(classify)
app.command()(detect)
app.command()(embed)
app.add_typer(models_app, name="models")
app.add_typer(zoo_app, name="zoo")
app.add_typer(index_app, name="index")
app.command()(devices)
app.command()(convert)
app.command()(optimize)
app.command()(batch)
app.command("bench")(bench)
app.command()(tune)
app.command()(plan)


def main() -> None:
    """Entry point of the ``tensorgate`` script."""
    app()
