"""Figures of the readout study: which layers and which descriptors carry perceptual similarity.

The input is the study's summary table (``results/readout/summary.parquet``): one score per
(network, weights, descriptor, weighting, layers, kind, subset). :func:`readout_depth` draws the
score against the relative depth of the tapped layer, :func:`readout_heatmap` compares the
descriptors across architectures for one choice of layers.

Scores are averaged first within a subset and then over the subsets (or MOS sets) of a kind, so
every subset counts once; NaN scores are left out of those means. Both functions check their input
columns (ValueError naming the function and the column) and return a "no data" figure when
nothing finite is left to plot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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

from dpsim.figures.common import (
    SCORE_2AFC,
    annotated_heatmap,
    finite,
    no_data,
    ordered,
    palette,
    require_columns,
    styled,
)
from dpsim.names import READOUT_COLUMNS

#: The readout table's columns each figure reads (the table: :data:`dpsim.names.READOUT_COLUMNS`).
DEPTH_COLUMNS = tuple(c for c in READOUT_COLUMNS if c not in ("dataset", "n", "krocc", "plcc"))
HEATMAP_COLUMNS = tuple(c for c in DEPTH_COLUMNS if c not in ("layer_index", "n_layers"))
TEXT_COLUMNS = ("network", "weights", "descriptor", "weighting", "layers", "kind", "subset")

KIND_ORDER = ("2afc", "jnd", "mos")
WEIGHTS_ORDER = ("imagenet", "random")
WEIGHTING_ORDER = ("unit", "learned", "tuned")
DESCRIPTOR_ORDER = ("spatial", "mean", "sort", "spatial+mean", "spatial+sort")
KIND_TITLE = {
    "2afc": "BAPPS 2AFC (mean over subsets)",
    "jnd": "BAPPS JND (mean over subsets)",
    "mos": "MOS (mean over sets)",
}
KIND_LABEL = {
    "2afc": SCORE_2AFC,
    "jnd": "JND mAP (0-1)",
    "mos": "MOS SROCC (-1 to 1)",
}
#: Line style per weights value (solid for the first, ImageNet, when several are present).
WEIGHTS_STYLES = ("-", "--", ":", "-.")
#: Where the all-layers score is drawn on the depth axis, and the half width of its segment.
ALL_X, ALL_HALF_WIDTH = 1.12, 0.05
DEPTH_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
HEATMAP_COLOURS = "viridis"


def _kind_title(kind: str) -> str:
    return KIND_TITLE.get(kind, kind)


def _kind_label(kind: str) -> str:
    return KIND_LABEL.get(kind, f"{kind} score")


def _first_seen(values: Iterable[str]) -> list[str]:
    """Distinct values in the order of their first appearance."""
    return list(dict.fromkeys(str(value) for value in values))


def _prepared(readout: pd.DataFrame) -> pd.DataFrame:
    """The table with its key columns as strings and the score as float."""
    columns = {c: readout[c].astype(str) for c in TEXT_COLUMNS if c in readout.columns}
    return readout.assign(**columns, score=pd.to_numeric(readout["score"], errors="coerce"))


def _subset_means(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean score per ``keys``: first per subset, then over subsets (NaN scores left out)."""
    keys = list(keys)
    per_subset = rows.groupby([*keys, "subset"], as_index=False)["score"].mean()
    return per_subset.groupby(keys, as_index=False)["score"].mean()


def _norm(values: pd.Series) -> Normalize:
    """Colour scale over the finite ``values``, widened a little when they are all equal."""
    values = values[finite(values)]
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    pad = 0.01 if high - low < 1e-9 else 0.0
    return Normalize(low - pad, high + pad)


def _message(axis: Axes, text: str) -> None:
    """Blank ``axis`` with a centred note (a facet without anything to draw)."""
    axis.set_axis_off()
    axis.text(0.5, 0.5, text, ha="center", va="center", transform=axis.transAxes)


# --- score vs depth -----------------------------------------------------------------------------


def _depth(rows: pd.DataFrame) -> np.ndarray:
    """Relative depth of each row's tap: ``layer_index / (n_layers - 1)``, 0 with a single tap."""
    index = rows["layer_index"].to_numpy(dtype=float)
    span = rows["n_layers"].to_numpy(dtype=float) - 1
    return np.where(span > 0, index / np.where(span > 0, span, 1.0), 0.0)


