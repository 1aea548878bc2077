"""Pair scores and implied orderings by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dpsim import pairs
from dpsim.contexts import kendall_tau
from dpsim.names import DISTORTIONS

IDENTITY = list(DISTORTIONS)  # rotate, translate, darken, color, blur, zoom_in


def _items(scores, d0=None, d1=None, context="c0", variant="lin"):
    n = len(scores)
    return pd.DataFrame(
        {
            "network": "alexnet",
            "variant": variant,
            "context": context,
            "seed": 0,
            "item": np.arange(n),
            "score": scores,
            "d0": d0 if d0 is not None else np.zeros(n),
            "d1": d1 if d1 is not None else np.zeros(n),
        }
    )


def test_pair_scores_by_hand():
    ids = (np.array([0, 0, 1, 4]), np.array([1, 1, 0, 5]), IDENTITY)
    items = pd.concat([_items([1.0, 0.0, 1.0, 1.0]), _items([0.0, 0.0, 1.0, 0.0], context="c1")])
    rankings = {"c0": IDENTITY, "c1": IDENTITY[::-1]}
    table = pairs.pair_scores(items, ids, rankings).set_index(["context", "first", "second"])
    # c0 (identity): rotate-translate in items 0-2 (scores 1, 0, 1), blur-zoom_in in item 3.
    row = table.loc[("c0", "rotate", "translate")]
    assert (row["n"], row["rank_first"], row["rank_second"], row["gap"]) == (3, 0, 1, 1)
    assert row["score"] == pytest.approx(2 / 3)
    assert table.loc[("c0", "blur", "zoom_in"), "score"] == 1.0
    # c1 (reversed): translate ranks before rotate (positions 4 and 5), zoom_in before blur.
    row = table.loc[("c1", "translate", "rotate")]
    assert (row["rank_first"], row["rank_second"], row["score"]) == (4, 5, pytest.approx(1 / 3))
    assert (table.loc[("c1", "zoom_in", "blur"), ["rank_first", "rank_second"]] == [0, 1]).all()
    gaps = pairs.by_gap(pairs.pair_scores(items, ids, rankings))
    assert gaps["gap"].tolist() == [1] and gaps["score"].item() == pytest.approx(
        np.mean([2 / 3, 1.0, 1 / 3, 0.0])
    )


def test_implied_ordering_sorts_the_mean_distance_per_distortion():
    value = np.array([0.5, 0.1, 0.3, 0.2, 0.6, 0.4])  # per distortion, protocol order
    ids = (np.array([0, 2, 4, 1]), np.array([1, 3, 5, 5]), IDENTITY)
    d0, d1 = value[ids[0]], value[ids[1]]
    implied = ["translate", "color", "darken", "zoom_in", "rotate", "blur"]
    items = pd.concat(
        [_items(np.ones(4), d0, d1, "c0"), _items(np.ones(4), d0, d1, "c1", "baseline")]
    )
    table = pairs.implied_orderings(items, ids, {"c0": implied, "c1": IDENTITY})
    mine = table.set_index("context")
    assert list(mine.loc["c0", "implied_order"]) == implied and mine.loc["c0", "matches"]
    assert mine.loc["c0", "kendall_tau"] == 1.0
    assert not mine.loc["c1", "matches"]
    assert mine.loc["c1", "kendall_tau"] == pytest.approx(kendall_tau(implied, IDENTITY))


def test_pair_accuracy_figure_has_a_triangle_per_metric(tmp_path):
    from dpsim import figures

    rows = [
        {
            "network": n,
            "variant": v,
            "context": "c0",
            "seed": 0,
            "rank_first": i,
            "rank_second": j,
            "score": 0.5 + 0.05 * (j - i),
        }
        for n in ("alexnet", "vgg16")
        for v in ("lin", "baseline")
        for i in range(6)
        for j in range(i + 1, 6)
    ]
    figure = figures.pair_accuracy(pd.DataFrame(rows))
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles == ["baseline (alexnet)", "lin (alexnet)", "baseline (vgg16)", "lin (vgg16)"]
    cells = [t.get_text() for t in figure.axes[0].texts]
    assert len(cells) == 15 and cells[0] == "0.55"  # ranks 1 and 2: gap 1
    figures.save_figure(figure, tmp_path / "pairs.png")
    pixel = [{**r, "network": "pixel", "variant": "l2"} for r in rows if r["variant"] == "lin"]
    with_pixel = figures.pair_accuracy(pd.DataFrame(rows + pixel[:15]))
    shown = [axis.get_title() for axis in with_pixel.axes if axis.get_title()]
    assert shown[-1] == "l2 (pixel)" and len(shown) == 5  # no empty "lin (pixel)" panel
    assert sum(not axis.axison for axis in with_pixel.axes) == 1  # the pixel row's spare cell
    empty = figures.pair_accuracy(pd.DataFrame(rows).iloc[:0])
    assert "no data" in empty.texts[0].get_text()
