"""The report's readout-study section: findings in sentences, figures and summary tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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


def tuning_finding(table: pd.DataFrame) -> str:
    """How often tuning the network too (LPIPS tune) beat unit and learned weights (spatial)."""
    rows = table[
        (table["layers"] == "all") & (table["kind"] == "2afc") & (table["descriptor"] == "spatial")
    ]
    wide = rows.pivot_table(index=["network", "weights"], columns="weighting", values="score")
    if "tuned" not in wide.columns:
        return ""
    parts = [
        f"{int((wide['tuned'] > wide[other]).sum())} of {int(wide[other].notna().sum())} over "
        f"{other} weights"
        for other in ("unit", "learned")
        if other in wide.columns
    ]
    return (
        "Tuning the network with its channel weights on the BAPPS 2AFC train split (LPIPS tune, "
        f"spatial, all layers) beat {' and '.join(parts)} on BAPPS 2AFC (mean over subsets)."
    )


#: How each ``mos.resize`` mode is said in the report.
RESIZE_SENTENCES = {
    "keep_aspect": "with their short side resized to {size} px (aspect ratio kept)",
    "center_crop": "with their short side resized to {size} px, then cropped to the centre square",
    "squash": "resized to {size}x{size} px (non-square images distorted)",
}


def mos_notes(mos: Mapping[str, Any], table: pd.DataFrame) -> list[str]:
    """What a reader must know about the MOS rows: how images were sized, synthetic scores."""
    if not (table["kind"] == "mos").any():
        return []
    size = RESIZE_SENTENCES[mos["resize"]].format(size=mos["image_size"])
    notes = [f"MOS images were scored {size}, resampled with PIL's bicubic filter."]
    if any(entry["format"] == "fixture" for entry in mos["sets"]):
        notes.append(
            "MOS correlations on the offline fixture use scores from a simulated observer, not "
            "from people."
        )
    return notes


def readout_section(table: pd.DataFrame, figures: str, notes: Sequence[str] = ()) -> html.Section:
    """Findings (then ``notes``), the section's ``figures`` (HTML), and the all-layers table."""
    sentences = [
        best_descriptor(table),
        layers_finding(table),
        weighting_finding(table),
        tuning_finding(table),
        *notes,
    ]
    overall = _means(
        table[table["layers"] == "all"], ["network", "weights", "descriptor", "weighting"]
    )
    body = "".join(
        [
            html.bullet_list([s for s in sentences if s], "findings"),
            figures,
            html.paragraph("All layers: mean score per kind (BAPPS subsets, MOS sets)."),
            html.table(overall, note="Full table: results/readout/summary.parquet"),
        ]
    )
    return html.Section("readout", "Readout study", body)
