"""Our BAPPS val 2AFC beside the published LPIPS figures: matching rows, hand-computed means."""

from __future__ import annotations

import pandas as pd
import pytest

from dpsim import published

SUBSETS = published.VAL_SUBSETS
ITEMS = {"traditional": 4720, "cnn": 4720, "superres": 10856, "deblur": 9440, "color": 4720}
ITEMS["frameinterp"] = 1888
LPIPS_GRID = {"weights": "imagenet", "taps": "lpips"}


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
    table = published.comparison_table(summary, LPIPS_GRID).set_index(["network", "variant"])
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
    table = published.comparison_table(summary, {"weights": "random", "taps": "lpips"})
    assert table[["network", "weights", "published"]].values.tolist() == [
        ["alexnet", "random", 70.6]
    ]


def test_partial_subsets_and_the_fixture_are_not_compared() -> None:
    partial = pd.DataFrame(_rows("alexnet", "baseline", [0.7] * 6)[:2])
    assert published.comparison_table(partial, LPIPS_GRID).empty
    assert not published.comparable({"source": "fixture", "fixture": {"synthetic_judgments": 1}})
    assert published.comparable({"source": "download"})


def test_baselines_read_at_the_studys_layers_are_not_compared() -> None:
    summary = pd.DataFrame(
        _rows("alexnet", "baseline", [0.7] * 6) + _rows("pixel", "l2", [0.6] * 6)
    )
    study = published.comparison_table(summary, {"weights": "imagenet", "taps": "study"})
    assert study["network"].tolist() == ["pixel"]  # L2 reads no layers
    listed = {
        "weights": "imagenet",
        "taps": list(reversed(published.LAYER_TAPS["alexnet"]["lpips"])),
    }
    assert published.comparison_table(summary, listed)["network"].tolist() == ["alexnet", "pixel"]
    assert not published.reads_lpips_layers("resnet18", "lpips")
    assert not published.reads_lpips_layers("alexnet", ["features.1", "features.4"])


def _readout_rows(network: str, weights: str, layers: list[str], scores: dict) -> list[dict]:
    """Spatial readout rows: ``scores[weighting]`` = six all-layer val scores; layers score 0.5."""
    rows = []
    for weighting, values in scores.items():
        for layer, per_subset in [("all", values)] + [(name, [0.5] * 6) for name in layers]:
            for subset, score in zip(SUBSETS, per_subset, strict=True):
                rows.append(
                    {
                        "network": network,
                        "weights": weights,
                        "descriptor": "spatial",
                        "weighting": weighting,
                        "layers": layer,
                        "dataset": "bapps",
                        "kind": "2afc",
                        "subset": subset,
                        "score": score,
                        "n": ITEMS[subset],
                    }
                )
    return rows


def test_readout_rows_at_lpips_layers_stand_for_baseline_and_lin() -> None:
    lpips_alex = list(published.LAYER_TAPS["alexnet"]["lpips"])
    unit, learned = [0.70, 0.80, 0.70, 0.60, 0.65, 0.60], [0.72, 0.82, 0.74, 0.62, 0.66, 0.61]
    tuned = [0.75, 0.85, 0.75, 0.65, 0.70, 0.65]
    readout = pd.DataFrame(
        _readout_rows(
            "alexnet", "imagenet", lpips_alex, {"unit": unit, "learned": learned, "tuned": tuned}
        )
        + _readout_rows("alexnet", "random", lpips_alex, {"unit": [0.6] * 6, "learned": [0.9] * 6})
        + _readout_rows("vgg16", "imagenet", ["features.3", "features.8"], {"unit": [0.7] * 6})
        + [
            dict(row, descriptor="mean")  # LPIPS's layers, but not the spatial descriptor
            for row in _readout_rows(
                "squeezenet1_1",
                "imagenet",
                list(published.LAYER_TAPS["squeezenet1_1"]["lpips"]),
                {"unit": [0.9] * 6},
            )
        ]
    )
    table = published.readout_comparison(readout).set_index(["network", "variant", "weights"])
    # vgg16 was read at two layers, not LPIPS's five; squeezenet1_1 with `mean`; random
    # AlexNet's lin has no published row
    assert sorted(table.index) == [
        ("alexnet", "baseline", "imagenet"),
        ("alexnet", "baseline", "random"),
        ("alexnet", "lin", "lpips"),
        ("alexnet", "tune", "lpips"),
    ]
    assert table.loc[("alexnet", "tune", "lpips"), "published"] == 80.6
    assert table.loc[("alexnet", "tune", "lpips"), "ours"] == pytest.approx(100 * sum(tuned) / 6)
    lin = table.loc[("alexnet", "lin", "lpips")]
    assert lin["published"] == 78.7 and lin["source"] == "readout study"
    assert lin["ours"] == pytest.approx(100 * sum(learned) / 6)
    assert table.loc[("alexnet", "baseline", "imagenet"), "ours"] == pytest.approx(
        100 * sum(unit) / 6
    )
    assert table.loc[("alexnet", "baseline", "random"), "published"] == 70.6
