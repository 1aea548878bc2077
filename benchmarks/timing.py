"""Timing helper shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def rate(function: Callable[[], object], count: int, repeats: int = 3) -> float:
    """``count`` divided by the median wall time of ``repeats`` calls of ``function``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return count / float(np.median(times))


def interleaved_rates(
    functions: dict[str, Callable[[], object]], count: int, rounds: int
) -> dict[str, list[float]]:
    """Rates (``count`` per second) of each function, timed in turns: A, B, C, A, B, C, ...

    One call of each per round, so a burst of load on a shared machine falls on all of them
    alike instead of on whichever happened to run then. The caller warms them up first.
    """
    rates: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            rates[name].append(count / (time.perf_counter() - start))
    return rates


def summary(values: list[float], digits: int = 3) -> dict[str, float]:
    """Median of the rounds with their spread (lowest and highest)."""
    return {
        "median": round(float(np.median(values)), digits),
        "low": round(float(min(values)), digits),
        "high": round(float(max(values)), digits),
    }


def round_ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    """Per-round ratios of two interleaved series (each round's pair ran back to back)."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]
