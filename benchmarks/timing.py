"""Timing helper shared by the benchmarks."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable

import numpy as np
import psutil


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


def peak_rss_mb(work: Callable[[], object]) -> float:
    """How far the resident set rises above its size before ``work`` while it runs, in MB
    (sampled every half millisecond; the caller warms ``work`` up first)."""
    process = psutil.Process()
    before, peak, done = process.memory_info().rss, [0], threading.Event()

    def sample() -> None:  # the resident set's high-water mark while the work runs
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    work()
    done.set()
    sampler.join()
    return (max(peak[0], process.memory_info().rss) - before) / 2**20


def batch_peak_mb(work: Callable[[], object], device: str) -> float:
    """Peak memory of one call of ``work`` (warmed up by the caller) above what was held before:
    the CUDA allocator's peak on a GPU, the resident set's rise (:func:`peak_rss_mb`) on a CPU."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        work()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    return peak_rss_mb(work)


#: glibc's variable for a fixed mmap threshold (see :func:`in_fresh_process`).
MMAP_THRESHOLD = "MALLOC_MMAP_THRESHOLD_"


def in_fresh_process(target: Callable[..., None], args: tuple) -> float:
    """Run ``target(*args, queue)`` in a fresh (spawned) process and return the number it puts.

    With a fixed mmap threshold: glibc then maps every large buffer on its own and returns it
    when freed, so the resident set follows the live tensors (with its default, adaptive
    threshold freed buffers stay in the heap and a second batch reuses them unseen).
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    previous = os.environ.get(MMAP_THRESHOLD)
    os.environ[MMAP_THRESHOLD] = "131072"
    try:
        process.start()
    finally:
        if previous is None:
            del os.environ[MMAP_THRESHOLD]
        else:
            os.environ[MMAP_THRESHOLD] = previous
    value = queue.get(timeout=600)
    process.join(timeout=60)
    return round(float(value), 1)
