"""Steps of ``rules/analysis.smk``: the summary table, the statistics, the result figures."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from dpsim import aggregate, analysis, contexts, io
from dpsim.contexts import Context
from dpsim.figure_registry import draw_figures
from dpsim.names import STATS_FILES
from dpsim.steps.job import NO_JOB, Files, Job, Settings

if TYPE_CHECKING:
    from dpsim.data.pool import Pool

log = logging.getLogger(__name__)


def summary(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """Every per-item evaluation file (``inputs["evaluations"]``) -> ``outputs["summary"]``."""
    job.start()
    aggregate.write_summary(inputs["evaluations"], outputs["summary"])


def caps(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """The best unit, non-negative and unconstrained linear readouts of a network's frozen
    features, fitted per context on the training draws' statistics (``inputs["train"]``) and
    scored on the test draw's (``inputs["test"]``): ``outputs["caps"]`` (:mod:`dpsim.caps`)."""
    from dpsim import caps as readouts  # torch: not imported by the summary job
    from dpsim import feature_cache

    job.start()
    cell = settings["job"]
    table = readouts.cap_table(
        [feature_cache.read_cache(path) for path in inputs["train"]],
        feature_cache.read_cache(inputs["test"]),
        contexts.contexts_from_records(settings["contexts"]),
        network=cell["network"],
        seed=cell["seed"],
    )
    io.write_parquet(table, outputs["caps"])


def stats(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """The study's statistics: one table per name of :data:`~dpsim.names.STATS_FILES`."""
    job.start()
    analysis.write_stats(
        eval_paths=inputs["evaluations"],
        summary_path=inputs["summary"],
        rankings_path=inputs["rankings"],
        out_paths={name: outputs[name] for name in STATS_FILES},
        settings=analysis.StatsSettings.from_config(settings["stats"], settings["seed"]),
        test_pool=inputs["pool"],
        caps_paths=inputs["caps"],
        log_paths=inputs.get("logs", []),
    )


@dataclass(frozen=True)
class ResultData:
    """What the result figures are drawn from; each table is read once, when first needed."""

    inputs: Files
    example_count: int
    seed: int
    checkpoint: str
    margin: float | None = None

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        """The summary with the adapted metrics at the checkpoint the statistics score."""
        return analysis.at_checkpoint(pd.read_parquet(self.inputs["summary"]), self.checkpoint)

    @functools.cached_property
    def stats(self) -> dict[str, pd.DataFrame]:
        return {name: pd.read_parquet(self.inputs[name]) for name in STATS_FILES}

    @functools.cached_property
    def rankings(self) -> pd.DataFrame:
        return pd.read_parquet(self.inputs["rankings"])

    @functools.cached_property
    def contexts(self) -> list[Context]:
        return contexts.read_contexts(self.inputs["rankings"])

    @functools.cached_property
    def training_logs(self) -> pd.DataFrame:
        return aggregate.read_training_logs([Path(p) for p in self.inputs["logs"]])

    @functools.cached_property
    def test_pool(self) -> Pool:
        from dpsim.data.pool import load_pool  # torch: only the figures that show images

        return load_pool(self.inputs["pool"])


def result_figures(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """Every figure of the registry drawn by this rule, from the summary, the statistics, the
    rankings, the training logs and the test pool."""
    job.start()
    data = ResultData(
        inputs,
        settings["figures"]["example_triplets"],
        settings["seed"],
        settings["stats"]["checkpoint"],
        settings["stats"]["margin"],
    )
    draw_figures("result_figures", data, outputs)
