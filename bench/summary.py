"""The one JSON line every load generator prints (shared, so figures stay comparable)."""

from __future__ import annotations

import json

import numpy as np


def print_summary(latencies: list[float], rows: int, elapsed: float) -> None:
    """Requests, images, seconds, images_per_s and p50/p90/p99 latency in ms."""
    ms = np.array(latencies) * 1000
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "images": len(latencies) * rows,
                "seconds": elapsed,
                "images_per_s": len(latencies) * rows / elapsed,
                "p50_ms": float(np.percentile(ms, 50)),
                "p90_ms": float(np.percentile(ms, 90)),
                "p99_ms": float(np.percentile(ms, 99)),
            }
        )
    )
