"""Steps of ``rules/evaluate.smk``: every metric on the context test triplets and on BAPPS."""

from __future__ import annotations

import logging

import pandas as pd

from dpsim import baselines, contexts, feature_cache, io
from dpsim.data.pool import load_pool
from dpsim.evaluate import checkpoint_tables, evaluate, evaluate_linear, evaluate_shared
from dpsim.metric import DPSMetric, checkpoint_weights, grid_metric, load_on_backbone
from dpsim.names import CHECKPOINTS, NO_CHECKPOINT
from dpsim.runtime import resolve_device
from dpsim.steps.job import NO_JOB, Files, Job, Settings

log = logging.getLogger(__name__)


def evaluation_statistics(
    settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB
) -> None:
    """The frozen backbone's per-channel statistics of the test draw (``inputs["pool"]`` ->
    ``outputs["test"]``) and of every BAPPS val subset and judgment set (:func:`_human_caches`
    -> ``outputs["bapps"]``), from which every lin metric of the network is scored."""
    job.start()
    cell = settings["job"]
    metric = grid_metric(settings["grid"], cell["network"], "lin", cell["seed"])
    device = resolve_device(settings["device"])
    feature_cache.cache_pool(metric, inputs["pool"], outputs["test"], device, writer=job.rule)
    arrays = feature_cache.bapps_statistics(metric, _human_caches(inputs), device=device)
    feature_cache.write_bapps_statistics(outputs["bapps"], metric.cpu(), arrays, writer=job.rule)


def _human_caches(inputs: Files) -> list[str]:
    """The packed human sets a job scores: BAPPS's cache (input ``bapps``; a job may score none),
    then the judgment sets' (input ``judgment_sets``, absent or empty when
    ``evaluate.judgment_sets`` is)."""
    extra = inputs.get("judgment_sets") or []
    bapps = [inputs["bapps"]] if inputs.get("bapps") else []
    return [*bapps, *([extra] if isinstance(extra, str) else extra)]


#: What a lin checkpoint and the cached statistics must share to be scored together.
BACKBONE_KEYS = ("network", "taps", "weights", "readout", "input_resize")


