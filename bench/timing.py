"""Wall-clock timing shared by the Python benchmarks."""

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
