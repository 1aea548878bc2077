"""Readout-study figures: the plotted numbers match means computed here, degenerate input is safe.

The readout tables are built by hand; expected values come from plain Python loops over their
records, so the tests check what is drawn rather than only that drawing does not raise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from dpsim import figures

NETWORKS = ("alexnet", "vgg16", "resnet18", "squeezenet1_1")
DESCRIPTORS = ("spatial", "mean", "sort", "spatial+mean", "spatial+sort")
SUBSETS = {"2afc": ("traditional", "cnn"), "jnd": ("traditional", "superres"), "mos": ("mos_set",)}


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def fake_score(*parts: object) -> float:
    """A deterministic score in [0.3, 0.9) from the row's keys (no randomness)."""
    return (
        0.3 + (sum(ord(c) * (i + 1) for i, c in enumerate("/".join(map(str, parts)))) % 600) / 1000
    )


def make_readout(
    networks: tuple[str, ...] = NETWORKS,
    descriptors: tuple[str, ...] = DESCRIPTORS,
    weightings: tuple[str, ...] = ("unit", "learned"),
    weights: tuple[str, ...] = ("imagenet",),
    n_layers: int = 4,
    subsets: dict[str, tuple[str, ...]] = SUBSETS,
) -> pd.DataFrame:
    rows = []
    for network in networks:
        for weight in weights:
            for descriptor in descriptors:
                for weighting in weightings:
                    taps = [("all", -1)] + [(f"features.{3 * i}", i) for i in range(n_layers)]
                    for layers, index in taps:
                        for kind, names in subsets.items():
                            for subset in names:
                                rows.append(
                                    dict(
                                        network=network,
                                        weights=weight,
                                        descriptor=descriptor,
                                        weighting=weighting,
                                        layers=layers,
                                        layer_index=index,
                                        n_layers=n_layers,
                                        dataset="mos" if kind == "mos" else "bapps",
                                        kind=kind,
                                        subset=subset,
                                        score=fake_score(
                                            network, weight, descriptor, weighting, layers, subset
                                        )
                                        - (0.8 if kind == "mos" and network == "vgg16" else 0.0),
                                        n=100,
                                    )
                                )
    return pd.DataFrame(rows)


def mean_over_subsets(table: pd.DataFrame, **keys: object) -> float:
    scores = [
        row["score"]
        for row in table.to_dict("records")
        if all(row[k] == v for k, v in keys.items())
    ]
    return sum(scores) / len(scores)


def texts(figure: plt.Figure) -> list[str]:
    return [text.get_text() for text in figure.texts]


def panels(figure: plt.Figure) -> dict[str, plt.Axes]:
    return {axis.get_title(): axis for axis in figure.axes if axis.get_title()}


def depth_line(axis: plt.Axes, label: str, gid: str = "depth") -> plt.Line2D:
    found = [li for li in axis.lines if li.get_gid() == gid and li.get_label().startswith(label)]
    assert len(found) == 1, [li.get_label() for li in axis.lines]
    return found[0]


def cell_text(axis: plt.Axes, row: int, col: int) -> list[str]:
    return [t.get_text() for t in axis.texts if tuple(t.get_position()) == (col + 0.5, row + 0.5)]


# --- readout_depth --------------------------------------------------------------------------------


def test_readout_depth_plots_per_layer_means_over_subsets():
    table = make_readout(n_layers=3)
    figure = figures.readout_depth(table)
    by_title = panels(figure)
    assert list(by_title) == [
        "BAPPS 2AFC (mean over subsets)",
        "BAPPS JND (mean over subsets)",
        "MOS (mean over sets)",
    ]
    axis = by_title["BAPPS 2AFC (mean over subsets)"]
    assert len([li for li in axis.lines if li.get_gid() == "depth"]) == len(NETWORKS)
    line = depth_line(axis, "vgg16 / imagenet")
    expected = [
        mean_over_subsets(
            table,
            network="vgg16",
            descriptor="spatial",
            weighting="unit",
            kind="2afc",
            layer_index=index,
        )
        for index in range(3)
    ]
    assert list(line.get_xdata()) == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(line.get_ydata(), expected)
    whole = depth_line(axis, "vgg16 / imagenet: all layers", gid="all layers")
    all_score = mean_over_subsets(
        table, network="vgg16", descriptor="spatial", weighting="unit", kind="2afc", layers="all"
    )
    np.testing.assert_allclose(whole.get_ydata(), [all_score, all_score])
    assert min(whole.get_xdata()) > 1.0
    assert [t.get_text() for t in axis.get_xticklabels()][-1] == "all"


