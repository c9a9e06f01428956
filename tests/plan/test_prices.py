"""The price table: the shipped one loads; bad tables are refused with the field named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from tensorgate.errors import ConfigError
from tensorgate.plan import default_prices, load_prices
from tensorgate.plan.prices import parse_prices


def test_the_shipped_table_is_dated_and_covers_every_kind() -> None:
    table = default_prices()
    assert table.date == dt.date(2026, 11, 21)
    assert table.currency == "USD"
    assert {o.kind for o in table.options} == {"serverless", "cpu", "accelerator", "gpu"}
    assert table.option("c7i.large").hourly > 0
    with pytest.raises(ConfigError, match=r"no option 'p5\.48xlarge'; the table has"):
        table.option("p5.48xlarge")


GOOD = {
    "date": dt.date(2026, 1, 1),
    "options": [{"name": "a", "kind": "cpu", "hourly": 1.0}],
}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"date": "soon"}, "field 'date' is 'soon'"),
        ({"options": []}, "at least one option"),
        ({"options": [{"name": "a", "kind": "tpu", "hourly": 1}]}, "kind is 'tpu'"),
        ({"options": [{"name": "a", "kind": "cpu"}]}, "field 'hourly' is missing"),
        ({"options": [{"name": "a", "kind": "cpu", "hourly": -2}]}, "must be a number ≥ 0"),
        ({"options": [{"name": "f", "kind": "serverless", "memory_gb": 1}]}, "'per_gb_second'"),
        ({"options": [{"kind": "cpu"}]}, "needs a 'name'"),
        ({"options": [GOOD["options"][0]] * 2}, "names repeat"),  # type: ignore[index]
        ({"hours_per_month": 0}, "hours_per_month is 0"),
    ],
)
def test_bad_tables_are_refused(change: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_prices({**GOOD, **change}, "prices.yaml")


def test_a_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    assert load_prices(path).option("a").hourly == 1.0
    path.write_text("options: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_prices(path)
    with pytest.raises(ConfigError, match="cannot read price table"):
        load_prices(tmp_path / "missing.yaml")
