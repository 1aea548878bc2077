"""The adaptation and evaluation steps of the workflow, one function each (see :mod:`pipeline`).

Paths in, files out, atomically; every random draw seeded by the config seed and the job's
identity (network, variant, context, training seed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dpsim import baselines, feature_cache, io
from dpsim.contexts import Context, labels
from dpsim.data.pool import Pool, load_pool
from dpsim.evaluate import evaluate
from dpsim.metric import DPSMetric, build_metric, load_metric, save_metric
from dpsim.runtime import resolve_device
from dpsim.seeding import seed_sequence
from dpsim.train import CachedLinSource, DirectSource, TrainResult, TrainSettings, train

log = logging.getLogger(__name__)


def grid_metric(grid: Mapping, network: str, variant: str, seed: int) -> DPSMetric:
    """The untrained metric of a grid cell (the config's ``grid`` section)."""
    return build_metric(
        network,
        variant,
        taps=grid["taps"],
        weights=grid["weights"],
        readout=grid["readout"],
        seed=seed,
        cache_dir=grid["weights_dir"],
    )


def read_contexts(rankings_path: str | Path) -> list[Context]:
    """The contexts of ``rankings.parquet``."""
    table = pd.read_parquet(rankings_path)
    return [Context(row.context, tuple(row.order), None) for row in table.itertuples()]


def _context(rankings_path: str | Path, name: str) -> Context:
    chosen = [c for c in read_contexts(rankings_path) if c.name == name]
    if not chosen:
        raise ValueError(f"context {name!r} is not in {rankings_path}")
    return chosen[0]


def _seed_heads(config_seed: int, keys: Sequence) -> None:
    state = seed_sequence(config_seed, *keys, "init").generate_state(1, dtype=np.uint64)[0]
    torch.manual_seed(int(state))


# ---------------------------------------------------------------- frozen-backbone caches


def cache_statistics(
    grid: Mapping, network: str, seed: int, pool_dirs: Sequence, out_paths: Sequence, device="auto"
) -> None:
    """Per-channel statistics of pool draws under the frozen backbone of (network, seed)."""
    metric = grid_metric(grid, network, "lin", seed)
    device = resolve_device(device)
    for pool_dir, out_path in zip(pool_dirs, out_paths, strict=True):
        pool = load_pool(pool_dir)
        s0, s1 = feature_cache.pool_statistics(metric, pool, device=device)
        feature_cache.write_cache(out_path, metric.cpu(), pool, s0, s1)


# ---------------------------------------------------------------- training


def _write_training(
    metric: DPSMetric, result: TrainResult, context: int, ctx: Context, paths: Mapping[str, str]
) -> None:
    """Best and last checkpoints (with their head) and the context's training log."""
    for which, states in (("best", result.best_states), ("last", result.last_states)):
        state = states[context]
        _apply_source_state(metric, state["source"])
        extra = {
            "head": state["head"],
            "context": ctx.name,
            "ranking": list(ctx.ranking),
            "best_epoch": result.best_epoch[context],
            "best_val_2afc": result.best_val[context],
        }
        save_metric(metric, paths[which], extra)
    table = result.log[result.log["context"] == context].assign(context=ctx.name)
    io.write_parquet(table.reset_index(drop=True), paths["log"])


def _apply_source_state(metric: DPSMetric, state: dict) -> None:
    """Put a source's per-context state (full metric state, or a lin weight row) into ``metric``."""
    if "weights" in state and len(state) == 1:
        row = state["weights"].detach().cpu()
        with torch.no_grad():
            for weight, part in zip(
                metric.weights, row.split(list(metric.backbone.channels)), strict=True
            ):
                weight.copy_(part)
    else:
        metric.load_state_dict(state)


def adapt_lin_contexts(
    *,
    grid: Mapping,
    train_section: Mapping,
    config_seed: int,
    network: str,
    seed: int,
    train_caches: Sequence[str],
    val_cache: str,
    rankings_path: str,
    outputs: Mapping[str, Mapping[str, str]],
    state_file: str | None,
    device: str = "auto",
) -> None:
    """Train the lin weights of every context together on the cached statistics.

    ``outputs``: context name -> {"best", "last", "log"} paths.
    """
    device = resolve_device(device)
    contexts = read_contexts(rankings_path)
    stats, label_sets = {}, {}
    for key, path in [*enumerate(train_caches), ("val", val_cache)]:
        cache = feature_cache.read_cache(path)
        stats[key] = (cache["s0"], cache["s1"])
        label_sets[key] = np.stack(
            [labels(c.ranking, cache["d0"], cache["d1"]) for c in contexts], 1
        )
    settings = TrainSettings.from_config(train_section)
    keys = (network, "lin", "all-contexts", seed)
    _seed_heads(config_seed, keys)
    heads = settings.new_heads(len(contexts))
    metric = grid_metric(grid, network, "lin", seed)
    initial = torch.cat([w.detach() for w in metric.weights])
    source = CachedLinSource(stats, label_sets, settings.dropout, initial, device=device)
    result = train(source, heads, settings, seed=config_seed, keys=keys, state_file=state_file)
    for index, ctx in enumerate(contexts):
        _write_training(metric, result, index, ctx, outputs[ctx.name])


def _pool_triplets(pool: Pool) -> np.ndarray:
    return np.stack([pool.ref, pool.p0, pool.p1], axis=1)


def adapt_direct(
    *,
    grid: Mapping,
    train_section: Mapping,
    config_seed: int,
    network: str,
    variant: str,
    context: str,
    seed: int,
    train_pools: Sequence[str],
    val_pool: str,
    rankings_path: str,
    paths: Mapping[str, str],
    state_file: str | None,
    device: str = "auto",
) -> None:
    """Train one (network, variant, context, seed) on the pool images (tune, scratch, lin)."""
    device = resolve_device(device)
    ctx = _context(rankings_path, context)
    pools = {}
    for key, path in [*enumerate(train_pools), ("val", val_pool)]:
        pool = load_pool(path)
        pools[key] = (_pool_triplets(pool), labels(ctx.ranking, pool.d0, pool.d1))
    settings = TrainSettings.from_config(train_section)
    keys = (network, variant, context, seed)
    metric = grid_metric(grid, network, variant, seed)
    metric.dropout.p = settings.dropout
    _seed_heads(config_seed, keys)
    heads = settings.new_heads(1)
    source = DirectSource(metric, pools, device=device)
    result = train(source, heads, settings, seed=config_seed, keys=keys, state_file=state_file)
    _write_training(metric.cpu(), result, 0, ctx, paths)


# ---------------------------------------------------------------- evaluation


def _pair_function(model):
    if isinstance(model, DPSMetric):
        return lambda x, y: model(x, y, check_range=False)
    return model


def _score_and_write(
    model,
    *,
    scored: Sequence[Context],
    identity: dict,
    pool_test: str,
    bapps_cache: str | None,
    out_path: str,
    device: str,
    batch_size: int,
) -> None:
    """Evaluate ``model`` on the test pool (under ``scored`` contexts) and BAPPS; write rows."""
    if isinstance(model, torch.nn.Module):
        model = model.to(device).eval()
    table = evaluate(
        model,
        _pair_function(model),
        pool=load_pool(pool_test),
        contexts=scored,
        bapps_cache=bapps_cache,
        identity=identity,
        device=device,
        batch_size=batch_size,
    )
    io.write_parquet(table, out_path)


def evaluate_trained(
    *,
    checkpoint: str,
    context: str,
    seed: int,
    pool_test: str,
    rankings_path: str,
    bapps_cache: str | None,
    out_path: str,
    device: str = "auto",
    batch_size: int = 256,
) -> None:
    """Score a trained metric on its context's test triplets and on BAPPS."""
    metric = load_metric(checkpoint)
    identity = {
        "network": metric.backbone.network,
        "variant": metric.variant,
        "context": context,
        "seed": seed,
    }
    _score_and_write(
        metric,
        scored=[_context(rankings_path, context)],
        identity=identity,
        pool_test=pool_test,
        bapps_cache=bapps_cache,
        out_path=out_path,
        device=resolve_device(device),
        batch_size=batch_size,
    )


def untrained_model(grid: Mapping, network: str, variant: str, seed: int):
    """The model of an untrained comparison: ``baseline``, ``cosine``, ``l2`` or ``ssim``."""
    if variant == "l2":
        return baselines.l2_distance
    if variant == "ssim":
        return baselines.ssim_distance
    metric = grid_metric(grid, network, "baseline", seed)
    return metric if variant == "baseline" else baselines.CosineDistance(metric.backbone)


def evaluate_untrained(
    *,
    grid: Mapping,
    network: str,
    variant: str,
    seed: int,
    pool_test: str,
    rankings_path: str,
    bapps_cache: str | None,
    out_path: str,
    device: str = "auto",
    batch_size: int = 256,
) -> None:
    """Score an untrained metric on every context's test triplets and on BAPPS."""
    identity = {"network": network, "variant": variant, "context": "all", "seed": seed}
    _score_and_write(
        untrained_model(grid, network, variant, seed),
        scored=read_contexts(rankings_path),
        identity=identity,
        pool_test=pool_test,
        bapps_cache=bapps_cache,
        out_path=out_path,
        device=resolve_device(device),
        batch_size=batch_size,
    )
