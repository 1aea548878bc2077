"""What every figure shares: saving, the seaborn style, input checks and the "no data" figure.

Figures are drawn with the Agg backend (no display on cluster nodes) and saved atomically, so an
interrupted job never leaves a half-written PNG or SVG behind. Tiny runs (one context, one
network, NaN confidence intervals) must still produce a figure, so functions that have nothing to
plot return :func:`no_data` instead of raising.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import Normalize

from dpsim import io

log = logging.getLogger(__name__)

#: Order of metric variants in legends and tables: untrained network metrics, trained ones, pixels.
VARIANT_ORDER: tuple[str, ...] = (
    "baseline",
    "cosine",
    "lin",
    "mix",
    "bitfit",
    "lora",
    "tune",
    "scratch",
    "l2",
    "ssim",
)

#: Axis label of a 2AFC score (share of triplets where the metric agrees with the judge).
SCORE_2AFC = "2AFC score (proportion, 0-1)"


def save_figure(figure: plt.Figure, png_path: str | Path, svg_path: str | Path | None = None):
    """Write ``figure`` atomically as PNG (and SVG when a path is given), then close it."""
    with io.atomic_path(png_path) as temp:
        figure.savefig(temp, format="png", dpi=130)
    if svg_path is not None:
        with io.atomic_path(svg_path) as temp:
            figure.savefig(temp, format="svg")
    plt.close(figure)


@contextmanager
def styled() -> Iterator[None]:
    """The shared look (seaborn whitegrid, paper context); usable as ``with`` or as decorator."""
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.1)}
    with plt.rc_context(rc):
        yield


def require_columns(table: pd.DataFrame, columns: Iterable[str], function: str) -> None:
    """Raise ValueError naming ``function`` and every column of ``columns`` missing in ``table``."""
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise ValueError(
            f"{function}: missing column(s) {', '.join(missing)} "
            f"(got: {', '.join(map(str, table.columns)) or 'none'})"
        )


def no_data(reason: str, title: str | None = None) -> plt.Figure:
    """A small figure with the centred text ``no data: <reason>`` (and ``title`` on top)."""
    log.info("figure %s: no data (%s)", title or "", reason)
    figure = plt.figure(figsize=(5, 2.5))
    figure.text(0.5, 0.5, f"no data: {reason}", ha="center", va="center", fontsize=11)
    if title:
        figure.suptitle(title)
    return figure


def ordered(values: Iterable[str], preferred: Sequence[str] = VARIANT_ORDER) -> list[str]:
    """Distinct ``values``: those in ``preferred`` first in its order, then the rest sorted."""
    distinct = {str(value) for value in values}
    return [v for v in preferred if v in distinct] + sorted(distinct - set(preferred))


def network_order(values: Iterable[str]) -> list[str]:
    """Distinct network names sorted, with the ``pixel`` pseudo-network (l2, ssim) last."""
    distinct = sorted({str(value) for value in values})
    return [v for v in distinct if v != "pixel"] + [v for v in distinct if v == "pixel"]


def palette(names: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """A colour per name from seaborn's colour-blind palette, stable for a given name list."""
    colours = sns.color_palette("colorblind", max(len(names), 1))
    return {name: colours[i % len(colours)] for i, name in enumerate(names)}


def finite(values: pd.Series | np.ndarray) -> np.ndarray:
    """Boolean mask of the finite entries of a numeric series or array."""
    return np.isfinite(np.asarray(values, dtype=float))


def text_colour(rgba: Sequence[float]) -> str:
    """Dark text on light cells, white on dark ones (relative luminance of the sRGB colour)."""
    channels = np.asarray(rgba[:3], dtype=float)
    linear = np.where(channels <= 0.03928, channels / 12.92, ((channels + 0.055) / 1.055) ** 2.4)
    return "0.15" if float(linear @ [0.2126, 0.7152, 0.0722]) > 0.408 else "white"


def annotated_heatmap(
    axis: Axes, matrix: pd.DataFrame, norm: Normalize, cmap: str, fmt: str, fontsize: float
) -> None:
    """A heatmap of ``matrix`` with each cell's value printed; NaN cells are left blank.

    Drawn with pcolormesh rather than ``sns.heatmap``, which renders the whole figure once per
    call (to check tick label overlap): a figure of n panels then costs n full renders, 20 s
    for the demo's 14 pair-accuracy triangles. It looks the same: values at the cell centres
    ``(column + 0.5, row + 0.5)``, rows top to bottom, the index and columns as tick labels.
    """
    values = matrix.to_numpy(dtype=float)
    colours = plt.get_cmap(cmap)
    axis.pcolormesh(
        np.ma.masked_invalid(values), cmap=colours, norm=norm, edgecolors="white", linewidth=0.5
    )
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            axis.text(
                col + 0.5,
                row + 0.5,
                format(value, fmt),
                ha="center",
                va="center",
                fontsize=fontsize,
                color=text_colour(colours(norm(value))),
            )
    axis.set_xlim(0, values.shape[1])
    axis.set_ylim(values.shape[0], 0)
    axis.set_xticks(np.arange(values.shape[1]) + 0.5, [str(c) for c in matrix.columns])
    axis.set_yticks(np.arange(values.shape[0]) + 0.5, [str(i) for i in matrix.index])
    axis.grid(False)
    sns.despine(ax=axis, left=True, bottom=True)
    axis.tick_params(length=0)