def evaluate_lin(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """Every context's lin metric (inputs ``last`` and ``best``, in the order of
    ``settings["contexts"]``) scored from the frozen statistics (inputs ``test``, ``bapps``):
    one dot product per metric and item instead of a network pass per context. Outputs and
    rows as :func:`evaluate_trained`'s."""
    job.start()
    cell = settings["job"]
    test = feature_cache.read_cache(inputs["test"])
    bapps, computed_with = feature_cache.read_bapps_statistics(inputs["bapps"])
    known = contexts.read_contexts(inputs["rankings"])
    per_context = zip(
        settings["contexts"], inputs["last"], inputs["best"], outputs["evaluations"], strict=True
    )
    for name, last, best, out_path in per_context:
        scored = [contexts.named_context(known, name, inputs["rankings"])]
        tables = []
        for checkpoint, path in zip(CHECKPOINTS, (last, best), strict=True):
            description, weights = checkpoint_weights(path)
            _check_same_backbone(description, test["metric"], path, inputs["test"])
            _check_same_backbone(description, computed_with, path, inputs["bapps"])
            identity = {**cell, "context": name, "checkpoint": checkpoint}
            tables.append(
                evaluate_linear(weights, test=test, bapps=bapps, contexts=scored, identity=identity)
            )
        io.write_parquet(pd.concat(tables, ignore_index=True), out_path)
    scored_count = len(settings["contexts"])
    log.info("%s lin seed %d: %d contexts scored", cell["network"], cell["seed"], scored_count)


def _check_same_backbone(metric: dict, cached: dict, checkpoint: str, cache: str) -> None:
    differ = [key for key in BACKBONE_KEYS if metric.get(key) != cached.get(key)]
    if differ:
        raise ValueError(
            f"{checkpoint} and {cache} were computed with different {', '.join(differ)}: "
            "rebuild the statistics (delete the cache file and re-run the workflow)"
        )


def evaluate_trained(
    settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB
) -> None:
    """Each context's trained metric, after its last epoch and at its best validation epoch
    (inputs ``last`` and ``best``, in the order of ``settings["contexts"]``), on that context's
    test triplets (``inputs["pool"]``, labelled by ``inputs["rankings"]``) and on BAPPS
    (``inputs["bapps"]``): ``outputs["evaluations"]``, one file per context with the rows of
    both checkpoints (column ``checkpoint``)."""
    job.start()
    device = resolve_device(settings["device"])
    cell = settings["job"]
    test_pool = load_pool(inputs["pool"])
    known = contexts.read_contexts(inputs["rankings"])
    per_context = zip(
        settings["contexts"], inputs["last"], inputs["best"], outputs["evaluations"], strict=True
    )
    for name, last, best, out_path in per_context:
        scored = [contexts.named_context(known, name, inputs["rankings"])]

        def score(
            metric: DPSMetric, checkpoint: str, name: str = name, scored: list = scored
        ) -> pd.DataFrame:
            return evaluate(
                metric,
                pool=test_pool,
                contexts=scored,
                bapps_cache=_human_caches(inputs),
                identity={**cell, "context": name, "checkpoint": checkpoint},
                device=device,
                batch_size=settings["evaluate"]["batch_size"],
            )

        tables = checkpoint_tables((last, best), score)
        io.write_parquet(pd.concat(tables, ignore_index=True), out_path)
        network, variant, seed = cell["network"], cell["variant"], cell["seed"]
        log.info("%s %s %s seed %d: last and best epochs scored", network, variant, name, seed)


def evaluate_mix(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """Every context's ``mix`` metric, last and best checkpoints (inputs as
    :func:`evaluate_trained`'s), scored together on one frozen backbone: one network pass for
    all of them (:class:`~dpsim.evaluate.SharedBackbone`). Outputs and rows as
    :func:`evaluate_trained`'s."""
    job.start()
    cell = settings["job"]
    base = grid_metric(settings["grid"], cell["network"], "mix", cell["seed"])
    known = contexts.read_contexts(inputs["rankings"])
    metrics, identities, scored = [], [], []
    names = settings["contexts"]
    for name, last, best in zip(names, inputs["last"], inputs["best"], strict=True):
        for checkpoint, path in zip(CHECKPOINTS, (last, best), strict=True):
            metrics.append(load_on_backbone(path, base))
            identities.append({**cell, "context": name, "checkpoint": checkpoint})
            scored.append([contexts.named_context(known, name, inputs["rankings"])])
    tables = evaluate_shared(
        metrics,
        identities,
        pool=load_pool(inputs["pool"]),
        contexts=scored,
        bapps_cache=_human_caches(inputs),
        device=resolve_device(settings["device"]),
        batch_size=settings["evaluate"]["batch_size"],
    )
    for index, out_path in enumerate(outputs["evaluations"]):
        both = tables[len(CHECKPOINTS) * index : len(CHECKPOINTS) * (index + 1)]
        io.write_parquet(pd.concat(both, ignore_index=True), out_path)
    log.info("%s mix seed %d: %d contexts scored", cell["network"], cell["seed"], len(names))


def evaluate_untrained(
    settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB
) -> None:
    """An untrained comparison on every context's test triplets and on BAPPS
    (``outputs["evaluation"]``; its ``context`` column is ``all``)."""
    job.start()
    cell = settings["job"]

    def baseline_metric() -> DPSMetric:  # only the network comparisons read the grid's keys
        return grid_metric(settings["grid"], cell["network"], "baseline", cell["seed"])

    table = evaluate(
        baselines.untrained_model(cell["variant"], baseline_metric),
        pool=load_pool(inputs["pool"]),
        contexts=contexts.read_contexts(inputs["rankings"]),
        bapps_cache=_human_caches(inputs),
        identity={**cell, "context": "all", "checkpoint": NO_CHECKPOINT},
        device=resolve_device(settings["device"]),
        batch_size=settings["evaluate"]["batch_size"],
    )
    io.write_parquet(table, outputs["evaluation"])
