"""A day of traffic: the arrival rate of every minute, from a diurnal curve or a CSV.

Real traffic is not its monthly average: it climbs in the morning, peaks in the
afternoon and falls at night. The autoscaling simulation (``plan.autoscale``) runs over
a ``Day`` minute by minute.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from tensorgate.errors import ConfigError

__all__ = ["MINUTES_PER_DAY", "Day"]

MINUTES_PER_DAY = 1440
#: The mean of ((1 + cos x) / 2)² over a period: the shape's share of the peak - trough.
_SHAPE_MEAN = 3 / 8


@dataclass(frozen=True, slots=True)
class Day:
    """Arrival rates in images per second, one per minute, and where they came from."""

    rates: tuple[float, ...]
    source: str

    def __post_init__(self) -> None:
        if not self.rates:
            raise ConfigError(f"{self.source}: a day of traffic needs at least one minute")
        bad = next((r for r in self.rates if not math.isfinite(r) or r < 0), None)
        if bad is not None:
            raise ConfigError(f"{self.source}: rate {bad} is not a finite number >= 0")

    @property
    def minutes(self) -> int:
        return len(self.rates)

    @property
    def images(self) -> float:
        """Images over the whole span."""
        return sum(self.rates) * 60.0

    @property
    def peak(self) -> float:
        return max(self.rates)

    @property
    def mean(self) -> float:
        return sum(self.rates) / len(self.rates)

    @classmethod
    def diurnal(
        cls,
        images_per_day: float,
        peak_to_trough: float = 10.0,
        peak_hour: float = 14.0,
    ) -> Day:
        """A smooth day: the trough 12 hours from ``peak_hour``, the peak
        ``peak_to_trough`` times the trough, shaped as a squared raised cosine (a busy
        afternoon, a long quiet night), scaled to ``images_per_day``."""
        if images_per_day <= 0:
            raise ConfigError(f"images per day is {images_per_day}; it must be > 0")
        if peak_to_trough < 1:
            raise ConfigError(f"peak-to-trough is {peak_to_trough}; it must be >= 1")
        if not 0 <= peak_hour < 24:
            raise ConfigError(f"peak hour is {peak_hour}; give an hour in 0..24")
        mean = images_per_day / (MINUTES_PER_DAY * 60.0)
        trough = mean / (1 + (peak_to_trough - 1) * _SHAPE_MEAN)
        span = trough * (peak_to_trough - 1)
        rates = []
        for minute in range(MINUTES_PER_DAY):
            phase = 2 * math.pi * (minute + 0.5 - peak_hour * 60) / MINUTES_PER_DAY
            rates.append(trough + span * ((1 + math.cos(phase)) / 2) ** 2)
        label = (
            f"diurnal: {images_per_day:,.0f} images/day, peak {peak_to_trough:g}× the trough "
            f"at {peak_hour:g}:00"
        )
        return cls(tuple(rates), label)

    @classmethod
    def from_csv(cls, path: Path) -> Day:
        """Per-minute rates from a CSV: one row a minute, the rate (images/s) in the last
        column (a first column of minute numbers or times is allowed); a header row,
        if any, is skipped."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"cannot read the traffic CSV {path}: {error.strerror}") from None
        rates: list[float] = []
        for number, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not row or not "".join(row).strip():
                continue
            try:
                rates.append(float(row[-1]))
            except ValueError:
                if number == 1 and not rates:
                    continue  # the header
                raise ConfigError(
                    f"{path}:{number}: {row[-1]!r} is not a rate (images/s); each row's last "
                    "column is the minute's rate"
                ) from None
        return cls(tuple(rates), f"{path.name}: {len(rates)} minutes")
