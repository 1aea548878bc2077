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
