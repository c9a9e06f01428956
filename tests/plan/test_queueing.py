"""The queueing model against closed forms (M/M/1, M/M/2)."""

from __future__ import annotations

import math

import pytest

from tensorgate.errors import ConfigError
from tensorgate.plan.queueing import Service, erlang_c, response_quantile_s


def test_erlang_c_matches_closed_forms() -> None:
    assert erlang_c(1, 0.6) == pytest.approx(0.6)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # M/M/2 at rho 0.5
    assert erlang_c(4, 4.0) == 1.0
    assert erlang_c(3, 0.0) == 0.0


def test_mm1_wait_quantile_is_the_textbook_one() -> None:
    service = Service(servers=1, service_s=0.01, service_p99_s=0.01, cv2=1.0)
    rate = 60.0  # rho 0.6
    expected_wait = math.log(0.6 / 0.01) / (100.0 - rate)
    assert response_quantile_s(rate, 1, service) == pytest.approx(0.01 + expected_wait)


def test_constant_service_waits_half_as_long_and_more_instances_wait_less() -> None:
    exponential = Service(2, 0.02, 0.05, cv2=1.0)
    constant = Service(2, 0.02, 0.05, cv2=0.0)
    w_exp = response_quantile_s(90, 1, exponential) - 0.05
    w_const = response_quantile_s(90, 1, constant) - 0.05
    assert w_const == pytest.approx(w_exp / 2)
    assert response_quantile_s(90, 2, exponential) < response_quantile_s(90, 1, exponential)


def test_an_overloaded_or_empty_fleet_has_no_finite_p99() -> None:
    service = Service(2, 0.02, 0.03)
    assert service.capacity == pytest.approx(100.0)
    assert response_quantile_s(100.0, 1, service) == math.inf
    assert response_quantile_s(10.0, 0, service) == math.inf


def test_service_from_capacity_counts_the_parallel_servers() -> None:
    service = Service.from_capacity(images_per_s=108.0, latency_ms=18.0, p99_ms=25.0)
    assert service.servers == 2  # 108 img/s × 18 ms ≈ 2 at once
    assert service.capacity == pytest.approx(108.0)
    assert 0 < service.cv2 < 1
    with pytest.raises(ConfigError, match="images/s"):
        Service.from_capacity(0, 10, 12)
