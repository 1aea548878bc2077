"""Figures of the study's results, drawn from the tables the workflow writes.

The questions they answer: did training converge (:func:`training_curves`); does adapting a
metric to a context raise its 2AFC score on that context (:func:`context_scores`); what does it
cost on human perception, i.e. BAPPS (:func:`bapps_heatmap`, :func:`bapps_forest`); and are
contexts far from the protocol's identity order harder (:func:`score_vs_rank_distance`).

Every function checks its input columns (ValueError naming the function and the column), and
returns a "no data" figure instead of raising when a tiny run leaves nothing to plot. Output is
deterministic: no jitter or bootstrap; spread is shown as sd and given confidence intervals.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from dpsim.figures.common import (
    SCORE_2AFC,
    annotated_heatmap,
    finite,
    network_order,
    no_data,
    ordered,
    palette,
    require_columns,
    styled,
)

LOG_COLUMNS = ("network", "variant", "seed", "context", "epoch", "loss", "train_2afc", "val_2afc")
SUMMARY_COLUMNS = ("network", "variant", "context", "seed", "dataset", "kind", "subset", "score")
CONTEXT_TEST_COLUMNS = (
    "network",
    "variant",
    "context",
    "seed",
    "n",
    "effect",
    "ci_low",
    "ci_high",
    "improved_significant",
    "adapted_score",
    "baseline_score",
)
BAPPS_TEST_COLUMNS = (
    "network",
    "variant",
    "kind",
    "subset",
    "mean_delta",
    "ci_low",
    "ci_high",
    "margin",
    "non_inferior",
)
BAPPS_DELTA_COLUMNS = ("network", "variant", "kind", "subset", "delta")

#: BAPPS subsets in the order of the BAPPS paper; unknown subsets follow sorted.
SUBSET_ORDER = ("traditional", "cnn", "superres", "deblur", "color", "frameinterp")
KIND_ORDER = ("2afc", "jnd")
KIND_LABEL = {"2afc": "2AFC score", "jnd": "JND mAP"}
DISTANCE_LABEL = {
    "kendall_distance": "Kendall distance (discordant pairs, 0-15)",
    "kendall_tau": "Kendall's tau (-1 to 1)",
    "footrule": "Spearman footrule (0-18)",
}
LINESTYLES = ("-", "--", ":", "-.")
SIGNIFICANT, NOT_SIGNIFICANT, BASELINE = "#0072B2", "#999999", "#222222"
NON_INFERIOR, INFERIOR = "#009E73", "#D55E00"
#: Per-context rows are labelled on the y axis only up to this many; beyond, labels would overlap.
MAX_LABELLED_ROWS = 30
HEATMAPS_PER_LINE = 3
HEATMAP_COLOURS = "viridis"


def _kind_label(kind: str) -> str:
    return KIND_LABEL.get(kind, kind)


def _flags(values: pd.Series) -> np.ndarray:
    """A boolean column as a numpy bool array; missing values count as False."""
    return values.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _wilson(score: np.ndarray, n: np.ndarray, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson interval of a proportion ``score`` over ``n`` items (NaN where n < 1)."""
    p = np.clip(np.asarray(score, dtype=float), 0.0, 1.0)
    n = np.where(np.asarray(n, dtype=float) >= 1, np.asarray(n, dtype=float), np.nan)
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return centre - half, centre + half


def _intervals(axis: Axes, y: np.ndarray, low: np.ndarray, high: np.ndarray, **style) -> None:
    """Horizontal CI segments at ``y``, skipping rows with a NaN bound."""
    keep = finite(low) & finite(high)
    if keep.any():
        axis.hlines(np.asarray(y)[keep], np.asarray(low)[keep], np.asarray(high)[keep], **style)


# --- training -----------------------------------------------------------------------------------


def _epoch_stats(logs: pd.DataFrame, column: str) -> pd.DataFrame:
    """Mean, sd and run count of ``column`` per (network, variant, epoch) across runs."""
    runs = ["network", "variant", "context", "seed", "epoch"]
    per_run = logs.dropna(subset=[column]).groupby(runs, as_index=False)[column].mean()
    stats = per_run.groupby(["network", "variant", "epoch"])[column].agg(["mean", "std", "count"])
    return stats.reset_index().sort_values("epoch")


