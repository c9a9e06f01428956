"""``tensorgate plan`` end to end: table, crossovers, chart, the price table copy, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tensorgate.cli import app
from tensorgate.plan.report import format_count, parse_capacity, parse_count


def plan(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["plan", *args], terminal_width=200)
    return result.exit_code, result.output


def test_a_plan_prices_every_option_and_draws_the_chart(tmp_path: Path) -> None:
    measured = tmp_path / "bench.json"
    measured.write_text(json.dumps([{"option": "c7i.large", "images_per_s": 110, "p99_ms": 95}]))
    chart = tmp_path / "cost.png"
    code, output = plan(
        "--images-per-month", "50M", "--measured", str(measured),
        "--throughput", "g4dn.xlarge=1200@40", "--latency", "lambda-2gb=25",
        "--chart", str(chart),
    )  # fmt: skip
    assert code == 0, output
    assert output.startswith("Plan for 50M images/month (peak 57.1 img/s")
    assert "| c7i.large | cpu | 110.0 img/s, p99 95 ms (measured: bench.json) |" in output
    assert (
        "| lambda-2gb | serverless | 25 ms/request (given) | 2 concurrent at peak | 51.67 |"
        in output
    )
    assert "Cheapest: lambda-2gb, 51.67 USD/month." in output
    assert "| 10B |" in output
    assert "Crossovers (where the cheapest option changes):" in output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_price_table_is_copied_for_editing(tmp_path: Path) -> None:
    target = tmp_path / "prices.yaml"
    code, output = plan("--write-prices", str(target))
    assert code == 0
    assert "edit the prices and the date" in output
    code, output = plan(
        "--images-per-month", "1B", "--prices", str(target), "--throughput", "c7i.large=100"
    )
    assert code == 0, output
    code, output = plan("--write-prices", str(target))
    assert code == 1
    assert "exists" in output


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--throughput", "c7i.large=100"], "give --images-per-month"),
        (["--images-per-month", "5M"], "give at least one option's capacity"),
        (["--images-per-month", "5M", "--throughput", "nope=3"], "no option 'nope'"),
        (["--images-per-month", "lots", "--throughput", "c7i.large=3"], "'lots' is not a count"),
        (["--images-per-month", "5M", "--throughput", "c7i.large"], "is not OPTION=IMAGES_PER_S"),
        (["--images-per-month", "5M", "--latency", "lambda-2gb=fast"], "OPTION=LATENCY_MS"),
        (
            ["--images-per-month", "5M", "--throughput", "c7i.large=3", "--volumes", "9M..1M"],
            "0 < LOW < HIGH",
        ),
        (
            ["--images-per-month", "5M", "--throughput", "c7i.large=3", "--peak-to-average", "0.5"],
            "at least the average",
        ),
    ],
)
def test_bad_plans_say_what_to_fix(args: list[str], match: str) -> None:
    code, output = plan(*args)
    assert code == 1
    assert match in output


@pytest.mark.parametrize(
    ("text", "value"), [("50M", 5e7), ("1.5B", 1.5e9), ("500k", 5e5), ("2e9", 2e9), ("1,000", 1e3)]
)
def test_counts(text: str, value: float) -> None:
    assert parse_count(text) == value


def test_count_formatting_and_capacities() -> None:
    assert [format_count(v) for v in (5e7, 1.5e9, 2500, 12)] == ["50M", "1.5B", "2.5k", "12"]
    assert parse_capacity("a=100@80", serverless=False).p99_ms == 80
    assert parse_capacity("f=45", serverless=True).latency_ms == 45


def test_the_worked_example_in_the_docs_is_what_the_cli_prints(tmp_path: Path) -> None:
    import re
    import shlex

    docs = (Path(__file__).resolve().parents[2] / "docs" / "plan.md").read_text()
    pairs = re.findall(r"```sh\n(tensorgate plan .*?)\n```\n\n```\n(.*?)\n```", docs, flags=re.S)
    assert len(pairs) == 3  # a month, a month with a chart, a day with a chart
    for command, expected in pairs:
        args = shlex.split(command)[2:]
        for chart in re.findall(r"docs/img/\S+\.png", command):
            args = [str(tmp_path / "chart.png") if a == chart else a for a in args]
            expected = expected.replace(chart, str(tmp_path / "chart.png"))
        code, output = plan(*args)
        assert code == 0, output
        assert output.rstrip() == expected
