"""A queueing model of a fleet: the p99 latency at an arrival rate, from measured service.

One tensorgate instance behaves like ``servers`` parallel servers (its model instances)
that each take ``service_s`` per image, so its capacity is ``servers / service_s``. A
fleet of ``n`` instances behind a balancer is modelled as one M/G/c queue with
``c = n × servers``:

* the chance that a request waits is Erlang's C formula for ``c`` servers and offered
  load ``a = λ × service_s``;
* the wait is then exponential with rate ``c/service_s − λ`` (exact for M/M/c); service
  times that vary less than exponential ones wait less, which the Allen–Cunneen factor
  ``(1 + cv²) / 2`` accounts for (``cv``: the service time's coefficient of variation);
* the p99 response is the p99 of service plus the p99 of the wait.

``bench/queueing.py`` checks it against open-loop runs of the real server
(docs/benchmarks.md states the error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tensorgate.errors import ConfigError

__all__ = ["Service", "erlang_c", "response_quantile_s"]


@dataclass(frozen=True, slots=True)
class Service:
    """How one instance serves.

    Attributes:
        servers: images one instance works on at once (its model instances).
        service_s: the mean time one image takes on one of them.
        service_p99_s: the p99 of that time (service variability's own tail).
        cv2: the squared coefficient of variation of the service time (1: exponential,
            0: constant).
    """

    servers: int
    service_s: float
    service_p99_s: float
    cv2: float = 1.0

    def __post_init__(self) -> None:
        if self.servers < 1:
            raise ConfigError(f"servers per instance is {self.servers}; it must be >= 1")
        if self.service_s <= 0 or self.service_p99_s < self.service_s:
            raise ConfigError(
                f"service time {self.service_s} s with p99 {self.service_p99_s} s: give a mean "
                "> 0 and a p99 at least the mean"
            )

    @property
    def capacity(self) -> float:
        """Images per second one instance sustains."""
        return self.servers / self.service_s

    @classmethod
    def from_capacity(cls, images_per_s: float, latency_ms: float, p99_ms: float) -> Service:
        """From what ``tensorgate bench`` measures: the sustained images/s of one
        instance, and one request's latency (mean and p99) when it runs alone."""
        if images_per_s <= 0 or latency_ms <= 0:
            raise ConfigError("give an instance's images/s and one request's latency, both > 0")
        servers = max(1, round(images_per_s * latency_ms / 1000.0))
        service_s = servers / images_per_s
        spread = max(p99_ms, latency_ms) / latency_ms
        # An exponential time's p99 is 4.6× its mean; a constant's is 1×: place cv² between.
        cv2 = min(1.0, ((spread - 1) / (math.log(100) - 1)) ** 2)
        return cls(servers, service_s, service_s * spread, cv2)


def erlang_c(servers: int, offered: float) -> float:
    """The probability that an arrival waits, for ``servers`` servers and offered load
    ``offered`` (arrival rate × mean service time); 1 when ``offered >= servers``."""
    if offered >= servers:
        return 1.0
    if offered <= 0:
        return 0.0
    blocking = 1.0  # Erlang B by its stable recurrence
    for k in range(1, servers + 1):
        blocking = offered * blocking / (k + offered * blocking)
    rho = offered / servers
    return blocking / (1 - rho + rho * blocking)


def response_quantile_s(
    rate: float, instances: int, service: Service, quantile: float = 0.99
) -> float:
    """The ``quantile`` of response time (seconds) at ``rate`` images/s on ``instances``
    instances; ``math.inf`` when the fleet cannot keep up (or has no instance)."""
    servers = instances * service.servers
    if servers <= 0:
        return math.inf
    mu = 1.0 / service.service_s
    if rate >= servers * mu:
        return math.inf
    waits = erlang_c(servers, rate * service.service_s)
    tail = 1.0 - quantile
    wait = 0.0
    if waits > tail:
        wait = math.log(waits / tail) / (servers * mu - rate) * (1 + service.cv2) / 2
    return service.service_p99_s + wait