@styled()
def training_curves(logs: pd.DataFrame) -> plt.Figure:
    """Loss, train 2AFC and validation 2AFC per epoch: one line per (network, variant).

    Lines are means over contexts and seeds; the band is +-1 sd across those runs where there are
    several. It shows whether training converged and whether heads overfit (train above val).
    When the logs have ``val_head_2afc``, a fourth panel shows the ranking head's own validation
    2AFC: far above the metric's, the head reads the distances backwards (:mod:`dpsim.head`).
    Colour encodes the network and line style the variant; the 2AFC panels share their y axis.
    """
    require_columns(logs, LOG_COLUMNS, "training_curves")
    title = "Training curves (mean over contexts and seeds, band: +-1 sd)"
    if logs.empty:
        return no_data("no training logs", title)
    networks, variants = network_order(logs["network"]), ordered(logs["variant"])
    colours = palette(networks)
    styles = {v: LINESTYLES[i % len(LINESTYLES)] for i, v in enumerate(variants)}
    panels = [
        ("loss", "training loss (per triplet)", "Loss"),
        ("train_2afc", SCORE_2AFC, "Train 2AFC"),
        ("val_2afc", SCORE_2AFC, "Validation 2AFC"),
    ]
    if "val_head_2afc" in logs and logs["val_head_2afc"].notna().any():
        panels.append(("val_head_2afc", SCORE_2AFC, "Validation 2AFC of the head"))
    figure, axes = plt.subplots(
        1, len(panels), figsize=(4.3 * len(panels), 3.9), layout="constrained"
    )
    for axis in axes[2:]:
        axis.sharey(axes[1])
    for axis, (column, ylabel, panel_title) in zip(axes, panels, strict=True):
        stats = _epoch_stats(logs, column)
        for network, variant in [(n, v) for n in networks for v in variants]:
            rows = stats[(stats["network"] == network) & (stats["variant"] == variant)]
            if rows.empty:
                continue
            x, mean = rows["epoch"].to_numpy(), rows["mean"].to_numpy()
            colour = colours[network]
            label = f"{network} / {variant}"
            axis.plot(x, mean, styles[variant], color=colour, marker="o", ms=3, label=label)
            band = (rows["count"] > 1).to_numpy() & finite(rows["std"])
            if band.any():
                sd = rows["std"].to_numpy()
                low, high = (mean - sd)[band], (mean + sd)[band]
                axis.fill_between(x[band], low, high, color=colour, alpha=0.18, linewidth=0)
        axis.set(title=panel_title, xlabel="epoch", ylabel=ylabel)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    legend: dict[str, Any] = {}
    for axis in axes:
        legend.update(zip(*reversed(axis.get_legend_handles_labels()), strict=True))
    if legend:
        figure.legend(
            list(legend.values()),
            list(legend.keys()),
            loc="outside right upper",
            title="network / variant",
        )
    figure.suptitle(title)
    return figure


# --- adaptation per context ----------------------------------------------------------------------


