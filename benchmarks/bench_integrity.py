"""What checking intermediates against their records costs: loads with and without the sha256.

A pool draw and a feature cache of the default config's sizes (1,024 training triplets of
64 x 64 images in one shard; alexnet's 1,152 channels) are written by dpsim's writers to a
temporary folder and read back: the pool with :func:`~dpsim.data.pool.load_pool` without and
with ``verify`` (the size is checked either way), the cache with a plain ``np.load`` and with
:func:`~dpsim.feature_cache.read_cache`. The files are in the page cache after the first read,
so the load is as fast as it gets and the hash's share as large as it gets.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from dpsim import feature_cache
from dpsim.data import pool

ALEXNET_CHANNELS = (64, 192, 384, 256, 256)


def _best_seconds(function: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def _load_npz(path: Path) -> None:
    with np.load(path) as data:
        for name in data.files:
            data[name]


def run(triplets: int = 1024, device: str = "cpu") -> dict:
    """Write and read one pool draw of ``triplets`` and its feature cache; returns the times."""
    images = np.random.default_rng(0).integers(0, 256, (256, 3, 64, 64), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        spec = dict(split="train", draw=0, triplets=triplets, shard_size=triplets, seed=0)
        pool.build_pool(images, root / "draw0", **spec, device=device)
        shard_bytes = (root / "draw0" / "shard_00000.npz").stat().st_size
        pool_plain = _best_seconds(lambda: pool.load_pool(root / "draw0", verify=False))
        pool_checked = _best_seconds(lambda: pool.load_pool(root / "draw0", verify=True))
        rng = np.random.default_rng(1)
        s0, s1 = (rng.random((triplets, sum(ALEXNET_CHANNELS)), np.float32) for _ in range(2))
        metric = SimpleNamespace(
            describe=lambda: {"network": "alexnet"},
            backbone=SimpleNamespace(channels=ALEXNET_CHANNELS),
        )
        drawn = SimpleNamespace(d0=np.zeros(triplets, np.int64), d1=np.ones(triplets, np.int64))
        cache = root / "train_draw0.npz"
        feature_cache.write_cache(cache, metric, drawn, s0, s1)  # type: ignore[arg-type]
        cache_plain = _best_seconds(lambda: _load_npz(cache))
        cache_checked = _best_seconds(lambda: feature_cache.read_cache(cache))
        cache_bytes = cache.stat().st_size
    return {
        "what": "load time with the sha256 check against without (files in the page cache)",
        "pool_shard_mb": round(shard_bytes / 1e6, 1),
        "pool_load_ms": round(pool_plain * 1e3, 1),
        "pool_load_verified_ms": round(pool_checked * 1e3, 1),
        "pool_ratio": round(pool_checked / pool_plain, 2),
        "cache_mb": round(cache_bytes / 1e6, 1),
        "cache_load_ms": round(cache_plain * 1e3, 1),
        "cache_load_verified_ms": round(cache_checked * 1e3, 1),
        "cache_ratio": round(cache_checked / cache_plain, 2),
        "sha256_gb_per_s": round(shard_bytes / (pool_checked - pool_plain) / 1e9, 2),
    }
