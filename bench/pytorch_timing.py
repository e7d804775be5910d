"""Wall-clock timing shared by the PyTorch side of the benchmarks, as bench/timing.hpp times ours."""
import time


def timed(fn, iterations, rounds):
    """Seconds per call: one warm-up call, then the best of `rounds` rounds of `iterations` calls."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        best = min(best, (time.perf_counter() - start) / iterations)
    return best