def _facet_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows of one facet sorted by effect (ties by context, seed) and their y tick labels."""
    rows = rows.sort_values(["effect", "context", "seed"], kind="mergesort")
    several_seeds = rows["seed"].nunique() > 1
    labels = [
        f"{c} s{s}" if several_seeds else str(c)
        for c, s in zip(rows["context"], rows["seed"], strict=True)
    ]
    return rows, labels


def _score_panel(axis: Axes, rows: pd.DataFrame, colours: list, detailed: bool) -> None:
    """Baseline (open) and adapted (filled) 2AFC score per context, joined by a thin line.

    With ``detailed`` (few rows) each score also gets its Wilson 95% CI, drawn slightly apart.
    """
    y = np.arange(len(rows), dtype=float)
    base = rows["baseline_score"].to_numpy(dtype=float)
    adapted = rows["adapted_score"].to_numpy(dtype=float)
    axis.hlines(y, base, adapted, colors=colours, linewidth=0.7, alpha=0.6)
    for score, shift, colour, face, gid in (
        (base, -0.2, [BASELINE] * len(rows), "none", "baseline_score"),
        (adapted, 0.2, colours, colours, "adapted_score"),
    ):
        shift = shift if detailed else 0.0
        if detailed:
            low, high = _wilson(score, rows["n"].to_numpy())
            _intervals(axis, y + shift, low, high, colors=colour, linewidth=0.8, alpha=0.7)
        size = 16 if detailed else 7
        axis.scatter(
            score, y + shift, s=size, edgecolors=colour, facecolors=face, zorder=3, gid=gid
        )
    axis.axvline(0.5, color="0.5", linestyle=":", linewidth=0.9)
    axis.set_xlabel(SCORE_2AFC)


def _effect_panel(axis: Axes, rows: pd.DataFrame, colours: list, detailed: bool) -> None:
    """Effect (adapted - baseline score) per context with its paired-bootstrap 95% CI."""
    y = np.arange(len(rows), dtype=float)
    low, high = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    _intervals(axis, y, low, high, colors=colours, linewidth=1.0 if detailed else 0.5)
    effect = rows["effect"].to_numpy(dtype=float)
    axis.scatter(effect, y, s=16 if detailed else 6, c=colours, zorder=3, gid="effect")
    axis.axvline(0.0, color="black", linewidth=0.9)
    axis.set_xlabel("effect (score difference)")
    axis.xaxis.set_major_locator(MaxNLocator(nbins=5))


@styled()
def context_scores(context_tests: pd.DataFrame) -> plt.Figure:
    """Per context: baseline vs adapted 2AFC score and their difference, sorted by the effect.

    One pair of panels per (variant: rows, network: columns). Left: the untrained baseline's
    score (open) and the adapted metric's score (filled), each with a Wilson 95% CI from the
    number of test items. Right: a caterpillar plot of the effect with its paired-bootstrap 95% CI.
    Blue marks a significant improvement (after correction), grey the rest. Contexts are sorted
    by effect, so one reads off how many contexts adaptation helps and by how much; with more than
    30 rows per facet the context names are left out.
    """
    require_columns(context_tests, CONTEXT_TEST_COLUMNS, "context_scores")
    title = "Adaptation per context: 2AFC score on the context's test triplets"
    table = context_tests[finite(context_tests["effect"])]
    if table.empty:
        return no_data("no context test with a finite effect", title)
    networks, variants = network_order(table["network"]), ordered(table["variant"])
    longest = int(table.groupby(["network", "variant"]).size().max())
    height = float(np.clip(0.16 * longest + 1.3, 2.6, 6.0))
    figure, axes = plt.subplots(
        len(variants),
        2 * len(networks),
        figsize=(6.6 * len(networks) + 0.4, height * len(variants)),
        squeeze=False,
        layout="constrained",
    )
    for row, variant in enumerate(variants):
        for col, network in enumerate(networks):
            score_axis, effect_axis = axes[row, 2 * col], axes[row, 2 * col + 1]
            facet = table[(table["network"] == network) & (table["variant"] == variant)]
            if facet.empty:
                for axis in (score_axis, effect_axis):
                    axis.set_axis_off()
                score_axis.text(
                    0.5,
                    0.5,
                    f"{network} / {variant}: no rows",
                    ha="center",
                    transform=score_axis.transAxes,
                )
                continue
            facet, labels = _facet_rows(facet)
            significant = _flags(facet["improved_significant"])
            colours = [SIGNIFICANT if flag else NOT_SIGNIFICANT for flag in significant]
            detailed = len(facet) <= MAX_LABELLED_ROWS
            _score_panel(score_axis, facet, colours, detailed)
            _effect_panel(effect_axis, facet, colours, detailed)
            effect_axis.sharey(score_axis)
            effect_axis.tick_params(labelleft=False)
            score_axis.set_ylim(-0.7, len(facet) - 0.3)
            if detailed:
                score_axis.set_yticks(np.arange(len(facet)), labels, fontsize=7)
            else:
                score_axis.set_yticks([])
            score_axis.set_ylabel("context (sorted by effect)")
            score_axis.set_title(f"{network} / {variant}: scores", loc="left")
            gains = f"{int(significant.sum())}/{len(facet)}"
            effect_axis.set_title(f"effect; significant gain: {gains}", loc="left")
    figure.legend(handles=_context_legend(), loc="outside lower center", ncols=4)
    figure.suptitle(title)
    return figure


def _context_legend() -> list[Line2D]:
    def marker(colour: str, face: str, label: str) -> Line2D:
        return Line2D(
            [], [], marker="o", linestyle="-", color=colour, markerfacecolor=face, label=label
        )

    return [
        marker(BASELINE, "none", "untrained baseline (with 95% Wilson CI when <= 30 rows)"),
        marker(SIGNIFICANT, SIGNIFICANT, "adapted, significant gain"),
        marker(NOT_SIGNIFICANT, NOT_SIGNIFICANT, "adapted, no significant gain"),
        Line2D([], [], color="black", label="effect: 95% paired bootstrap CI"),
    ]


# --- BAPPS ---------------------------------------------------------------------------------------


def _bapps_panels(rows: pd.DataFrame) -> dict[str, list[str]]:
    """Subsets present per kind, 2AFC before JND, subsets in BAPPS order."""
    pairs = set(zip(rows["kind"].astype(str), rows["subset"].astype(str), strict=True))
    subsets = ordered((s for _, s in pairs), SUBSET_ORDER)
    kinds = ordered((k for k, _ in pairs), KIND_ORDER)
    return {k: [s for s in subsets if (k, s) in pairs] for k in kinds}


def _norm(values: pd.Series) -> Normalize:
    """Colour scale over ``values``, widened a little when they are all equal."""
    low, high = float(values.min()), float(values.max())
    pad = 0.01 if high - low < 1e-9 else 0.0
    return Normalize(low - pad, high + pad)


def _heatmap(axis: Axes, matrix: pd.DataFrame, norm: Normalize) -> None:
    """One annotated network x variant heatmap; NaN cells are left blank."""
    annotated_heatmap(axis, matrix, norm, HEATMAP_COLOURS, ".3f", 7)
    axis.set(xlabel="variant", ylabel="network")
    axis.tick_params(axis="x", rotation=30)
    axis.tick_params(axis="y", rotation=0)


@styled()
def bapps_heatmap(summary: pd.DataFrame) -> plt.Figure:
    """BAPPS score of every (network, variant): one heatmap per (kind, subset).

    Trained variants are averaged over contexts and seeds, untrained ones (baseline, cosine, and
    l2/ssim on the ``pixel`` row) over seeds; cells without a metric stay blank. Values are
    printed with three decimals. It compares at a glance what adaptation does to agreement with
    human judgments (2AFC score, JND mAP) against the untrained metrics.
    """
    require_columns(summary, SUMMARY_COLUMNS, "bapps_heatmap")
    title = "BAPPS scores (trained variants: mean over contexts and seeds)"
    rows = summary[(summary["dataset"] == "bapps") & finite(summary["score"])]
    if rows.empty:
        return no_data("no BAPPS rows with a score", title)
    means = rows.groupby(["kind", "subset", "network", "variant"])["score"].mean()
    networks, variants = network_order(rows["network"]), ordered(rows["variant"])
    panels = _bapps_panels(rows)
    columns = min(HEATMAPS_PER_LINE, max(len(subsets) for subsets in panels.values()))
    lines = {kind: -(-len(subsets) // columns) for kind, subsets in panels.items()}
    size = (max(3.4, 0.75 * len(variants) + 1.6), max(2.2, 0.45 * len(networks) + 1.3))
    figure, axes = plt.subplots(
        sum(lines.values()),
        columns,
        figsize=(size[0] * columns + 1.2, size[1] * sum(lines.values())),
        squeeze=False,
        layout="constrained",
    )
    first = 0
    for kind, subsets in panels.items():
        block = list(axes[first : first + lines[kind]].flat)
        first += lines[kind]
        norm = _norm(means.loc[kind])
        for axis, subset in zip(block, subsets, strict=False):
            matrix = means.loc[(kind, subset)].unstack("variant")
            _heatmap(axis, matrix.reindex(networks, columns=variants), norm)
            axis.set_title(f"{_kind_label(kind)} / {subset}")
        for axis in block[len(subsets) :]:
            axis.set_axis_off()
        figure.colorbar(
            ScalarMappable(norm, HEATMAP_COLOURS),
            ax=block[: len(subsets)],
            label=_kind_label(kind),
            shrink=0.9,
        )
    figure.suptitle(title)
    return figure


def _row_key(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` sorted by network, variant and subset in display order."""
    keys = {
        "network": network_order(table["network"]),
        "variant": ordered(table["variant"]),
        "subset": ordered(table["subset"], SUBSET_ORDER),
    }
    ranks = {
        c: table[c].astype(str).map({v: i for i, v in enumerate(order)})
        for c, order in keys.items()
    }
    return table.assign(**{f"_{c}": r for c, r in ranks.items()}).sort_values(
        ["_network", "_variant", "_subset"], kind="mergesort"
    )


