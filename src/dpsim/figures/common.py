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


def annotated_heatmap(
    axis: Axes, matrix: pd.DataFrame, norm: Normalize, cmap: str, fmt: str, fontsize: float
) -> None:
    """A heatmap of ``matrix`` with each cell's value printed; NaN cells are left blank."""
    sns.heatmap(
        matrix,
        ax=axis,
        annot=True,
        fmt=fmt,
        mask=matrix.isna(),
        cmap=cmap,
        norm=norm,
        cbar=False,
        linewidths=0.5,
        annot_kws={"fontsize": fontsize},
    )
    axis.grid(False)
