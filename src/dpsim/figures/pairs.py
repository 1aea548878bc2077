"""Which pairs of ranks a metric gets wrong: pair accuracy by rank positions (``dpsim.pairs``)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from dpsim.figures.common import (
    annotated_heatmap,
    network_order,
    no_data,
    ordered,
    require_columns,
    styled,
)

PAIR_COLUMNS = ("network", "variant", "rank_first", "rank_second", "score")
COLOURS = "viridis"


@styled()
def pair_accuracy(pairs: pd.DataFrame) -> plt.Figure:
    """Mean 2AFC score of each pair of rank positions (i < j) of the context, over contexts and
    seeds: one triangle per (network, variant) that has scores, a row per network (the
    untrained baseline beside the adapted variants; the pixel row holds only l2 and ssim).
    Position 1 is the distortion the context keeps most similar; cells near the diagonal are
    pairs of adjacent ranks."""
    require_columns(pairs, PAIR_COLUMNS, "pair_accuracy")
    title = "2AFC score per pair of rank positions (mean over contexts and seeds)"
    rows = pairs[np.isfinite(pairs["score"].astype(float))]
    if rows.empty:
        return no_data("no context test rows", title)
    networks, variants = network_order(rows["network"]), ordered(rows["variant"])
    means = rows.groupby(["network", "variant", "rank_first", "rank_second"])["score"].mean()
    norm = Normalize(float(means.min()), max(float(means.max()), float(means.min()) + 0.01))
    drawn = set(means.droplevel([2, 3]).index)
    panels = {n: [v for v in variants if (n, v) in drawn] for n in networks}
    columns = max(len(v) for v in panels.values())
    size = int(rows["rank_second"].max()) + 1  # the run's set: 6 distortions by default
    figure, axes = plt.subplots(
        len(networks),
        columns,
        figsize=(2.6 * columns + 1.0, 2.4 * len(networks) + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for row, network in enumerate(networks):  # a network's own metrics only, left to right
        for column, axis in enumerate(axes[row]):
            if column >= len(panels[network]):
                axis.set_axis_off()
                continue
            variant = panels[network][column]
            matrix = pd.DataFrame(np.nan, index=range(1, size), columns=range(2, size + 1))
            for (i, j), score in means.loc[(network, variant)].items():
                matrix.loc[i + 1, j + 1] = score
            annotated_heatmap(axis, matrix, norm, COLOURS, ".2f", 6)
            axis.set(title=f"{variant} ({network})", xlabel="rank j", ylabel="rank i")
            axis.tick_params(axis="y", rotation=0)
    figure.colorbar(ScalarMappable(norm, COLOURS), ax=axes, label="2AFC score", shrink=0.8)
    figure.suptitle(title)
    return figure