def _margin_lines(axis: Axes, y: np.ndarray, margins: np.ndarray) -> None:
    """Dashed line(s) at -margin: one across the panel if all rows share it, else one per row."""
    keep = finite(margins)
    if not keep.any():
        return
    style: dict[str, Any] = {
        "color": INFERIOR,
        "linestyle": "--",
        "linewidth": 1.1,
        "label": "non-inferiority margin",
        "gid": "margin",
    }
    distinct = np.unique(margins[keep])
    if len(distinct) == 1:
        axis.axvline(-distinct[0], **style)
    else:
        axis.vlines(-margins[keep], y[keep] - 0.4, y[keep] + 0.4, **style)


def _forest_panel(axis: Axes, tests: pd.DataFrame, deltas: pd.DataFrame) -> None:
    """One kind's forest: rows top to bottom, context deltas, mean with CI, zero and margin."""
    y = np.arange(len(tests), dtype=float)
    key = ["network", "variant", "subset"]
    position = {tuple(map(str, k)): i for i, k in enumerate(tests[key].itertuples(index=False))}
    dots = deltas.assign(
        _y=[position.get(tuple(map(str, k)), np.nan) for k in deltas[key].itertuples(index=False)]
    )
    dots = dots[finite(dots["_y"]) & finite(dots["delta"])]
    axis.scatter(
        dots["delta"],
        dots["_y"],
        s=9,
        color="0.35",
        alpha=0.3,
        linewidths=0,
        zorder=1,
        gid="context deltas",
    )
    flags = _flags(tests["non_inferior"])
    colours = [NON_INFERIOR if flag else INFERIOR for flag in flags]
    _intervals(
        axis,
        y,
        tests["ci_low"].to_numpy(dtype=float),
        tests["ci_high"].to_numpy(dtype=float),
        colors=colours,
        linewidth=1.6,
    )
    axis.scatter(
        tests["mean_delta"].to_numpy(dtype=float),
        y,
        s=30,
        zorder=3,
        gid="mean delta",
        edgecolors=colours,
        facecolors=[c if f else "white" for c, f in zip(colours, flags, strict=True)],
    )
    axis.axvline(0.0, color="black", linewidth=0.9)
    _margin_lines(axis, y, tests["margin"].to_numpy(dtype=float))
    labels = [f"{n} / {v} / {s}" for n, v, s in tests[key].itertuples(index=False)]
    axis.set_yticks(y, labels, fontsize=7 if len(tests) <= 40 else 5)
    axis.set_ylim(len(tests) - 0.5, -0.5)
    axis.xaxis.set_major_locator(MaxNLocator(nbins=6))


