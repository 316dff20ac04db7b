"""Wall-clock timing shared by the Python benchmarks, and Google Benchmark's results as they read
them."""

import re
import statistics
import time


def timed(fn, reps, rounds=5):
    """Median over rounds of the mean seconds per call, after one warm-up call."""
    fn()
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        results.append((time.perf_counter() - start) / reps)
    return statistics.median(results)


def reps_within(fn, budget_s, rounds=5):
    """Calls per round so that `rounds` rounds take about budget_s (one call timed to see)."""
    fn()
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    return max(1, int(budget_s / rounds / once))


def benchmark_results(report):
    """Case name -> (seconds per call, its rate or None) from a Google Benchmark JSON report (or
    torch_peer.py's, in the same form): the median where a case was repeated. The rate is FLOP/s,
    or bytes/s for the cpu suites' read_rate cases."""
    out = {}
    for b in report.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        name = re.sub(r"/(min_time|iterations|repeats|real_time|manual_time).*$", "", name)
        name = re.sub(r"_median$", "", name)
        unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
        out[name] = (b["real_time"] * unit, b.get("FLOP/s", b.get("bytes/s")))
    return out
