"""How well each metric's fitted psychometric function predicts people's votes (calibration)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from dpsim.figures.common import network_order, no_data, ordered, palette, require_columns, styled

CALIBRATION_COLUMNS = ("network", "variant", "dataset", "bin", "predicted", "observed", "items")


@styled()
def calibration(table: pd.DataFrame) -> plt.Figure:
    """Observed share of votes for p1 against the share predicted by each metric's fitted
    function (:mod:`dpsim.likelihood`), in ten bins of the prediction: one panel per network
    and human set, a line per variant (pooled over contexts and seeds), the diagonal where
    predictions are calibrated. Marker areas follow the items in each bin."""
    require_columns(table, CALIBRATION_COLUMNS, "calibration")
    title = "Calibration of the fitted psychometric functions"
    if table.empty:
        return no_data("no human set with vote counts, or bapps.fit_items is 0", title)
    networks, datasets = network_order(table["network"]), sorted(set(table["dataset"]))
    colours = palette(ordered(table["variant"]))
    figure, axes = plt.subplots(
        len(datasets),
        len(networks),
        figsize=(3.0 * len(networks) + 0.8, 2.9 * len(datasets) + 0.6),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    largest = float(table["items"].max())
    for row, dataset in enumerate(datasets):
        for column, network in enumerate(networks):
            axis = axes[row][column]
            axis.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1)
            rows = table[(table["network"] == network) & (table["dataset"] == dataset)]
            for variant, group in rows.groupby("variant", sort=False):
                group = group.sort_values("bin")
                axis.plot(group["predicted"], group["observed"], color=colours[variant])
                axis.scatter(
                    group["predicted"],
                    group["observed"],
                    s=10 + 60 * group["items"] / largest,
                    color=colours[variant],
                    label=variant,
                )
            axis.set(xlim=(0, 1), ylim=(0, 1), title=f"{network} / {dataset}")
            if row == len(datasets) - 1:
                axis.set_xlabel("predicted share for p1")
            if column == 0:
                axis.set_ylabel("observed share")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside right upper", title="variant")
    figure.suptitle(title)
    return figure
