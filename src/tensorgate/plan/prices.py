"""The price table: an editable, dated YAML of deployment options and their prices.

Two kinds of option: ``serverless`` (billed per GB-second of run time plus per request)
and provisioned instances — ``cpu``, ``accelerator`` (CPU plus a small accelerator) and
``gpu`` — billed by the hour. ``default_prices()`` is the table shipped with tensorgate;
``tensorgate plan --write-prices FILE`` copies it for editing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from tensorgate.errors import ConfigError

__all__ = [
    "DEFAULT_PRICES",
    "Option",
    "PriceTable",
    "default_prices",
    "load_prices",
    "parse_prices",
]

Kind = Literal["serverless", "cpu", "accelerator", "gpu"]
KINDS: tuple[Kind, ...] = ("serverless", "cpu", "accelerator", "gpu")
DEFAULT_PRICES = "prices.yaml"


@dataclass(frozen=True, slots=True)
class Option:
    """One way to deploy.

    Attributes:
        name: what plans call it (``c7i.large``, ``lambda-2gb``).
        kind: ``serverless``, ``cpu``, ``accelerator`` or ``gpu``.
        description: one line for people.
        hourly: price of one instance-hour (provisioned kinds).
        memory_gb: memory configured per function (serverless).
        per_gb_second: price of one GB-second of run time (serverless).
        per_million_requests: price of a million invocations (serverless).
        max_concurrency: concurrent executions the account allows (serverless).
    """

    name: str
    kind: Kind
    description: str = ""
    hourly: float = 0.0
    memory_gb: float = 0.0
    per_gb_second: float = 0.0
    per_million_requests: float = 0.0
    max_concurrency: int = 1000


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Options and the facts every price needs: when, in what currency, how long a month."""

    date: dt.date
    currency: str
    options: tuple[Option, ...]
    hours_per_month: float = 730.0
    source: str = ""

    def option(self, name: str) -> Option:
        for option in self.options:
            if option.name == name:
                return option
        raise ConfigError(
            f"{self.source}: no option {name!r}; the table has "
            f"{', '.join(o.name for o in self.options)}"
        )


def _number(entry: dict[str, Any], key: str, where: str, *, required: bool) -> float:
    value = entry.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where}: field {key!r} is missing; give a number")
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}: field {key!r} is {value!r}; it must be a number ≥ 0")
    return float(value)


def _option(entry: Any, where: str) -> Option:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ConfigError(f"{where}: each option needs a 'name' (got {entry!r:.80})")
    where = f"{where} option {entry['name']!r}"
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind is {kind!r}; use one of {', '.join(KINDS)}")
    serverless = kind == "serverless"
    return Option(
        name=entry["name"],
        kind=kind,
        description=str(entry.get("description", "")),
        hourly=_number(entry, "hourly", where, required=not serverless),
        memory_gb=_number(entry, "memory_gb", where, required=serverless),
        per_gb_second=_number(entry, "per_gb_second", where, required=serverless),
        per_million_requests=_number(entry, "per_million_requests", where, required=False),
        max_concurrency=int(_number(entry, "max_concurrency", where, required=False) or 1000),
    )


def parse_prices(document: Any, source: str) -> PriceTable:
    """A PriceTable from a parsed YAML document.

    Raises:
        ConfigError: a missing or bad field, named with its option and the fix.
    """
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a price table is a mapping with date, currency, options")
    date = document.get("date")
    if not isinstance(date, dt.date):
        raise ConfigError(
            f"{source}: field 'date' is {date!r}; write the day the prices were read as YYYY-MM-DD"
        )
    options = document.get("options")
    if not isinstance(options, list) or not options:
        raise ConfigError(f"{source}: field 'options' must list at least one option")
    parsed = tuple(_option(entry, source) for entry in options)
    names = [o.name for o in parsed]
    if len(set(names)) != len(names):
        raise ConfigError(f"{source}: option names repeat ({', '.join(names)}); make them unique")
    hours = document.get("hours_per_month", 730)
    if not isinstance(hours, int | float) or not 0 < hours <= 744:
        raise ConfigError(f"{source}: hours_per_month is {hours!r}; use 730 (a year / 12)")
    return PriceTable(
        date=date,
        currency=str(document.get("currency", "USD")),
        options=parsed,
        hours_per_month=float(hours),
        source=source,
    )


def load_prices(path: Path) -> PriceTable:
    """Read a price table file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read price table {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_prices(document, str(path))


def default_text() -> str:
    """The shipped price table, as text (to copy and edit)."""
    return resources.files("tensorgate.plan").joinpath(DEFAULT_PRICES).read_text("utf-8")


def default_prices() -> PriceTable:
    """The price table shipped with tensorgate."""
    return parse_prices(yaml.safe_load(default_text()), "tensorgate/plan/prices.yaml")