def _depth_panel(
    axis: Axes,
    rows: pd.DataFrame,
    colours: dict[str, tuple[float, float, float]],
    styles: dict[str, str],
) -> None:
    """One kind: a line per (network, weights) over depth and its all-layers score at the edge."""
    taps = rows[rows["layers"] != "all"]
    curves = _subset_means(taps.assign(depth=_depth(taps)), ["network", "weights", "depth"])
    whole = _subset_means(rows[rows["layers"] == "all"], ["network", "weights"])
    for network in colours:
        for weights, style in styles.items():
            label = f"{network} / {weights}"
            curve = curves[(curves["network"] == network) & (curves["weights"] == weights)]
            if finite(curve["score"]).any():
                curve = curve.sort_values("depth")
                axis.plot(
                    curve["depth"].to_numpy(),
                    curve["score"].to_numpy(),
                    linestyle=style,
                    marker="o",
                    ms=4,
                    color=colours[network],
                    label=label,
                    gid="depth",
                )
            score = whole.loc[(whole["network"] == network) & (whole["weights"] == weights)]
            if finite(score["score"]).any():
                value = float(score["score"].iloc[0])
                axis.plot(
                    [ALL_X - ALL_HALF_WIDTH, ALL_X + ALL_HALF_WIDTH],
                    [value, value],
                    linestyle=style,
                    linewidth=2.6,
                    solid_capstyle="butt",
                    color=colours[network],
                    label=f"{label}: all layers",
                    gid="all layers",
                )
    axis.axvline((1.0 + ALL_X - ALL_HALF_WIDTH) / 2, color="0.6", linewidth=0.8)
    axis.set_xlim(-0.05, ALL_X + ALL_HALF_WIDTH + 0.03)
    axis.set_xticks([*DEPTH_TICKS, ALL_X], [f"{t:g}" for t in DEPTH_TICKS] + ["all"])
    axis.set_xlabel("relative layer depth (0 = first tap, 1 = last tap)")


def _depth_legend(
    colours: dict[str, tuple[float, float, float]], styles: dict[str, Any]
) -> list[Line2D]:
    handles = [
        Line2D([], [], color=colour, marker="o", ms=4, label=network)
        for network, colour in colours.items()
    ]
    if len(styles) > 1:
        handles += [
            Line2D([], [], color="0.3", linestyle=style, label=f"{weights} weights")
            for weights, style in styles.items()
        ]
    handles.append(Line2D([], [], color="0.3", linewidth=2.6, label="all layers (right edge)"))
    return handles


@styled()
def readout_depth(
    readout: pd.DataFrame, descriptor: str = "spatial", weighting: str = "unit"
) -> plt.Figure:
    """Readout score against the relative depth of the tapped layer, one line per network.

    One panel per kind present: BAPPS 2AFC score and JND mAP (means over subsets) and MOS SROCC
    (mean over sets). The x axis is ``layer_index / (n_layers - 1)``, so networks with different
    numbers of taps line up (0 = first tap, 1 = last; a single tap sits at 0); the score of all
    layers together is the short segment at "all" on the right. Colour encodes the network
    (stable across descriptors and weightings), line style the weights (solid ImageNet, dashed
    random) when both are present. Only rows with ``descriptor`` and ``weighting`` are drawn.
    """
    require_columns(readout, DEPTH_COLUMNS, "readout_depth")
    title = f"Readout score vs layer depth ({descriptor}, {weighting} weighting)"
    table = _prepared(readout)
    colours = palette(_first_seen(table["network"]))
    table = table[(table["descriptor"] == descriptor) & (table["weighting"] == weighting)]
    table = table[finite(table["score"])]
    if table.empty:
        return no_data(f"no finite score for descriptor {descriptor}, weighting {weighting}", title)
    colours = {n: c for n, c in colours.items() if n in set(table["network"])}
    weights = ordered(table["weights"], WEIGHTS_ORDER)
    styles = {w: WEIGHTS_STYLES[i % len(WEIGHTS_STYLES)] for i, w in enumerate(weights)}
    kinds = ordered(table["kind"], KIND_ORDER)
    figure, axes = plt.subplots(
        1,
        len(kinds),
        figsize=(max(4.6 * len(kinds) + 2.0, 8.5), 4.0),
        squeeze=False,
        layout="constrained",
    )
    for axis, kind in zip(axes[0], kinds, strict=True):
        _depth_panel(axis, table[table["kind"] == kind], colours, styles)
        axis.set(title=_kind_title(kind), ylabel=_kind_label(kind))
    figure.legend(
        handles=_depth_legend(colours, styles), loc="outside right center", title="network"
    )
    figure.suptitle(title)
    return figure


