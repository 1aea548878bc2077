"""Steps of ``rules/adapt.smk``: frozen-backbone statistics, then the training of every grid cell.

A training job checkpoints its whole state after every epoch (``params.state``) and resumes from
it only when the state belongs to the same run: the run's identity covers the training settings,
the config seed, the job's keys, the metric's description (network, taps, readout, variant,
weights with their sha256), every context's name and ranking, and the fingerprints of the data
it trains on (pool manifests, or feature caches). A finished job deletes its state.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from dpsim import contexts, feature_cache, frozen_maps, io
from dpsim.contexts import Context, Judged
from dpsim.data.pool import load_pool, pool_fingerprint
from dpsim.metric import DPSMetric, grid_metric, save_metric
from dpsim.runtime import resolve_device
from dpsim.seeding import seed_sequence
from dpsim.steps.job import NO_JOB, Files, Job, Settings
from dpsim.train import (
    CachedLinSource,
    DirectSource,
    TrainResult,
    TrainSettings,
    TripletSource,
    train,
)

log = logging.getLogger(__name__)

#: A pool draw as a direct training reads it: triplet images on the device, what judges them.
_DirectPool = tuple[torch.Tensor, Judged]


def pool_statistics(
    settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB
) -> None:
    """Per-channel statistics of each pool draw (``inputs["pools"]``) under the frozen backbone
    of (network, seed), one cache file each (``outputs["caches"]``, same order)."""
    job.start()
    network, seed = settings["job"]["network"], settings["job"]["seed"]
    metric = grid_metric(settings["grid"], network, "lin", seed)
    device = resolve_device(settings["device"])
    for pool_dir, out_path in zip(inputs["pools"], outputs["caches"], strict=True):
        feature_cache.cache_pool(metric, pool_dir, out_path, device, writer=job.rule)


def adapt_lin_all_contexts(
    settings: Settings, inputs: Files, outputs: Files, *, state: str | None, job: Job = NO_JOB
) -> None:
    """The lin weights of every context, trained together on the cached statistics.

    Inputs ``train`` (one cache per training draw) and ``val``; outputs ``best``, ``last`` and
    ``log``, each one path per context in the order of ``settings["contexts"]``.
    """
    job.start()
    device = resolve_device(settings["device"])
    chosen = contexts.contexts_from_records(settings["contexts"])
    network, seed = settings["job"]["network"], settings["job"]["seed"]
    caches: dict[int | str, str] = {**dict(enumerate(inputs["train"])), "val": inputs["val"]}
    stats, label_sets, data = {}, {}, {}
    for key, path in caches.items():
        cache = feature_cache.read_cache(path)  # checked against its record (sha256 included)
        stats[key] = (cache["s0"], cache["s1"])
        label_sets[key] = feature_cache.judged(cache).matrix(chosen)
        data[str(key)] = cache["sha256"]
    metric = grid_metric(settings["grid"], network, "lin", seed)
    initial = torch.cat([w.detach() for w in metric.weights])
    train_settings = TrainSettings.from_config(settings["train"])
    source = CachedLinSource(stats, label_sets, train_settings.dropout, initial, device=device)
    result = _train(
        settings, source, metric, chosen, data, (network, "lin", "all-contexts", seed), state
    )
    for index, context in enumerate(chosen):
        _write_training(metric, result, index, context, _outputs_of(outputs, index, context))
    _forget(state)


def adapt_mix_all_contexts(
    settings: Settings, inputs: Files, outputs: Files, *, state: str | None, job: Job = NO_JOB
) -> None:
    """The ``mix`` metric (lin weights and channel mixing) of every context in
    ``settings["contexts"]``, trained together on the frozen backbone's difference maps of every
    training pool draw (``inputs["train"]``) and of ``inputs["val"]``, computed here once and
    kept in memory (:mod:`dpsim.frozen_maps`). Outputs as :func:`adapt_lin_all_contexts`'s."""
    job.start()
    device = resolve_device(settings["device"])
    chosen = contexts.contexts_from_records(settings["contexts"])
    network, seed = settings["job"]["network"], settings["job"]["seed"]
    metric = grid_metric(settings["grid"], network, "mix", seed)
    draws: dict[int | str, str] = {**dict(enumerate(inputs["train"])), "val": inputs["val"]}
    maps, label_sets = {}, {}
    for key, path in draws.items():
        drawn = load_pool(path)
        maps[key] = frozen_maps.difference_maps(
            metric, drawn.ref, drawn.p0, drawn.p1, device=device
        )
        label_sets[key] = drawn.judged.matrix(chosen)
    stored = sum(layer.numel() * layer.element_size() for m in maps.values() for layer in m)
    log.info("%s: difference maps of %d draws in memory, %.0f MB", network, len(maps), stored / 1e6)
    data = {str(key): pool_fingerprint(path) for key, path in draws.items()}
    rank = settings["grid"]["mix"]["rank"]
    seeds = [_mixing_seed(settings["seed"], network, c.name, seed) for c in chosen]
    source = frozen_maps.CachedMixSource(
        maps,
        label_sets,
        _train_settings(settings).dropout,
        torch.cat([w.detach() for w in metric.weights]),
        frozen_maps.initial_context_mixing(metric.backbone.channels, rank, seeds),
        device=device,
    )
    keys = (network, "mix", "all-contexts", seed)
    result = _train(settings, source, metric, chosen, data, keys, state)
    for index, context in enumerate(chosen):
        _write_training(metric, result, index, context, _outputs_of(outputs, index, context))
    _forget(state)


