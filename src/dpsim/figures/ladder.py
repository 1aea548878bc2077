"""The adaptation ladder's trade-off: context gain against the change on BAPPS, per variant."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from dpsim.figures.common import finite, network_order, no_data, ordered, palette, require_columns

TRADEOFF_FIGURE_COLUMNS = ("network", "variant", "context_gain", "bapps_2afc_change")
MARKERS = ("o", "s", "D", "^", "v", "P", "X")


def adaptation_tradeoff(tradeoff: pd.DataFrame, margin: float | None) -> plt.Figure:
    """One panel per network: x the change in BAPPS 2AFC (mean over its subsets, adapted minus
    baseline), y the gain on the context (adapted minus baseline test 2AFC); each context a
    faint dot, each variant's median a large marker, the non-inferiority margin a dashed line
    at ``-margin`` (None: not drawn)."""
    require_columns(tradeoff, TRADEOFF_FIGURE_COLUMNS, "adaptation_tradeoff")
    title = "What each rung buys on its context and costs on BAPPS (medians; dots: contexts)"
    shown = finite(tradeoff["context_gain"]) & finite(tradeoff["bapps_2afc_change"])
    rows = tradeoff[shown]
    if rows.empty:
        return no_data("no adapted metric with a context gain and a BAPPS 2AFC change", title)
    networks = network_order(rows["network"])
    variants = ordered(rows["variant"])
    colours = palette(variants)
    figure, axes = plt.subplots(
        1, len(networks), figsize=(5.2 * len(networks), 4.6), squeeze=False, layout="constrained"
    )
    for axis, network in zip(axes[0], networks, strict=True):
        for index, variant in enumerate(variants):
            part = rows[(rows["network"] == network) & (rows["variant"] == variant)]
            if part.empty:
                continue
            marker, colour = MARKERS[index % len(MARKERS)], colours[variant]
            axis.scatter(  # contexts: the variant's marker, small and faint
                part["bapps_2afc_change"],
                part["context_gain"],
                color=colour,
                marker=marker,
                alpha=0.3,
                s=16,
            )
            axis.scatter(
                np.median(part["bapps_2afc_change"]),
                np.median(part["context_gain"]),
                color=colour,
                marker=marker,
                s=110,
                edgecolor="black",
                zorder=3,
            )
        axis.axhline(0, color="grey", linewidth=0.8)
        axis.axvline(0, color="grey", linewidth=0.8)
        if margin is not None:
            axis.axvline(-margin, color="black", linestyle="--", linewidth=1)
        axis.set_title(network)
        axis.set_xlabel("change in BAPPS 2AFC (adapted - baseline)")
        axis.set_ylabel("context gain (adapted - baseline 2AFC)")
    handles = [
        Line2D(
            [],
            [],
            color=colours[v],
            marker=MARKERS[i % len(MARKERS)],
            linestyle="",
            markeredgecolor="black",
            markersize=9,
            label=v,
        )
        for i, v in enumerate(variants)
    ]
    if margin is not None:
        handles.append(
            Line2D(
                [], [], color="black", linestyle="--", label=f"non-inferiority margin -{margin:g}"
            )
        )
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    figure.suptitle(title)
    return figure