def test_readout_depth_filters_descriptor_and_weighting():
    table = make_readout(n_layers=3)
    only = table[(table["descriptor"] == "sort") & (table["weighting"] == "learned")]
    noisy = table.assign(score=np.where(table["descriptor"] == "sort", table["score"], 0.0))
    noisy = noisy.assign(score=np.where(noisy["weighting"] == "learned", noisy["score"], 0.0))

    def drawn(frame: pd.DataFrame) -> list[tuple[str, str, list[float], list[float]]]:
        figure = figures.readout_depth(frame, descriptor="sort", weighting="learned")
        return [
            (axis.get_title(), li.get_label(), list(li.get_xdata()), list(li.get_ydata()))
            for axis in figure.axes
            for li in axis.lines
            if li.get_gid() in ("depth", "all layers")
        ]

    assert drawn(only) == drawn(table) == drawn(noisy)
    assert len(drawn(table)) == 3 * 2 * len(NETWORKS)  # kinds x (depth line, all) x networks
    figure = figures.readout_depth(table, descriptor="sort", weighting="learned")
    assert figure.get_suptitle().endswith("(sort, learned weighting)")


def test_readout_depth_weights_styles_single_layer_and_nan():
    table = make_readout(
        networks=("alexnet",),
        descriptors=("spatial",),
        weightings=("unit",),
        weights=("imagenet", "random"),
        n_layers=1,
        subsets={"2afc": ("traditional",)},
    )
    figure = figures.readout_depth(table)
    (axis,) = figure.axes
    solid = depth_line(axis, "alexnet / imagenet")
    dashed = depth_line(axis, "alexnet / random")
    assert solid.get_linestyle() == "-" and dashed.get_linestyle() == "--"
    assert list(solid.get_xdata()) == [0.0]  # a single tap sits at depth 0
    nan = table.assign(score=np.where(table["weights"] == "random", np.nan, table["score"]))
    axis = figures.readout_depth(nan).axes[0]
    assert [li.get_label() for li in axis.lines if li.get_gid() == "depth"] == [
        "alexnet / imagenet"
    ]


def test_readout_depth_degenerate_and_invalid_input():
    table = make_readout(networks=("alexnet",), n_layers=2)
    empty = figures.readout_depth(table.iloc[:0])
    assert [t for t in texts(empty) if t.startswith("no data")] == [
        "no data: no finite score for descriptor spatial, weighting unit"
    ]
    missing = figures.readout_depth(table, descriptor="nope")
    assert any(t.startswith("no data") for t in texts(missing))
    with pytest.raises(ValueError, match=r"readout_depth.*n_layers"):
        figures.readout_depth(table.drop(columns="n_layers"))


# --- readout_heatmap ------------------------------------------------------------------------------


