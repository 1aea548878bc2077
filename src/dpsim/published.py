"""Published BAPPS 2AFC scores (LPIPS, Zhang et al. 2018) and ours beside them.

The published figures are one overall 2AFC score on all BAPPS val subsets per metric (PROTOCOL.md
§8, from the LPIPS poster), in percent. Ours is the mean of the per-subset val 2AFC scores (each
subset weighted equally), times 100, which is how we read "2AFC on all val"; the item-weighted
mean is given too, because the paper does not say which it used.

Only metrics that mean the same thing are compared:

- from the evaluation (``results/summary.parquet``): ``l2`` and ``ssim``, and the untrained
  ``baseline`` (unit channel weights, LPIPS's "baseline") only when ``grid.taps`` reads LPIPS's
  layers: the published baselines read those, the adaptation study's ``study`` taps are fewer;
- from the readout study (``results/readout/summary.parquet``): a network read out at LPIPS's
  layers with the ``spatial`` descriptor over all layers, where ``unit`` weights are the baseline
  and ``learned`` weights are LPIPS ``lin`` (channel weights trained on the BAPPS 2AFC train
  split with ImageNet weights frozen), ``tuned`` LPIPS ``tune`` (the network trained too).

dpsim's ``lin``/``tune`` of the adaptation study are adapted to contexts, not trained on BAPPS,
so they are never put beside LPIPS lin/tune.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from dpsim.taps import LAYER_TAPS

SOURCE = "Zhang et al., CVPR 2018 (LPIPS), poster table: 2AFC on all BAPPS val subsets"

#: (network, variant, weights) -> published 2AFC score in percent.
PUBLISHED_2AFC: dict[tuple[str, str, str], float] = {
    ("pixel", "l2", "none"): 68.9,
    ("pixel", "ssim", "none"): 69.7,
    ("alexnet", "baseline", "random"): 70.6,
    ("squeezenet1_1", "baseline", "imagenet"): 78.0,
    ("squeezenet1_1", "lin", "lpips"): 79.8,
    ("squeezenet1_1", "tune", "lpips"): 79.9,
    ("alexnet", "baseline", "imagenet"): 76.8,
    ("alexnet", "lin", "lpips"): 78.7,
    ("alexnet", "tune", "lpips"): 80.6,
    ("vgg16", "baseline", "imagenet"): 75.7,
    ("vgg16", "lin", "lpips"): 79.4,
    ("vgg16", "tune", "lpips"): 81.4,
}
HUMAN_2AFC = {"traditional + cnn": 82.6, "real algorithms": 69.5}
VAL_SUBSETS = ("traditional", "cnn", "superres", "deblur", "color", "frameinterp")
COLUMNS = (
    "network",
    "variant",
    "weights",
    "source",
    "published",
    "ours",
    "ours_item_weighted",
    "diff",
)
#: The ``source`` of a row: which table of ours it comes from.
FROM_EVALUATION = "evaluation"
FROM_READOUT = "readout study"
#: Readout weighting -> the published variant it stands for.
READOUT_VARIANTS = {"unit": "baseline", "learned": "lin", "tuned": "tune"}


def comparable(bapps_manifest: Mapping[str, Any]) -> bool:
    """Whether the run used the real BAPPS (not the fixture): the precondition of comparing."""
    fixture = bapps_manifest.get("fixture") or {}
    return bapps_manifest.get("source") != "fixture" and not fixture.get("synthetic_judgments")


def _our_weights(variant: str, weights: str) -> str:
    return "none" if variant in ("l2", "ssim") else weights


def reads_lpips_layers(network: str, taps: str | Any) -> bool:
    """Whether ``taps`` (a set name or node names) are the LPIPS paper's layers of ``network``."""
    lpips = LAYER_TAPS.get(network, {}).get("lpips")
    if lpips is None:
        return False
    return taps == "lpips" or (not isinstance(taps, str) and set(taps) == set(lpips))


def _val_2afc(table: pd.DataFrame) -> pd.DataFrame:
    return table[
        (table["dataset"] == "bapps")
        & (table["kind"] == "2afc")
        & (table["subset"].isin(VAL_SUBSETS))
    ]


def _record(key: tuple[str, str, str], source: str, group: pd.DataFrame) -> tuple | None:
    """One comparison row, or None without a published figure or without all six subsets."""
    if key not in PUBLISHED_2AFC or set(group["subset"]) != set(VAL_SUBSETS):
        return None
    per_subset = group.groupby("subset").agg(score=("score", "mean"), n=("n", "first"))
    ours = 100 * per_subset["score"].mean()
    weighted = 100 * (per_subset["score"] * per_subset["n"]).sum() / per_subset["n"].sum()
    published = PUBLISHED_2AFC[key]
    return (*key, source, published, ours, weighted, ours - published)


def comparison_table(summary: pd.DataFrame, grid: Mapping[str, Any]) -> pd.DataFrame:
    """Our evaluated metrics' overall val 2AFC (percent) beside their published figures.

    ``grid`` is the config's ``grid`` section: its ``weights`` (``imagenet``, ``random`` or a
    file path) and ``taps`` say what the evaluated baselines are.
    """
    rows = _val_2afc(summary)
    rows = rows[rows["variant"].isin(["baseline", "l2", "ssim"])]
    records = []
    for (network, variant), group in rows.groupby(["network", "variant"], sort=True):
        if variant == "baseline" and not reads_lpips_layers(network, grid["taps"]):
            continue
        key = (network, variant, _our_weights(variant, grid["weights"]))
        records.append(_record(key, FROM_EVALUATION, group))
    return _frame(records)


def readout_comparison(readout: pd.DataFrame) -> pd.DataFrame:
    """The readout study's LPIPS-layer spatial readouts beside published baseline, lin, tune."""
    rows = _val_2afc(readout)
    rows = rows[rows["descriptor"] == "spatial"]
    records = []
    for (network, weights), group in rows.groupby(["network", "weights"], sort=True):
        if not reads_lpips_layers(network, set(group["layers"]) - {"all"}):
            continue
        for weighting, variant in READOUT_VARIANTS.items():
            chosen = group[(group["layers"] == "all") & (group["weighting"] == weighting)]
            trained = variant in ("lin", "tune") and weights == "imagenet"
            published_weights = "lpips" if trained else weights
            records.append(_record((network, variant, published_weights), FROM_READOUT, chosen))
    return _frame(records)


def _frame(records: list[tuple | None]) -> pd.DataFrame:
    return pd.DataFrame([r for r in records if r is not None], columns=list(COLUMNS))
