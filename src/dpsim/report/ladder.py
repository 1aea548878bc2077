"""The report's adaptation-ladder section: each rung's context gain, BAPPS change and cost."""

from __future__ import annotations

import math

import pandas as pd

from dpsim.ladder import ladder_summary
from dpsim.report import html
from dpsim.report.findings import signed

__all__ = ["ladder_findings", "ladder_section"]


def _count(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{int(value):,}"


def _seconds(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f} s"


def displayed(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`dpsim.ladder.ladder_summary` as a reader sees it."""
    rows = [
        {
            "network": row.network,
            "variant": row.variant,
            "contexts": int(row.contexts),
            "median context gain": signed(row.median_context_gain),
            "significant": f"{int(row.significant)} of {int(row.contexts)}",
            "BAPPS 2AFC change": signed(row.mean_bapps_2afc_change),
            "BAPPS JND change": signed(row.mean_bapps_jnd_change),
            "BAPPS non-inferior": (
                "n/a"
                if math.isnan(row.bapps_subsets)
                else f"{int(row.bapps_non_inferior)} of {int(row.bapps_subsets)}"
            ),
            "trained numbers": _count(row.trained_parameters),
            "seconds per job": _seconds(row.job_seconds),
            "seconds per context": _seconds(row.seconds_per_context),
        }
        for row in summary.astype({"bapps_subsets": float}).itertuples()
    ]
    return pd.DataFrame(rows)


def ladder_findings(tradeoff: pd.DataFrame, bapps_tests: pd.DataFrame) -> list[str]:
    """One sentence per network: each rung's median gain, BAPPS change and cost, in order."""
    summary = ladder_summary(tradeoff, bapps_tests)
    sentences = []
    for network, rows in summary.groupby("network", sort=True):
        if len(rows) < 2:
            continue
        parts = [
            f"{row.variant} {signed(row.median_context_gain)} on its {int(row.contexts)} "
            f"contexts and {signed(row.mean_bapps_2afc_change)} on BAPPS 2AFC with "
            f"{_count(row.trained_parameters)} trained numbers"
            for row in rows.itertuples()
        ]
        sentences.append(
            f"The adaptation ladder on {network} (median context gain, mean BAPPS 2AFC change, "
            f"numbers trained per context): {'; '.join(parts)}."
        )
    return sentences


def ladder_section(tradeoff: pd.DataFrame, bapps_tests: pd.DataFrame) -> html.Section:
    """The ladder table and where its numbers come from."""
    summary = ladder_summary(tradeoff, bapps_tests)
    if summary.empty:
        body = html.paragraph("No adapted metric in this run.")
    else:
        body = html.paragraph(
            "Each way of adapting, from the fewest trained numbers to the most: its median "
            "gain on its own contexts over the untrained baseline (adapted minus baseline test "
            "2AFC; significant: exact McNemar, Holm across contexts), the mean change on the "
            "BAPPS 2AFC and JND subsets, the subsets shown non-inferior within the margin, the "
            "numbers it trains per context (not the ranking head), and its training time "
            "(the epochs of its jobs; jobs of lin and mix train many contexts at once). Per "
            "context: results/stats/tradeoff.parquet."
        ) + html.table(displayed(summary))
    return html.Section("ladder", "The adaptation ladder", body)
