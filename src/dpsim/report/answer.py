"""The report's first table: the study's answer per network and adapted variant, in one row each.

A reader who stops after the first screen should know, for every adapted metric, whether it
learned its contexts and what that cost on human perception. Each row counts, from the statistics
the rest of the report details: the context cases it improved on the untrained baseline and those
significantly improved (exact McNemar, Holm-corrected across the contexts: ``improved_significant``
of ``results/stats/context_tests.parquet``), the median context gain (adapted minus baseline test
2AFC), the BAPPS subsets on which it was shown non-inferior (``non_inferior`` of
``results/stats/bapps_tests.parquet``), and the trained runs whose ranking head ended inverted
(:func:`dpsim.report.findings.head_inversions` on the training logs).
"""

from __future__ import annotations

import math

import pandas as pd

from dpsim.report import html
from dpsim.report.findings import head_inversions, signed

__all__ = ["ANSWER_COLUMNS", "answer_section", "answer_table", "displayed"]

#: The columns of :func:`answer_table`; counts are of rows of the tables named above.
ANSWER_COLUMNS: tuple[str, ...] = (
    "network",
    "variant",
    "context_cases",  # (context, seed) cases tested on their context
    "improved",  # effect > 0
    "significant",  # improved and Holm-adjusted McNemar p < alpha
    "median_gain",  # median effect: adapted minus baseline context test 2AFC
    "bapps_subsets",  # BAPPS kind x subset tested
    "non_inferior",  # of those, shown non-inferior within the margin
    "runs",  # trained runs whose log has the head's own val 2AFC
    "inverted_heads",  # of those, ended with the ranking head inverted
)

_KEYS = ["network", "variant"]


def answer_table(
    context_tests: pd.DataFrame, bapps_tests: pd.DataFrame, training_logs: pd.DataFrame
) -> pd.DataFrame:
    """One row per (network, adapted variant) found in any of the three tables (see the module
    docstring). A count that a table cannot give (no BAPPS test, logs without the head's own
    score) is missing (NaN), never zero."""
    parts = []
    if not context_tests.empty:
        parts.append(
            context_tests.groupby(_KEYS)
            .agg(
                context_cases=("effect", "size"),
                improved=("improved", "sum"),
                significant=("improved_significant", "sum"),
                median_gain=("effect", "median"),
            )
            .astype({"improved": int, "significant": int})
        )
    if not bapps_tests.empty:
        parts.append(
            bapps_tests.groupby(_KEYS).agg(
                bapps_subsets=("non_inferior", "size"), non_inferior=("non_inferior", "sum")
            )
        )
    heads = head_inversions(training_logs)
    if not heads.empty:
        parts.append(
            heads.groupby(_KEYS).agg(runs=("inverted", "size"), inverted_heads=("inverted", "sum"))
        )
    if not parts:
        return pd.DataFrame(columns=list(ANSWER_COLUMNS))
    table = pd.concat(parts, axis=1).sort_index().reset_index()
    return table.reindex(columns=list(ANSWER_COLUMNS))


def _out_of(part: float, whole: float) -> str:
    if math.isnan(whole):
        return "n/a"
    return f"{int(part)} of {int(whole)}"


def displayed(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`answer_table` as a reader sees it: "k of n" counts and a signed median gain."""
    rows = [
        {
            "network": row.network,
            "variant": row.variant,
            "contexts improved": _out_of(row.improved, row.context_cases),
            "significantly": _out_of(row.significant, row.context_cases),
            "median gain": signed(row.median_gain),
            "BAPPS non-inferior": _out_of(row.non_inferior, row.bapps_subsets),
            "inverted heads": _out_of(row.inverted_heads, row.runs),
        }
        for row in table.astype({c: float for c in ANSWER_COLUMNS[2:]}).itertuples()
    ]
    return pd.DataFrame(rows)


def answer_section(table: pd.DataFrame, alpha: float, margin: float) -> html.Section:
    """The opening section: the answer table with one line saying what each column counts."""
    if table.empty:
        return html.Section(
            "answer", "The answer", html.paragraph("No adapted metric in this run: no answer.")
        )
    legend = (
        "Per adapted metric: the context cases (context x seed) where it beat the untrained "
        "baseline's test 2AFC, and where significantly (exact McNemar, Holm-adjusted p < "
        f"{alpha:g}); the median gain in that score; the BAPPS subsets where it was shown "
        f"non-inferior to the baseline within {margin:g} (one-sided t-test); the trained runs "
        "whose ranking head ended reading the distances backwards. Details: the sections below."
    )
    body = html.table(displayed(table), css_class="answer") + html.paragraph(legend, "legend")
    return html.Section("answer", "The answer", body)
