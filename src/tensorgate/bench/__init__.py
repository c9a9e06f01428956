"""``tensorgate bench``: closed- and open-loop load over HTTP and gRPC, latency
percentiles, and the server's own queue / compute split (docs/perf.md)."""

from tensorgate.bench.run import BenchConfig, Step, run_bench

__all__ = ["BenchConfig", "Step", "run_bench"]
