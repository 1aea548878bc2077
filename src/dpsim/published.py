"""Published BAPPS 2AFC scores (LPIPS, Zhang et al. 2018) and ours beside them.

The published figures are one overall 2AFC score on all BAPPS val subsets per metric (PROTOCOL.md
§8, from the LPIPS poster), in percent. Ours is the mean of the per-subset val 2AFC scores (each
subset weighted equally), times 100, which is how we read "2AFC on all val"; the item-weighted
mean is given too, because the paper does not say which it used.

Only metrics that mean the same thing are compared: untrained ``baseline`` with ImageNet weights
(LPIPS's "baseline": unit channel weights), ``l2`` and ``ssim``, and AlexNet with random weights.
dpsim's ``lin``/``tune`` are adapted to contexts, not trained on BAPPS like LPIPS's, so they are
not put beside LPIPS lin/tune.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

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
COLUMNS = ("network", "variant", "weights", "published", "ours", "ours_item_weighted", "diff")


def comparable(bapps_manifest: Mapping[str, Any]) -> bool:
    """Whether the run used the real BAPPS (not the fixture): the precondition of comparing."""
    fixture = bapps_manifest.get("fixture") or {}
    return bapps_manifest.get("source") != "fixture" and not fixture.get("synthetic_judgments")


def _our_weights(variant: str, weights: str) -> str:
    return "none" if variant in ("l2", "ssim") else weights


def comparison_table(summary: pd.DataFrame, weights: str) -> pd.DataFrame:
    """Our overall val 2AFC (percent) beside each published figure we have a counterpart for.

    ``weights`` is the config's ``grid.weights`` (``imagenet``, ``random`` or a file path).
    Rows need every val 2AFC subset of PROTOCOL §8 in the summary; others are left out.
    """
    rows = summary[
        (summary["dataset"] == "bapps")
        & (summary["kind"] == "2afc")
        & (summary["variant"].isin(["baseline", "l2", "ssim"]))
        & (summary["subset"].isin(VAL_SUBSETS))
    ]
    records = []
    for (network, variant), group in rows.groupby(["network", "variant"], sort=True):
        if set(group["subset"]) != set(VAL_SUBSETS):
            continue
        key = (network, variant, _our_weights(variant, weights))
        if key not in PUBLISHED_2AFC:
            continue
        per_subset = group.groupby("subset").agg(score=("score", "mean"), n=("n", "first"))
        ours = 100 * per_subset["score"].mean()
        weighted = 100 * (per_subset["score"] * per_subset["n"]).sum() / per_subset["n"].sum()
        published = PUBLISHED_2AFC[key]
        records.append((*key, published, ours, weighted, ours - published))
    return pd.DataFrame(records, columns=list(COLUMNS))