# --- descriptor x network heatmap ---------------------------------------------------------------


def _heatmap(axis: Axes, matrix: pd.DataFrame, norm: Normalize) -> None:
    """One annotated descriptor x network heatmap; NaN cells are left blank."""
    annotated_heatmap(axis, matrix, norm, HEATMAP_COLOURS, ".3f", 7)
    plt.setp(axis.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")


def _heatmap_column(
    figure: plt.Figure,
    axes: Sequence[Axes] | np.ndarray,
    means: pd.DataFrame,
    facets: Sequence[tuple[str, str]],
    kind: str,
) -> None:
    """One kind's heatmaps, one per (weights, weighting) facet, and the kind's colour bar.

    ``means`` holds the kind's mean scores with ``descriptor`` and ``network`` as categoricals
    in display order, so every panel shows all descriptors and networks (missing ones blank).
    """
    norm = _norm(means["score"])
    drawn = []
    for axis, (weights, weighting) in zip(axes, facets, strict=True):
        facet = f"{weights} weights, {weighting} weighting"
        cells = means[(means["weights"] == weights) & (means["weighting"] == weighting)]
        if not finite(cells["score"]).any():
            _message(axis, f"{_kind_title(kind)}\n{facet}: no scores")
            continue
        matrix = cells.pivot(index="descriptor", columns="network", values="score")
        rows, columns = means["descriptor"].cat.categories, means["network"].cat.categories
        _heatmap(axis, matrix.reindex(index=list(rows), columns=list(columns)), norm)
        axis.set_title(f"{_kind_title(kind)}\n{facet}", fontsize=10)
        drawn.append(axis)
    figure.colorbar(
        ScalarMappable(norm, HEATMAP_COLOURS), ax=drawn, label=_kind_label(kind), shrink=0.9
    )


@styled()
def readout_heatmap(readout: pd.DataFrame, layers: str = "all") -> plt.Figure:
    """Readout score of every (descriptor, network): one heatmap per kind, weights and weighting.

    Columns of panels are the kinds present (BAPPS 2AFC, BAPPS JND, MOS), each with its own
    colour bar; rows of panels are the (weights, weighting) pairs present. Each cell is the mean
    score over the kind's subsets (or MOS sets), printed with three decimals; cells without a
    finite score stay blank. Only rows with ``layers`` (by default all layers together) are used.
    Descriptors are in the order spatial, mean, sort, spatial+mean, spatial+sort, networks in the
    order they first appear in the table.
    """
    require_columns(readout, HEATMAP_COLUMNS, "readout_heatmap")
    title = f"Readout score per descriptor and network (layers: {layers})"
    table = _prepared(readout)
    table = table[table["layers"] == layers]
    kinds = ordered(table.loc[finite(table["score"]), "kind"], KIND_ORDER)
    table = table[table["kind"].isin(kinds)]
    if table.empty:
        return no_data(f"no finite score with layers {layers}", title)
    descriptors = ordered(table["descriptor"], DESCRIPTOR_ORDER)
    networks = _first_seen(table["network"])
    facets = [
        (weights, weighting)
        for weights in ordered(table["weights"], WEIGHTS_ORDER)
        for weighting in ordered(table["weighting"], WEIGHTING_ORDER)
    ]
    means = _subset_means(table, ["kind", "weights", "weighting", "descriptor", "network"])
    means = means.assign(
        descriptor=pd.Categorical(means["descriptor"], descriptors),
        network=pd.Categorical(means["network"], networks),
    )
    size = (max(3.4, 0.62 * len(networks) + 2.0), max(2.4, 0.38 * len(descriptors) + 1.9))
    figure, axes = plt.subplots(
        len(facets),
        len(kinds),
        figsize=(max((size[0] + 1.0) * len(kinds), 6.5), size[1] * len(facets) + 0.4),
        squeeze=False,
        layout="constrained",
    )
    for col, kind in enumerate(kinds):
        _heatmap_column(figure, axes[:, col], means[means["kind"] == kind], facets, kind)
        axes[-1, col].set_xlabel("network")
    for axis in axes[:, 0]:
        axis.set_ylabel("descriptor")
    figure.suptitle(title)
    return figure


__all__ = ["readout_depth", "readout_heatmap"]