def test_readout_heatmap_annotates_the_means():
    table = make_readout()
    figure = figures.readout_heatmap(table)
    by_title = panels(figure)
    assert len(by_title) == 3 * 2  # kinds x weightings (one weights value)
    for kind, title, weighting, descriptor, network in (
        ("2afc", "BAPPS 2AFC (mean over subsets)", "unit", "sort", "vgg16"),
        ("jnd", "BAPPS JND (mean over subsets)", "learned", "spatial+mean", "alexnet"),
        ("mos", "MOS (mean over sets)", "learned", "spatial", "squeezenet1_1"),
    ):
        axis = by_title[f"{title}\nimagenet weights, {weighting} weighting"]
        expected = mean_over_subsets(
            table,
            kind=kind,
            weighting=weighting,
            descriptor=descriptor,
            network=network,
            layers="all",
        )
        row, col = DESCRIPTORS.index(descriptor), NETWORKS.index(network)
        assert cell_text(axis, row, col) == [f"{expected:.3f}"]
        assert len(axis.texts) == len(DESCRIPTORS) * len(NETWORKS)
        assert [t.get_text() for t in axis.get_xticklabels()] == list(NETWORKS)
        assert [t.get_text() for t in axis.get_yticklabels()] == list(DESCRIPTORS)
    colour_bars = [a for a in figure.axes if a.get_label() == "<colorbar>"]
    assert len(colour_bars) == 3


def test_readout_heatmap_uses_only_the_chosen_layers():
    table = make_readout(networks=("alexnet",), descriptors=("mean",), weightings=("unit",))
    taps = table[table["layers"] != "all"].assign(score=0.0)
    both = pd.concat([table[table["layers"] == "all"], taps])
    values = [t.get_text() for a in figures.readout_heatmap(both).axes for t in a.texts]
    assert "0.000" not in values and len(values) == 3
    tap = [t.get_text() for a in figures.readout_heatmap(both, "features.3").axes for t in a.texts]
    assert tap == ["0.000"] * 3


def test_readout_heatmap_weights_rows_nan_cells_and_one_kind():
    table = make_readout(
        networks=("alexnet", "vgg16"),
        descriptors=("mean", "spatial"),
        weightings=("unit",),
        weights=("imagenet", "random"),
        subsets={"2afc": ("traditional", "cnn")},
    )
    nan = (table["network"] == "vgg16") & (table["descriptor"] == "mean")
    table.loc[nan & (table["weights"] == "random"), "score"] = np.nan
    figure = figures.readout_heatmap(table)
    by_title = panels(figure)
    head = "BAPPS 2AFC (mean over subsets)\n"
    assert list(by_title) == [
        head + "imagenet weights, unit weighting",
        head + "random weights, unit weighting",
    ]
    random = by_title[head + "random weights, unit weighting"]
    assert cell_text(random, 1, 1) == []  # NaN: blank cell (mean row 1, vgg16 column 1)
    assert len(random.texts) == 3
    assert [t.get_text() for t in random.get_yticklabels()] == ["spatial", "mean"]


def test_readout_heatmap_degenerate_and_invalid_input():
    table = make_readout(networks=("alexnet",), descriptors=("spatial",), weightings=("unit",))
    found = [t for t in texts(figures.readout_heatmap(table.iloc[:0])) if t.startswith("no data")]
    assert found == ["no data: no finite score with layers all"]
    all_nan = table.assign(score=np.nan)
    assert any(t.startswith("no data") for t in texts(figures.readout_heatmap(all_nan)))
    one = table[(table["kind"] == "jnd") & (table["layers"] == "all")].assign(score=0.5)
    figure = figures.readout_heatmap(one)  # one cell, one colour: the scale must not break
    assert [t.get_text() for a in figure.axes for t in a.texts] == ["0.500"]
    with pytest.raises(ValueError, match=r"readout_heatmap.*descriptor"):
        figures.readout_heatmap(table.drop(columns="descriptor"))


# --- smoke render -----------------------------------------------------------------------------


def test_readout_figures_render(tmp_path: Path):
    table = make_readout()  # 4 networks x 5 descriptors x 2 weightings x (4 taps + all) x 3 kinds
    for name, figure in (
        ("depth", figures.readout_depth(table, "spatial+sort", "learned")),
        ("heatmap", figures.readout_heatmap(table)),
    ):
        figures.save_figure(figure, tmp_path / f"{name}.png", tmp_path / f"{name}.svg")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
        assert "<svg" in (tmp_path / f"{name}.svg").read_text()