def _mixing_seed(config_seed: int, network: str, context: str, seed: int) -> int:
    """The seed of one context's starting mixing matrices."""
    sequence = seed_sequence(config_seed, network, "mix", context, seed, "mixing")
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def adapt_direct(
    settings: Settings,
    inputs: Files,
    outputs: Files,
    *,
    state: str | Sequence[str] | None,
    job: Job = NO_JOB,
) -> None:
    """The contexts of a pack (``settings["contexts"]``, :mod:`dpsim.packs`), each trained on the
    pool images for one (network, variant, seed): tune, scratch, lora, bitfit, or lin with
    ``grid.batch_contexts: false``. Inputs ``train`` (every training draw) and ``val``; outputs
    ``best``, ``last`` and ``log`` and params ``state``, one path per context (or one path, for a
    single context). Variants that train the backbone use the first ``grid.direct`` triplets of
    each draw and its epochs, where it sets them.

    The pool is read and put on the device once; the contexts are then trained one after another,
    each exactly as alone in its job (its own seeds and state file), so packing changes no bit of
    the results. A context's finished state is kept until the whole pack is written: a pack
    killed halfway resumes with its finished contexts done.
    """
    job.start()
    device = resolve_device(settings["device"])
    chosen = contexts.contexts_from_records(settings["contexts"])
    states = _per_context(state, len(chosen))
    paths = [_per_context_outputs(outputs, index, context) for index, context in enumerate(chosen)]
    limits = settings["grid"].get("direct", {})  # passed for the backbone-training variants
    draws: dict[int | str, str] = {**dict(enumerate(inputs["train"])), "val": inputs["val"]}
    pools = _direct_pools(draws, limits, device)
    data = {
        str(key): f"{pool_fingerprint(path)} first {len(pools[key][0])}"
        for key, path in draws.items()
    }
    for context, context_state, context_paths in zip(chosen, states, paths, strict=True):
        _train_direct(settings, context, pools, data, context_state, context_paths, device)
    for context_state in states:
        _forget(context_state)


def _direct_pools(
    draws: Mapping[int | str, str], limits: Mapping[str, int | None], device: str
) -> dict[int | str, _DirectPool]:
    """Each draw's triplet images on ``device`` (uint8, the first ``grid.direct`` triplets) and
    what decides their judges (the labels follow from a context's ranking)."""
    pools = {}
    for key, path in draws.items():
        drawn = load_pool(path)
        used = slice(limits.get("val_triplets" if key == "val" else "train_triplets"))
        triplets = np.stack([drawn.ref[used], drawn.p0[used], drawn.p1[used]], axis=1)
        pools[key] = (torch.from_numpy(triplets).to(device), drawn.judged.rows(used))
    return pools


def _train_direct(
    settings: Settings,
    context: Context,
    pools: Mapping[int | str, _DirectPool],
    data: Mapping[str, str],
    state: str | None,
    paths: Mapping[str, str],
    device: str,
) -> None:
    """One context of a pack, from a fresh metric, as if alone in its job."""
    cell = settings["job"]
    labelled = {
        key: (images, judged.labels(context.ranking)) for key, (images, judged) in pools.items()
    }
    metric = grid_metric(settings["grid"], cell["network"], cell["variant"], cell["seed"])
    metric.dropout.p = _train_settings(settings).dropout
    source = DirectSource(metric, labelled, device=device)
    keys = (cell["network"], cell["variant"], context.name, cell["seed"])
    result = _train(settings, source, metric, [context], data, keys, state)
    _write_training(metric.cpu(), result, 0, context, paths)


