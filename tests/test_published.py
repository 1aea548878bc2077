"""Our BAPPS val 2AFC beside the published LPIPS figures: matching rows, hand-computed means."""

from __future__ import annotations

import pandas as pd
import pytest

from dpsim import published

SUBSETS = published.VAL_SUBSETS
ITEMS = {"traditional": 4720, "cnn": 4720, "superres": 10856, "deblur": 9440, "color": 4720}
ITEMS["frameinterp"] = 1888


def _rows(network: str, variant: str, scores: list[float], context: str = "all") -> list[dict]:
    return [
        {
            "network": network,
            "variant": variant,
            "context": context,
            "seed": 0,
            "dataset": "bapps",
            "kind": "2afc",
            "subset": subset,
            "score": score,
            "n": ITEMS[subset],
        }
        for subset, score in zip(SUBSETS, scores, strict=True)
    ]


def test_comparison_with_imagenet_weights() -> None:
    alex = [0.70, 0.80, 0.70, 0.60, 0.65, 0.60]
    summary = pd.DataFrame(
        _rows("alexnet", "baseline", alex)
        + _rows("pixel", "l2", [0.6] * 6)
        + _rows("alexnet", "lin", [0.9] * 6, context="c000")  # adapted: no counterpart
        + _rows("resnet18", "baseline", [0.7] * 6)  # not in the published table
    )
    table = published.comparison_table(summary, "imagenet").set_index(["network", "variant"])
    assert sorted(table.index) == [("alexnet", "baseline"), ("pixel", "l2")]
    row = table.loc[("alexnet", "baseline")]
    assert row["published"] == 76.8 and row["weights"] == "imagenet"
    assert row["ours"] == pytest.approx(100 * sum(alex) / 6)
    weighted = sum(s * ITEMS[k] for k, s in zip(SUBSETS, alex, strict=True)) / sum(ITEMS.values())
    assert row["ours_item_weighted"] == pytest.approx(100 * weighted)
    assert row["diff"] == pytest.approx(100 * sum(alex) / 6 - 76.8)
    assert table.loc[("pixel", "l2"), "published"] == 68.9


def test_random_weights_compare_only_with_random_alexnet() -> None:
    summary = pd.DataFrame(
        _rows("alexnet", "baseline", [0.7] * 6) + _rows("vgg16", "baseline", [0.7] * 6)
    )
    table = published.comparison_table(summary, "random")
    assert table[["network", "weights", "published"]].values.tolist() == [
        ["alexnet", "random", 70.6]
    ]


def test_partial_subsets_and_the_fixture_are_not_compared() -> None:
    partial = pd.DataFrame(_rows("alexnet", "baseline", [0.7] * 6)[:2])
    assert published.comparison_table(partial, "imagenet").empty
    assert not published.comparable({"source": "fixture", "fixture": {"synthetic_judgments": 1}})
    assert published.comparable({"source": "download"})
