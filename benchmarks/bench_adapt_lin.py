"""Time to adapt lin to 100 contexts: shared cache + batched contexts against the naive way.

The naive way trains one context at a time on the images, extracting the frozen backbone's
features again for every batch of every epoch. dpsim computes the per-channel statistics of the
pool once and trains the weights of all contexts together on them. Both use alexnet (random
init, study taps), the same small pool, the study's optimiser and 2 + 2 epochs. The naive time is
measured on ``naive_contexts`` contexts and scaled to ``contexts`` (its cost is linear in the
number of contexts: nothing is shared between them); the cached time includes computing the cache.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from dpsim import contexts as ctx
from dpsim import feature_cache
from dpsim.data.pool import Pool
from dpsim.distortions import apply_uint8, draw_distinct_pairs, draw_params
from dpsim.head import RankingHeads
from dpsim.metric import build_metric
from dpsim.train import CachedLinSource, DirectSource, TrainSettings, train

SETTINGS = TrainSettings(
    lr=1e-3, beta1=0.5, beta2=0.999, batch_size=64, epochs_constant=2, epochs_decay=2, dropout=0.5
)


def _pool(count: int, seed: int) -> Pool:
    generator = np.random.default_rng(seed)
    refs = generator.integers(0, 256, (count, 3, 64, 64), dtype=np.uint8)
    d0, d1 = draw_distinct_pairs(generator, count)
    params0, params1 = draw_params(generator, d0, 64), draw_params(generator, d1, 64)
    p0 = apply_uint8(torch.from_numpy(refs), d0, params0).numpy()
    p1 = apply_uint8(torch.from_numpy(refs), d1, params1).numpy()
    index = np.arange(count)
    return Pool(refs, p0, p1, index, index, d0, d1, params0, params1)


def _cached(pools, rankings, device) -> float:
    start = time.perf_counter()
    metric = build_metric("alexnet", "lin", taps="study", weights="random")
    stats = {k: feature_cache.pool_statistics(metric, p, device=device) for k, p in pools.items()}
    labels = {k: np.stack([p.labels(r) for r in rankings], 1) for k, p in pools.items()}
    initial = torch.cat([w.detach() for w in metric.weights])
    source = CachedLinSource(stats, labels, SETTINGS.dropout, initial, device=device)
    train(source, RankingHeads(len(rankings)), SETTINGS, seed=0, keys=("b",), progress=False)
    return time.perf_counter() - start


def _naive(pools, rankings, device) -> float:
    start = time.perf_counter()
    for ranking in rankings:
        metric = build_metric("alexnet", "lin", taps="study", weights="random")
        images = {
            k: (np.stack([p.ref, p.p0, p.p1], 1), p.labels(ranking)) for k, p in pools.items()
        }
        source = DirectSource(metric, images, device=device)
        train(source, RankingHeads(1), SETTINGS, seed=0, keys=("b",), progress=False)
    return time.perf_counter() - start


def run(contexts: int = 100, naive_contexts: int = 4, triplets: int = 256, device: str = "cpu"):
    pools = {0: _pool(triplets, 0), 1: _pool(triplets, 1), "val": _pool(triplets // 2, 2)}
    rankings = [c.ranking for c in ctx.reference_rankings(contexts)]
    cached = _cached(pools, rankings, device)
    naive = _naive(pools, rankings[:naive_contexts], device) * contexts / naive_contexts
    return {
        "what": f"seconds to adapt lin to {contexts} contexts: cached + batched vs naive",
        "contexts": contexts,
        "naive_contexts_measured": naive_contexts,
        "train_triplets_per_draw": triplets,
        "epochs": SETTINGS.epochs,
        "device": device,
        "cached_batched_seconds": round(cached, 2),
        "naive_seconds_scaled": round(naive, 2),
        "speedup": round(naive / cached, 1),
        "goal_speedup": 20.0,
    }
