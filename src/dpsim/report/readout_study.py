"""The report's readout-study section: findings in sentences, figures and summary tables."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from dpsim.report import html

KIND_NAMES = {"2afc": "BAPPS 2AFC", "jnd": "BAPPS JND mAP", "mos": "MOS SROCC"}


def _means(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean score over the subsets of each kind, one column per kind."""
    wide = table.pivot_table(index=keys, columns="kind", values="score", aggfunc="mean")
    return wide.rename(columns=KIND_NAMES).reset_index()


def best_descriptor(table: pd.DataFrame) -> str:
    """Which descriptor scores best on BAPPS 2AFC (all layers, unit weights, mean of networks)."""
    rows = table[(table["layers"] == "all") & (table["weighting"] == "unit")]
    rows = rows[rows["kind"] == "2afc"]
    if rows.empty:
        return ""
    means = rows.groupby("descriptor")["score"].mean().sort_values(ascending=False)
    ranked = ", ".join(f"{d} {s:.3f}" for d, s in means.items())
    return f"Descriptors by mean BAPPS 2AFC score (all layers, unit weights): {ranked}."


def layers_finding(table: pd.DataFrame) -> str:
    """For how many (network, weights) all layers beat every single layer on BAPPS 2AFC."""
    rows = table[
        (table["descriptor"] == "spatial")
        & (table["weighting"] == "unit")
        & (table["kind"] == "2afc")
    ]
    if rows.empty:
        return ""
    means = rows.groupby(["network", "weights", "layers"])["score"].mean().reset_index()
    wins, cases, best = 0, 0, []
    for (network, weights), group in means.groupby(["network", "weights"]):
        single = group[group["layers"] != "all"]
        combined = group.loc[group["layers"] == "all", "score"]
        if single.empty or combined.empty:
            continue
        cases += 1
        top = single.loc[single["score"].idxmax()]
        wins += int(combined.iloc[0] >= top["score"])
        best.append(f"{network} ({weights}) {top['layers']}")
    return (
        f"All layers together scored at least as well as the best single layer on BAPPS 2AFC "
        f"for {wins} of {cases} networks (spatial descriptor, unit weights); best single "
        f"layers: {'; '.join(best)}."
    )


def weighting_finding(table: pd.DataFrame) -> str:
    """How often learned channel weights beat unit weights on BAPPS 2AFC (all layers)."""
    rows = table[(table["layers"] == "all") & (table["kind"] == "2afc")]
    wide = rows.pivot_table(
        index=["network", "weights", "descriptor"], columns="weighting", values="score"
    )
    if not {"unit", "learned"} <= set(wide.columns):
        return ""
    better = int((wide["learned"] > wide["unit"]).sum())
    change = (wide["learned"] - wide["unit"]).median()
    return (
        f"Learned channel weights (trained on the BAPPS 2AFC train split) beat unit weights in "
        f"{better} of {len(wide)} (network, weights, descriptor) cases on BAPPS 2AFC; median "
        f"change {change:+.4f}."
    )


def readout_section(
    table: pd.DataFrame, figure: Callable[[str], str], synthetic_mos: bool
) -> html.Section:
    """Findings, the depth and heatmap figures, and the all-layers table."""
    sentences = [best_descriptor(table), layers_finding(table), weighting_finding(table)]
    if synthetic_mos and (table["kind"] == "mos").any():
        sentences.append(
            "MOS correlations use the offline fixture, whose scores come from a simulated "
            "observer, not from people."
        )
    overall = _means(
        table[table["layers"] == "all"], ["network", "weights", "descriptor", "weighting"]
    )
    body = "".join(
        [
            html.bullet_list([s for s in sentences if s], "findings"),
            figure("readout_depth"),
            figure("readout_heatmap"),
            html.paragraph("All layers: mean score per kind (BAPPS subsets, MOS sets)."),
            html.table(overall, note="Full table: results/readout/summary.parquet"),
        ]
    )
    return html.Section("readout", "Readout study", body)
