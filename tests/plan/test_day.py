"""A day of traffic: the diurnal curve and per-minute CSVs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tensorgate.errors import ConfigError
from tensorgate.plan.day import MINUTES_PER_DAY, Day


def test_the_diurnal_day_has_its_volume_peak_and_trough() -> None:
    day = Day.diurnal(5_000_000, peak_to_trough=10, peak_hour=14)
    assert day.minutes == MINUTES_PER_DAY
    assert day.images == pytest.approx(5_000_000, rel=1e-9)
    peak_minute = max(range(day.minutes), key=lambda m: day.rates[m])
    assert 14 * 60 - 1 <= peak_minute <= 14 * 60
    assert max(day.rates) / min(day.rates) == pytest.approx(10, rel=1e-3)
    assert min(range(day.minutes), key=lambda m: day.rates[m]) in (119, 120)  # 02:00


def test_a_csv_day_skips_its_header_and_takes_the_last_column(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text("minute,images_per_s\n0,1.5\n1,2.5\n\n2,0\n")
    day = Day.from_csv(path)
    assert day.rates == (1.5, 2.5, 0.0)
    assert day.images == pytest.approx(240.0)


def test_bad_days_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text("minute,rate\n0,1\n1,lots\n")
    with pytest.raises(ConfigError, match=r"day.csv:3: 'lots' is not a rate"):
        Day.from_csv(path)
    path.write_text("0,-2\n")
    with pytest.raises(ConfigError, match=r"rate -2\.0 is not a finite number >= 0"):
        Day.from_csv(path)
    with pytest.raises(ConfigError, match="cannot read the traffic CSV"):
        Day.from_csv(tmp_path / "absent.csv")
    with pytest.raises(ConfigError, match=r"peak-to-trough is 0\.5"):
        Day.diurnal(1000, peak_to_trough=0.5)
