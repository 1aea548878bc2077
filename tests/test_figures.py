"""Result and example figures: what they plot matches the input tables, degenerate input is safe.

Every figure is built from a small synthetic table whose expected values are computed here with
plain Python, so the tests check the plotted numbers, not only that plotting does not raise.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection

from dpsim import contexts, figures
from dpsim.data.pool import Pool
from dpsim.names import DISTORTIONS


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def texts(figure: plt.Figure) -> list[str]:
    return [text.get_text() for text in figure.texts]


def no_data_text(figure: plt.Figure) -> str:
    found = [text for text in texts(figure) if text.startswith("no data: ")]
    assert len(found) == 1, texts(figure)
    return found[0]


def collection(axis, gid: str) -> PathCollection:
    found = [c for c in axis.collections if c.get_gid() == gid]
    assert len(found) == 1, [c.get_gid() for c in axis.collections]
    return found[0]


# --- tables ------------------------------------------------------------------------------------


def make_logs(runs: list[tuple[str, str, str, int]], epochs: int) -> pd.DataFrame:
    rows = []
    for r, (network, variant, context, seed) in enumerate(runs):
        for epoch in range(epochs):
            rows.append(
                dict(
                    network=network,
                    variant=variant,
                    seed=seed,
                    context=context,
                    epoch=epoch,
                    loss=0.7 - 0.05 * epoch + 0.01 * r,
                    train_2afc=0.5 + 0.02 * epoch + 0.01 * r,
                    val_2afc=0.5 + 0.01 * epoch - 0.005 * r,
                    lr=0.01,
                    seconds=1.0,
                )
            )
    return pd.DataFrame(rows)


def make_context_tests(count: int, effects: list[float] | None = None) -> pd.DataFrame:
    effects = effects or [0.01 * ((7 * i) % count) - 0.02 for i in range(count)]
    rows = []
    for i, effect in enumerate(effects):
        base = 0.4 + 0.001 * i
        rows.append(
            dict(
                hypothesis="h",
                network="alexnet",
                variant="lin",
                context=f"c{i:03d}",
                seed=0,
                statistic=1.0,
                p=0.1,
                p_holm=0.2,
                p_bh=0.2,
                effect=effect,
                ci_low=effect - 0.03,
                ci_high=effect + 0.03,
                n=200,
                improved=effect > 0,
                improved_significant=effect > 0.03,
                adapted_score=base + effect,
                baseline_score=base,
            )
        )
    return pd.DataFrame(rows)


def make_summary() -> pd.DataFrame:
    rows = []

    def add(network, variant, context, seed, dataset, kind, subset, score):
        rows.append(
            dict(
                network=network,
                variant=variant,
                context=context,
                seed=seed,
                dataset=dataset,
                kind=kind,
                subset=subset,
                score=score,
                n=50,
            )
        )

    bapps = [("2afc", "traditional"), ("2afc", "cnn"), ("jnd", "traditional")]
    for k, (kind, subset) in enumerate(bapps):
        for n, network in enumerate(["alexnet", "vgg16"]):
            for seed in (0, 1):
                add(
                    network, "baseline", "all", seed, "bapps", kind, subset, 0.6 + 0.01 * k + n / 50
                )
                for c, context in enumerate(["c000", "c001"]):
                    score = 0.62 + 0.013 * k + 0.007 * c + 0.003 * seed + n / 40
                    add(network, "lin", context, seed, "bapps", kind, subset, score)
        add("pixel", "l2", "all", 0, "bapps", kind, subset, 0.55 + 0.02 * k)
    for c, context in enumerate(["c000", "c001", "c002"]):
        for network, variant in [("alexnet", "baseline"), ("alexnet", "lin"), ("pixel", "l2")]:
            add(network, variant, context, 0, "context", "2afc", context, 0.4 + 0.1 * c)
    return pd.DataFrame(rows)


def make_rankings(names: list[str]) -> pd.DataFrame:
    chosen = contexts.reference_rankings(len(names), seed=3)
    table = contexts.rankings_table(chosen, 3)
    return table.assign(context=names)


def make_bapps(margin: float | list[float] = 0.02) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = [
        ("alexnet", "lin", "2afc", "traditional"),
        ("alexnet", "lin", "jnd", "traditional"),
        ("vgg16", "tune", "2afc", "traditional"),
    ]
    margins = margin if isinstance(margin, list) else [margin] * len(keys)
    deltas, tests = [], []
    for i, ((network, variant, kind, subset), m) in enumerate(zip(keys, margins, strict=True)):
        values = [0.01 * i - 0.005, 0.01 * i + 0.002, 0.01 * i - 0.001]
        for c, delta in enumerate(values):
            deltas.append(
                dict(
                    network=network,
                    variant=variant,
                    seed=0,
                    context=f"c{c:03d}",
                    kind=kind,
                    subset=subset,
                    score=0.6 + delta,
                    baseline_score=0.6,
                    delta=delta,
                )
            )
        mean = sum(values) / len(values)
        tests.append(
            dict(
                hypothesis="h",
                network=network,
                variant=variant,
                kind=kind,
                subset=subset,
                n=3,
                mean_delta=mean,
                ci_low=np.nan if i == 2 else mean - 0.01,
                ci_high=mean + 0.01,
                margin=m,
                non_inferior=i != 1,
                note="",
            )
        )
    return pd.DataFrame(tests), pd.DataFrame(deltas)


# --- save_figure and package ------------------------------------------------------------------


def test_save_figure_writes_png_and_svg(tmp_path):
    figure, axis = plt.subplots()
    axis.plot([0, 1], [0, 1])
    figures.save_figure(figure, tmp_path / "a.png", tmp_path / "a.svg")
    png = (tmp_path / "a.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert "<svg" in (tmp_path / "a.svg").read_text()
    assert not plt.fignum_exists(figure.number)


def test_package_keeps_the_old_api():
    for name in (
        "distortion_examples",
        "save_figure",
        "training_curves",
        "context_scores",
        "bapps_heatmap",
        "score_vs_rank_distance",
        "bapps_forest",
        "example_triplets",
    ):
        assert callable(getattr(figures, name))


# --- training curves --------------------------------------------------------------------------


def test_training_curves_plot_the_mean_over_runs():
    runs = [("alexnet", v, c, s) for v in ("lin", "tune") for c in ("c000", "c001") for s in (0, 1)]
    logs = make_logs(runs, epochs=3)
    figure = figures.training_curves(logs)
    panels = [a for a in figure.axes if a.get_title()]
    assert len(panels) == 3
    for axis, column in zip(panels, ("loss", "train_2afc", "val_2afc"), strict=True):
        assert len(axis.lines) == 2
        line = next(li for li in axis.lines if li.get_label() == "alexnet / tune")
        expected = [
            sum(
                r[column]
                for r in logs.to_dict("records")
                if r["variant"] == "tune" and r["epoch"] == epoch
            )
            / 4
            for epoch in range(3)
        ]
        assert list(line.get_xdata()) == [0, 1, 2]
        np.testing.assert_allclose(line.get_ydata(), expected)
        assert sum(isinstance(c, PolyCollection) for c in axis.collections) == 2  # sd bands


def test_training_curves_add_the_heads_own_score_when_logged():
    logs = make_logs([("alexnet", "lin", "c000", 0), ("alexnet", "lin", "c001", 0)], epochs=2)
    logs["val_head_2afc"] = [0.6, 0.7, 0.8, 0.9]  # c000 epochs 0, 1, then c001
    panels = [a for a in figures.training_curves(logs).axes if a.get_title()]
    assert [a.get_title() for a in panels][-1] == "Validation 2AFC of the head"
    np.testing.assert_allclose(panels[-1].lines[0].get_ydata(), [0.7, 0.8])  # means per epoch


def test_training_curves_with_one_run_and_one_epoch_has_no_band():
    figure = figures.training_curves(make_logs([("alexnet", "lin", "c000", 0)], epochs=1))
    for axis in figure.axes:
        assert len(axis.lines) == 1 and len(axis.lines[0].get_xdata()) == 1
        assert not axis.collections


def test_training_curves_degenerate_and_invalid_input():
    empty = make_logs([], epochs=1).reindex(columns=make_logs([("a", "b", "c", 0)], 1).columns)
    assert no_data_text(figures.training_curves(empty)) == "no data: no training logs"
    with pytest.raises(ValueError, match=r"training_curves.*val_2afc"):
        figures.training_curves(make_logs([("a", "lin", "c000", 0)], 2).drop(columns="val_2afc"))


# --- context scores ---------------------------------------------------------------------------


def test_context_scores_caterpillar_is_sorted_by_effect():
    table = make_context_tests(6)
    figure = figures.context_scores(table)
    score_axis, effect_axis = figure.axes[:2]
    offsets = collection(effect_axis, "effect").get_offsets()
    order = np.argsort(offsets[:, 1])
    assert list(offsets[order, 0]) == sorted(table["effect"])
    labels = [t.get_text() for t in score_axis.get_yticklabels()]
    assert labels == list(table.sort_values("effect")["context"])
    # CIs drawn for every row on the effect panel, significant rows coloured apart
    segments = [c for c in effect_axis.collections if isinstance(c, LineCollection)]
    assert len(segments) == 1 and len(segments[0].get_segments()) == 6
    colours = {tuple(c) for c in collection(effect_axis, "effect").get_facecolors()}
    assert len(colours) == 2
    base = collection(score_axis, "baseline_score").get_offsets()[:, 0]
    assert sorted(base) == sorted(table["baseline_score"])


def test_context_scores_many_contexts_and_nan_cis():
    table = make_context_tests(120)
    table.loc[::3, ["ci_low", "ci_high"]] = np.nan
    figure = figures.context_scores(table)
    score_axis, effect_axis = figure.axes[:2]
    assert len(score_axis.get_yticklabels()) == 0  # 120 labels would not be readable
    segments = next(c for c in effect_axis.collections if isinstance(c, LineCollection))
    assert len(segments.get_segments()) == 80
    x = collection(effect_axis, "effect").get_offsets()
    assert np.all(np.diff(x[np.argsort(x[:, 1]), 0]) >= 0)


def test_context_scores_facets_and_degenerate_input():
    two = pd.concat([make_context_tests(3), make_context_tests(2).assign(variant="tune")])
    figure = figures.context_scores(two)
    assert len([a for a in figure.axes if a.get_title("left")]) == 4
    nan_effect = make_context_tests(2).assign(effect=np.nan)
    assert "effect" in no_data_text(figures.context_scores(nan_effect))
    with pytest.raises(ValueError, match=r"context_scores.*improved_significant"):
        figures.context_scores(make_context_tests(2).drop(columns="improved_significant"))


# --- BAPPS heatmap ----------------------------------------------------------------------------


def test_bapps_heatmap_annotates_the_means():
    summary = make_summary()
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0])
    for row in summary.to_dict("records"):
        if row["dataset"] == "bapps":
            entry = sums[(row["kind"], row["subset"], row["network"], row["variant"])]
            entry[0] += row["score"]
            entry[1] += 1
    figure = figures.bapps_heatmap(summary)
    networks, variants = ["alexnet", "vgg16", "pixel"], ["baseline", "lin", "l2"]
    panels = {a.get_title(): a for a in figure.axes if a.get_title()}
    assert set(panels) == {"2AFC score / traditional", "2AFC score / cnn", "JND mAP / traditional"}
    for (kind, subset, network, variant), (total, count) in sums.items():
        label = {"2afc": "2AFC score", "jnd": "JND mAP"}[kind]
        axis = panels[f"{label} / {subset}"]
        cell = (variants.index(variant) + 0.5, networks.index(network) + 0.5)
        found = [t.get_text() for t in axis.texts if tuple(t.get_position()) == cell]
        assert found == [f"{total / count:.3f}"]
    # 3 networks x 3 variants, of which pixel has only l2 and the networks no l2: 5 cells
    assert all(len(axis.texts) == 5 for axis in panels.values())


def test_bapps_heatmap_degenerate_and_invalid_input():
    context_only = make_summary().query("dataset == 'context'")
    assert "BAPPS" in no_data_text(figures.bapps_heatmap(context_only))
    one = make_summary().query("dataset == 'bapps' and network == 'pixel' and kind == 'jnd'")
    figure = figures.bapps_heatmap(one)  # one cell, one colour: the scale must not break
    assert [t.get_text() for a in figure.axes for t in a.texts] == [f"{0.55 + 0.04:.3f}"]
    with pytest.raises(ValueError, match=r"bapps_heatmap.*subset"):
        figures.bapps_heatmap(make_summary().drop(columns="subset"))


# --- score vs rank distance -------------------------------------------------------------------


def test_score_vs_rank_distance_points_and_trends():
    summary = make_summary()
    more = summary.query("dataset == 'context' and network == 'alexnet' and variant == 'lin'")
    summary = pd.concat([summary, more.assign(seed=1, score=more["score"] + 0.02)])
    summary = summary[~((summary["variant"] == "l2") & (summary["context"] == "c002"))]
    rankings = make_rankings(["c000", "c001", "c002"])
    figure = figures.score_vs_rank_distance(summary, rankings)
    panels = {a.get_title(): a for a in figure.axes}
    assert set(panels) == {"alexnet", "pixel"}
    lin = collection(panels["alexnet"], "points lin").get_offsets()
    np.testing.assert_allclose(sorted(lin[:, 1]), [0.41, 0.51, 0.61])  # mean over two seeds
    trends = {li.get_gid() for li in panels["alexnet"].lines if li.get_gid()}
    assert trends == {"trend baseline", "trend lin"}
    # l2 has only two contexts left: points but no trend
    assert len(collection(panels["pixel"], "points l2").get_offsets()) == 2
    assert not [li for li in panels["pixel"].lines if li.get_gid()]


def test_score_vs_rank_distance_degenerate_and_invalid_input():
    summary, rankings = make_summary(), make_rankings(["c000", "c001", "c002"])
    unknown = make_rankings(["x", "y", "z"])
    assert "rank distance" in no_data_text(figures.score_vs_rank_distance(summary, unknown))
    one = summary.query("context == 'c000'")
    figure = figures.score_vs_rank_distance(one, rankings, "footrule")
    assert all(not [li for li in a.lines if li.get_gid()] for a in figure.axes)
    with pytest.raises(ValueError, match=r"score_vs_rank_distance.*footrule"):
        figures.score_vs_rank_distance(summary, rankings.drop(columns="footrule"), "footrule")


# --- BAPPS forest -----------------------------------------------------------------------------


def test_bapps_forest_means_margin_and_context_dots():
    tests, deltas = make_bapps(margin=0.02)
    figure = figures.bapps_forest(tests, deltas)
    panels = [a for a in figure.axes if a.get_title()]
    assert len(panels) == 2  # 2AFC and JND
    two_afc = panels[0]
    assert two_afc.get_title().startswith("BAPPS 2AFC score: non-inferior 2/2")
    margin = [li for li in two_afc.lines if li.get_gid() == "margin"]
    assert len(margin) == 1 and list(margin[0].get_xdata()) == [-0.02, -0.02]
    assert margin[0].get_label() == "non-inferiority margin"
    means = collection(two_afc, "mean delta").get_offsets()
    expected = tests.query("kind == '2afc'").sort_values("network")["mean_delta"]
    np.testing.assert_allclose(means[:, 0], expected)
    assert len(collection(two_afc, "context deltas").get_offsets()) == 6
    jnd = panels[1]
    assert jnd.get_title().startswith("BAPPS JND mAP: non-inferior 0/1")


def test_bapps_forest_per_row_margins_and_degenerate_input():
    tests, deltas = make_bapps(margin=[0.01, 0.02, 0.03])
    figure = figures.bapps_forest(tests, deltas.iloc[:0])
    two_afc = figure.axes[0]
    margins = collection(two_afc, "margin").get_segments()
    assert sorted(segment[0][0] for segment in margins) == [-0.03, -0.01]
    empty = tests.assign(mean_delta=np.nan)
    assert "mean delta" in no_data_text(figures.bapps_forest(empty, deltas))
    with pytest.raises(ValueError, match=r"bapps_forest.*delta"):
        figures.bapps_forest(tests, deltas.drop(columns="delta"))


# --- example triplets -------------------------------------------------------------------------


def make_pool(count: int) -> Pool:
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, size=(3, count, 3, 8, 8), dtype=np.uint8)
    pairs = list(itertools.permutations(range(len(DISTORTIONS)), 2))
    d0 = np.array([pairs[i % len(pairs)][0] for i in range(count)], dtype=np.int64)
    d1 = np.array([pairs[i % len(pairs)][1] for i in range(count)], dtype=np.int64)
    params = np.column_stack([np.full(count, 5.0), np.full(count, 1.0)])
    index = np.arange(count, dtype=np.int64)
    return Pool(images[0], images[1], images[2], index, index, d0, d1, params, params.copy())


def test_example_triplets_titles_and_judges():
    pool = make_pool(10)
    chosen = contexts.reference_rankings(4, seed=0)
    figure = figures.example_triplets(pool, chosen, count=3, seed=5)
    assert len(figure.axes) == 9
    for row in range(3):
        ref, p0, p1 = figure.axes[3 * row : 3 * row + 3]
        triplet = int(ref.get_title().split("triplet ")[1].rstrip(")"))
        assert p0.get_title().startswith(f"p0: {DISTORTIONS[pool.d0[triplet]]} (")
        assert p1.get_title().startswith(f"p1: {DISTORTIONS[pool.d1[triplet]]} (")
        for context in chosen[:3]:
            label = contexts.labels(
                context.ranking, pool.d0[[triplet]], pool.d1[[triplet]], DISTORTIONS
            )[0]
            assert context.name in (p0, p1)[label].get_xlabel()
            assert context.name not in (p0, p1)[1 - label].get_xlabel()
        assert chosen[3].name not in p0.get_xlabel() + p1.get_xlabel()
    again = figures.example_triplets(pool, chosen, count=3, seed=5)
    assert [a.get_title() for a in again.axes] == [a.get_title() for a in figure.axes]


def test_example_triplets_degenerate_input():
    pool = make_pool(2)
    figure = figures.example_triplets(pool, [], count=5, seed=0)
    assert len(figure.axes) == 6  # only two triplets exist
    assert any("no contexts" in text for text in texts(figure))
    assert no_data_text(figures.example_triplets(pool, [], count=0, seed=0)).startswith("no data")
