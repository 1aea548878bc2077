"""Steps of ``rules/evaluate.smk``: every metric on the context test triplets and on BAPPS."""

from __future__ import annotations

import logging

from dpsim import baselines, contexts, io
from dpsim.data.pool import load_pool
from dpsim.evaluate import evaluate
from dpsim.metric import DPSMetric, grid_metric, load_metric
from dpsim.runtime import resolve_device
from dpsim.steps.job import NO_JOB, Files, Job, Settings

log = logging.getLogger(__name__)


def evaluate_trained(
    settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB
) -> None:
    """Each context's trained metric (``inputs["metrics"]``, in the order of
    ``settings["contexts"]``) on that context's test triplets (``inputs["pool"]``, labelled by
    ``inputs["rankings"]``) and on BAPPS (``inputs["bapps"]``): ``outputs["evaluations"]``."""
    job.start()
    device = resolve_device(settings["device"])
    cell = settings["job"]
    test_pool = load_pool(inputs["pool"])
    known = contexts.read_contexts(inputs["rankings"])
    scored = zip(settings["contexts"], inputs["metrics"], outputs["evaluations"], strict=True)
    for name, checkpoint, out_path in scored:
        metric = load_metric(checkpoint)
        identity = {**cell, "context": name}
        table = evaluate(
            metric,
            pool=test_pool,
            contexts=[contexts.named_context(known, name, inputs["rankings"])],
            bapps_cache=inputs.get("bapps"),
            identity=identity,
            device=device,
            batch_size=settings["evaluate"]["batch_size"],
        )
        io.write_parquet(table, out_path)
        log.info(
            "%s %s %s seed %d: %d rows",
            cell["network"],
            cell["variant"],
            name,
            cell["seed"],
            len(table),
        )


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
        bapps_cache=inputs.get("bapps"),
        identity={**cell, "context": "all"},
        device=resolve_device(settings["device"]),
        batch_size=settings["evaluate"]["batch_size"],
    )
    io.write_parquet(table, outputs["evaluation"])
