"""The adaptation ladder: what each way of adapting (lin, mix, tune, ...) buys on its context
and costs on BAPPS, beside the numbers it trains and the time its job took.

``results/stats/tradeoff.parquet`` has one row per (network, trained variant, seed, context):

=====================  =================================================================
column                 meaning
=====================  =================================================================
context_gain           adapted minus baseline test 2AFC on the context (``context_tests``)
improved_significant   the gain is significant (exact McNemar, Holm across contexts)
bapps_2afc_change      mean over the BAPPS 2AFC subsets of adapted minus baseline score
bapps_jnd_change       the same for the JND subsets' mAP
trained_parameters     numbers the context's metric trains (weights, mixing, a backbone)
job_contexts           contexts its training job trained together
job_seconds            the job's training time (sum of its epochs' seconds; without start-up
                       and data loading)
seconds_per_context    ``job_seconds / job_contexts``
=====================  =================================================================

:func:`ladder_summary` condenses it per (network, variant), with the BAPPS non-inferiority
results of ``bapps_tests``. Importing this module costs no torch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["LADDER_COLUMNS", "TRADEOFF_COLUMNS", "ladder_summary", "tradeoff_table"]

TRADEOFF_COLUMNS: tuple[str, ...] = (
    "network",
    "variant",
    "seed",
    "context",
    "context_gain",
    "improved_significant",
    "bapps_2afc_change",
    "bapps_jnd_change",
    "trained_parameters",
    "job_contexts",
    "job_seconds",
    "seconds_per_context",
)
LADDER_COLUMNS: tuple[str, ...] = (
    "network",
    "variant",
    "contexts",
    "median_context_gain",
    "significant",
    "mean_bapps_2afc_change",
    "mean_bapps_jnd_change",
    "bapps_non_inferior",
    "bapps_subsets",
    "trained_parameters",
    "job_seconds",
    "seconds_per_context",
)
_KEYS = ["network", "variant", "seed", "context"]


def _bapps_changes(deltas: pd.DataFrame) -> pd.DataFrame:
    if deltas.empty:
        return pd.DataFrame(columns=[*_KEYS, "bapps_2afc_change", "bapps_jnd_change"])
    means = deltas.pivot_table(index=_KEYS, columns="kind", values="delta", aggfunc="mean")
    means = means.reindex(columns=["2afc", "jnd"])
    means.columns = ["bapps_2afc_change", "bapps_jnd_change"]
    return means.reset_index()


def _training_costs(logs: pd.DataFrame) -> pd.DataFrame:
    needed = {"trained_parameters", "job_contexts", "seconds"}
    if logs.empty or not needed <= set(logs.columns):
        return pd.DataFrame(columns=[*_KEYS, "trained_parameters", "job_contexts", "job_seconds"])
    costs = logs.groupby(_KEYS).agg(
        trained_parameters=("trained_parameters", "first"),
        job_contexts=("job_contexts", "first"),
        job_seconds=("seconds", "sum"),
    )
    return costs.reset_index()


def tradeoff_table(
    context_tests: pd.DataFrame, bapps_deltas: pd.DataFrame, logs: pd.DataFrame
) -> pd.DataFrame:
    """One row per adapted metric (see the module docstring); a value a table cannot give
    (no BAPPS subset of a kind, a log without the cost columns) is missing, never zero."""
    if context_tests.empty:
        return pd.DataFrame(columns=list(TRADEOFF_COLUMNS))
    gains = context_tests[[*_KEYS, "effect", "improved_significant"]].rename(
        columns={"effect": "context_gain"}
    )
    table = gains.merge(_bapps_changes(bapps_deltas), on=_KEYS, how="left")
    table = table.merge(_training_costs(logs), on=_KEYS, how="left")
    table["seconds_per_context"] = table["job_seconds"] / table["job_contexts"]
    return table.reindex(columns=list(TRADEOFF_COLUMNS)).sort_values(_KEYS, ignore_index=True)


def ladder_summary(tradeoff: pd.DataFrame, bapps_tests: pd.DataFrame) -> pd.DataFrame:
    """Per (network, variant): contexts, median context gain, significant gains, mean BAPPS
    changes, BAPPS subsets shown non-inferior (of those tested), trained numbers per context
    (median), mean seconds per training job and per context."""
    if tradeoff.empty:
        return pd.DataFrame(columns=list(LADDER_COLUMNS))
    keys = ["network", "variant"]
    table = tradeoff.groupby(keys).agg(
        contexts=("context", "size"),
        median_context_gain=("context_gain", "median"),
        significant=("improved_significant", "sum"),
        mean_bapps_2afc_change=("bapps_2afc_change", "mean"),
        mean_bapps_jnd_change=("bapps_jnd_change", "mean"),
        trained_parameters=("trained_parameters", "median"),
        job_seconds=("job_seconds", "mean"),
        seconds_per_context=("seconds_per_context", "mean"),
    )
    if not bapps_tests.empty:
        tested = bapps_tests.groupby(keys).agg(
            bapps_non_inferior=("non_inferior", "sum"), bapps_subsets=("non_inferior", "size")
        )
        table = table.join(tested)
    table = table.reset_index().reindex(columns=list(LADDER_COLUMNS))
    table["significant"] = table["significant"].astype(int)
    return table.sort_values(keys, key=_ladder_order, ignore_index=True)


def _ladder_order(column: pd.Series) -> pd.Series:
    """Variants from the fewest trained numbers to the most (on the study's networks)."""
    if column.name != "variant":
        return column
    order = {v: i for i, v in enumerate(("lin", "mix", "bitfit", "lora", "tune", "scratch"))}
    return column.map(lambda v: order.get(v, len(order))).astype(np.int64)