@styled()
def bapps_forest(bapps_tests: pd.DataFrame, bapps_deltas: pd.DataFrame) -> plt.Figure:
    """Forest plot of what adaptation costs on BAPPS, one panel per kind (2AFC, JND).

    One row per (network, variant, subset): the mean change of the BAPPS score against the
    untrained network (adapted - untrained) with its 95% CI, and each context's own change as a
    faint dot. The solid line marks no change and the dashed line the non-inferiority margin:
    a row is non-inferior (green, filled) when the test says its loss stays above -margin.
    """
    require_columns(bapps_tests, BAPPS_TEST_COLUMNS, "bapps_forest")
    require_columns(bapps_deltas, BAPPS_DELTA_COLUMNS, "bapps_forest")
    title = "Cost of adaptation on BAPPS (mean change with 95% CI; dots: single contexts)"
    tests = bapps_tests[finite(bapps_tests["mean_delta"])]
    if tests.empty:
        return no_data("no BAPPS test with a finite mean delta", title)
    kinds = ordered(tests["kind"], KIND_ORDER)
    longest = int(tests.groupby("kind").size().max())
    figure, axes = plt.subplots(
        1,
        len(kinds),
        figsize=(5.8 * len(kinds), float(np.clip(0.24 * longest + 1.6, 2.8, 24))),
        squeeze=False,
        layout="constrained",
    )
    for axis, kind in zip(axes[0], kinds, strict=True):
        rows = _row_key(tests[tests["kind"] == kind])
        _forest_panel(axis, rows, bapps_deltas[bapps_deltas["kind"] == kind])
        flags = _flags(rows["non_inferior"])
        axis.set_title(f"BAPPS {_kind_label(kind)}: non-inferior {int(flags.sum())}/{len(rows)}")
        axis.set_xlabel(f"change in {_kind_label(kind)} (adapted - untrained, proportion)")
    figure.legend(handles=_forest_legend(), loc="outside lower center", ncols=4)
    figure.suptitle(title)
    return figure