def _per_context(value: str | Sequence[str] | None, count: int) -> list[str | None]:
    """A per-context param given as one path (one context), a list of paths, or None."""
    if value is None or isinstance(value, str):
        values: list[str | None] = [value]
    else:
        values = list(value)
    if len(values) != count:
        raise ValueError(f"{len(values)} state files for {count} contexts")
    return values


def _per_context_outputs(outputs: Files, index: int, context: Context) -> dict[str, str]:
    """Context ``index``'s outputs, from lists (a pack) or single paths (one context)."""
    one = {which: outputs[which] for which in ("best", "last", "log")}
    if all(isinstance(path, str) for path in one.values()):
        if index:
            raise ValueError("a pack of several contexts needs a list of outputs per kind")
        return one
    return _outputs_of(outputs, index, context)


def _train(
    settings: Settings,
    source: TripletSource,
    metric: DPSMetric,
    chosen: Sequence[Context],
    data: Mapping[str, str],
    keys: tuple,
    state: str | None,
) -> TrainResult:
    """Seed and build the heads, then :func:`~dpsim.train.train` under the run's identity."""
    train_settings = _train_settings(settings)
    config_seed = settings["seed"]
    init = seed_sequence(config_seed, *keys, "init").generate_state(1, dtype=np.uint64)[0]
    torch.manual_seed(int(init))
    heads = train_settings.new_heads(len(chosen))
    identity = {
        "metric": metric.describe(),
        "contexts": [[c.name, list(c.ranking)] for c in chosen],
        "data": dict(data),
    }
    return train(
        source,
        heads,
        train_settings,
        seed=config_seed,
        keys=keys,
        state_file=state,
        identity=identity,
    )


def _train_settings(settings: Settings) -> TrainSettings:
    """The ``train`` section's settings, with any epochs ``grid.direct`` sets (tune, scratch)."""
    limits = settings["grid"].get("direct", {})
    epochs = {k: limits.get(k) for k in ("epochs_constant", "epochs_decay")}
    chosen = TrainSettings.from_config(settings["train"])
    return dataclasses.replace(chosen, **{k: v for k, v in epochs.items() if v is not None})


def _outputs_of(outputs: Files, index: int, context: Context) -> dict[str, str]:
    """Context ``index``'s best, last and log paths; each must lie in the context's folder."""
    paths = {which: outputs[which][index] for which in ("best", "last", "log")}
    for path in paths.values():
        if context.name not in Path(path).parts:
            raise ValueError(f"output {path} is not in a folder of context {context.name}")
    return paths


def _write_training(
    metric: DPSMetric, result: TrainResult, index: int, context: Context, paths: Mapping[str, str]
) -> None:
    """Best and last checkpoints (with their head) and the context's training log, with the
    numbers the context's metric trains (``trained_parameters``: lin's weights, mix's mixing,
    a tuned backbone; not the head) and how many contexts its job trained (``job_contexts``:
    the epochs' ``seconds`` are the whole job's)."""
    for which, states in (("best", result.best_states), ("last", result.last_states)):
        state = states[index]
        _apply_source_state(metric, state["source"])
        extra = {
            "head": state["head"],
            "context": context.name,
            "ranking": list(context.ranking),
            "best_epoch": result.best_epoch[index],
            "best_val_2afc": result.best_val[index],
        }
        save_metric(metric, paths[which], extra)
    table = result.log[result.log["context"] == index].assign(
        context=context.name,
        trained_parameters=metric.trained_parameter_count(),
        job_contexts=len(result.best_epoch),
    )
    io.write_parquet(table.reset_index(drop=True), paths["log"])


def _apply_source_state(metric: DPSMetric, state: dict) -> None:
    """Put a source's per-context state into ``metric``: a full metric state, or a lin weight
    row with, for ``mix``, each layer's mixing matrix."""
    if "weights" not in state or not set(state) <= {"weights", "mixing"}:
        metric.load_state_dict(state)
        return
    row = state["weights"].detach().cpu()
    with torch.no_grad():
        for weight, part in zip(
            metric.weights, row.split(list(metric.backbone.channels)), strict=True
        ):
            weight.copy_(part)
        if "mixing" in state:
            if metric.mixing is None:
                raise ValueError(f"a mix state cannot go into a {metric.variant} metric")
            for target, value in zip(metric.mixing.mixing, state["mixing"], strict=True):
                target.copy_(value.detach().cpu())


def _forget(state: str | None) -> None:
    """Delete a finished job's training state: its outputs now hold everything it had."""
    if state is not None and Path(state).exists():
        Path(state).unlink()
        log.info("training finished: removed its state %s", state)
