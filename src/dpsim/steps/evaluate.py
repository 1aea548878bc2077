"""Steps of ``rules/evaluate.smk``: every metric on the context test triplets and on BAPPS."""

from __future__ import annotations

import logging

import pandas as pd

from dpsim import baselines, contexts, io
from dpsim.data.pool import load_pool
from dpsim.evaluate import evaluate
from dpsim.metric import DPSMetric, grid_metric, load_metric
from dpsim.names import CHECKPOINTS, NO_CHECKPOINT
from dpsim.runtime import resolve_device
from dpsim.steps.job import NO_JOB, Files, Job, Settings

log = logging.getLogger(__name__)


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
        tables = [
            evaluate(
                load_metric(path),
                pool=test_pool,
                contexts=scored,
                bapps_cache=inputs.get("bapps"),
                identity={**cell, "context": name, "checkpoint": checkpoint},
                device=device,
                batch_size=settings["evaluate"]["batch_size"],
            )
            for checkpoint, path in zip(CHECKPOINTS, (last, best), strict=True)
        ]
        io.write_parquet(pd.concat(tables, ignore_index=True), out_path)
        network, variant, seed = cell["network"], cell["variant"], cell["seed"]
        log.info("%s %s %s seed %d: last and best epochs scored", network, variant, name, seed)


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
        identity={**cell, "context": "all", "checkpoint": NO_CHECKPOINT},
        device=resolve_device(settings["device"]),
        batch_size=settings["evaluate"]["batch_size"],
    )
    io.write_parquet(table, outputs["evaluation"])