def _forest_legend() -> list[Line2D]:
    return [
        Line2D([], [], color=NON_INFERIOR, marker="o", label="mean change, non-inferior"),
        Line2D(
            [],
            [],
            color=INFERIOR,
            marker="o",
            markerfacecolor="white",
            label="mean change, non-inferiority not shown",
        ),
        Line2D([], [], color="0.35", alpha=0.4, marker="o", linestyle="", label="single context"),
        Line2D([], [], color=INFERIOR, linestyle="--", label="non-inferiority margin"),
    ]


# --- rank distance ------------------------------------------------------------------------------


def _dodge(values: np.ndarray, count: int) -> np.ndarray:
    """Horizontal offsets for ``count`` groups: a fraction of the smallest gap between values."""
    distinct = np.unique(values[finite(values)])
    gap = float(np.diff(distinct).min()) if len(distinct) > 1 else 1.0
    return np.linspace(-0.15, 0.15, count) * gap if count > 1 else np.zeros(1)


@styled()
def score_vs_rank_distance(
    summary: pd.DataFrame, rankings: pd.DataFrame, distance: str = "kendall_distance"
) -> plt.Figure:
    """Context 2AFC score against the context's rank distance to the identity order.

    One point per (context, metric) with scores averaged over seeds, colour by variant, one panel
    per network; a least-squares line per variant where it has at least 3 contexts. Points are
    shifted a little sideways per variant so they do not hide each other. It shows whether
    contexts that reorder the distortions more are harder to learn (or to fit untrained).
    """
    require_columns(summary, SUMMARY_COLUMNS, "score_vs_rank_distance")
    require_columns(rankings, ("context", distance), "score_vs_rank_distance")
    title = "Context 2AFC score vs the context ranking's distance to the identity order"
    rows = summary[(summary["dataset"] == "context") & (summary["kind"] == "2afc")]
    scores = rows.groupby(["network", "variant", "context"], as_index=False)["score"].mean()
    table = scores.merge(rankings[["context", distance]], on="context", how="inner")
    table = table[finite(table["score"]) & finite(table[distance])]
    if table.empty:
        return no_data("no context scores with a rank distance", title)
    networks, variants = network_order(table["network"]), ordered(table["variant"])
    colours = palette(variants)
    offsets = dict(
        zip(variants, _dodge(table[distance].to_numpy(dtype=float), len(variants)), strict=True)
    )
    figure, axes = plt.subplots(
        1,
        len(networks),
        figsize=(3.9 * len(networks) + 1.4, 3.9),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for axis, network in zip(axes[0], networks, strict=True):
        for variant in variants:
            part = table[(table["network"] == network) & (table["variant"] == variant)]
            if part.empty:
                continue
            x, y = part[distance].to_numpy(dtype=float), part["score"].to_numpy(dtype=float)
            axis.scatter(
                x + offsets[variant],
                y,
                s=18,
                color=colours[variant],
                alpha=0.8,
                label=variant,
                gid=f"points {variant}",
            )
            if len(part) >= 3 and len(np.unique(x)) >= 2:
                slope, intercept = np.polyfit(x, y, 1)
                ends = np.array([x.min(), x.max()])
                axis.plot(
                    ends,
                    intercept + slope * ends,
                    color=colours[variant],
                    linewidth=1.3,
                    gid=f"trend {variant}",
                )
        axis.axhline(0.5, color="0.5", linestyle=":", linewidth=0.9)
        axis.set(title=network, xlabel=DISTANCE_LABEL.get(distance, distance))
        if distance != "kendall_tau":
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel(SCORE_2AFC)
    handles = [
        Line2D([], [], color=colours[v], marker="o", linestyle="", label=v) for v in variants
    ]
    handles.append(Line2D([], [], color="black", label="linear trend (>= 3 contexts)"))
    handles.append(Line2D([], [], color="0.5", linestyle=":", label="chance (0.5)"))
    figure.legend(handles=handles, loc="outside right upper", title="variant")
    figure.suptitle(title)
    return figure


__all__ = [
    "bapps_forest",
    "bapps_heatmap",
    "context_scores",
    "score_vs_rank_distance",
    "training_curves",
]
