"""The readout study: descriptor statistics against the metric itself, learned weights on planted
data, and a whole job on a small BAPPS-format cache and MOS fixture."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dpsim import readout, scoring
from dpsim.config import validate_config
from dpsim.data import bapps, fixture, mos, mos_fixture
from dpsim.data.sources import embedded_images
from dpsim.metric import READOUTS, build_metric
from dpsim.train import TrainSettings

QUICK = TrainSettings(1e-2, 0.5, 0.999, 16, 3, 3, 0.0)


def test_combine_adds_the_parts() -> None:
    stats = {"spatial": np.array([1.0, 2.0]), "mean": np.array([10.0, 20.0])}
    assert readout.combine(stats, "spatial+mean").tolist() == [11.0, 22.0]
    pairs = {"spatial": (np.ones(2), np.zeros(2)), "sort": (np.ones(2), np.ones(2))}
    s0, s1 = readout.combine(pairs, "spatial+sort")
    assert s0.tolist() == [2.0, 2.0] and s1.tolist() == [1.0, 1.0]


def test_layer_columns() -> None:
    assert readout.layer_columns([3, 2, 4]) == [slice(0, 3), slice(3, 5), slice(5, 9)]


@pytest.mark.parametrize("descriptor", READOUTS)
def test_statistics_reproduce_the_metrics_distances(descriptor) -> None:
    # A unit-weight metric of each descriptor must equal the dot product of our statistics.
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, size=(5, 3, 3, 32, 32), dtype=np.uint8)
    base = build_metric("alexnet", "baseline", taps="study", weights="random", seed=3)
    stats = readout.triplet_statistics(base, images, "cpu", batch_size=2)
    s0, s1 = readout.combine(stats, descriptor)
    metric = build_metric("alexnet", "baseline", taps="study", readout=descriptor, seed=3).eval()
    signed = torch.from_numpy(images).float() / 127.5 - 1
    with torch.no_grad():
        layers0 = metric.distances_by_layer(signed[:, 0], signed[:, 1])
        d1 = metric(signed[:, 0], signed[:, 2])
    np.testing.assert_allclose(s0.sum(axis=1), layers0.sum(axis=1).numpy(), rtol=1e-4)
    np.testing.assert_allclose(s1.sum(axis=1), d1.numpy(), rtol=1e-4)
    # One layer alone: its own columns.
    columns = readout.layer_columns(base.backbone.channels)[2]
    np.testing.assert_allclose(s0[:, columns].sum(axis=1), layers0[:, 2].numpy(), rtol=1e-4)


def test_learned_weights_find_the_informative_channel() -> None:
    # The judge follows channel 3 alone; other channels are noise of the same size.
    generator = np.random.default_rng(1)
    s0, s1 = generator.random((600, 8)), generator.random((600, 8))
    judge = (s0[:, 3] > s1[:, 3]).astype(np.float32)  # p1 closer when d0 > d1 on channel 3
    settings = readout.ReadoutSettings(train=QUICK, seed=0)
    weights = readout.learn_weights((s0, s1), judge, settings, ("planted",), "cpu")
    assert weights.argmax() == 3 and (weights >= 0).all()
    learned = scoring.two_afc_score(s0 @ weights, s1 @ weights, judge)
    unit = scoring.two_afc_score(s0.sum(1), s1.sum(1), judge)
    assert learned > 0.9 > unit


@pytest.fixture(scope="module")
def small_inputs(tmp_path_factory):
    """A packed BAPPS-format fixture cache and a MOS fixture from the embedded photographs."""
    root = tmp_path_factory.mktemp("readout")
    tiles = embedded_images(["astronaut", "coffee"], size=32, scales=[1.0], min_std=8.0).images
    fixture.write_fixture(root / "bapps", tiles, fixture.FixtureSpec(16, 12, 10, image_size=32))
    subsets = bapps.scan(root / "bapps")
    manifest = bapps.manifest(root / "bapps", subsets, source="fixture")
    (root / "manifest.json").write_text(json.dumps(manifest))
    bapps.pack_all(root / "manifest.json", root / "cache", size=32, workers=1)
    mos_dir = mos_fixture.write_mos_fixture(root / "mos", tiles, 24, seed=0)
    return root / "cache", mos.read_mos_set({"format": "fixture", "path": str(mos_dir)})


def _direct_2afc(metric, cache, subset: str) -> float:
    """2AFC score of ``metric``'s own forward pass on a packed BAPPS val subset."""
    data = bapps.BappsDataset(cache, "2afc", "val", subset)
    images = torch.from_numpy(np.array(data.images)).float() / 127.5 - 1
    with torch.no_grad():
        d0 = metric(images[:, 0], images[:, 1])
        d1 = metric(images[:, 0], images[:, 2])
    return scoring.two_afc_score(d0.numpy(), d1.numpy(), data.labels)


def test_readout_job_covers_every_combination(small_inputs) -> None:
    cache, mos_set = small_inputs
    settings = readout.ReadoutSettings(train=QUICK, batch_size=8)
    table = readout.readout_table("alexnet", "random", cache, [mos_set], settings, mos_size=32)
    assert list(table.columns) == list(readout.COLUMNS)
    # 5 descriptors x 2 weightings x (all + 4 taps) x (2 + 2 BAPPS subsets + 1 MOS set).
    assert len(table) == 5 * 2 * 5 * 5
    assert set(table["layer_index"]) == {-1, 0, 1, 2, 3} and (table["n_layers"] == 4).all()
    assert table.loc[table["kind"] != "mos", "score"].between(0, 1).all()
    on_mos = table[table["kind"] == "mos"]
    assert on_mos[["score", "krocc", "plcc"]].stack().between(-1, 1).all()
    assert table.loc[table["kind"] != "mos", ["krocc", "plcc"]].isna().all().all()
    # Unit weights, all layers, spatial = the baseline metric's 2AFC score, computed directly.
    metric = build_metric("alexnet", "baseline", taps="study", weights="random", seed=0).eval()
    expected = _direct_2afc(metric, cache, "traditional")
    row = table[
        (table["descriptor"] == "spatial")
        & (table["weighting"] == "unit")
        & (table["layers"] == "all")
        & (table["kind"] == "2afc")
        & (table["subset"] == "traditional")
    ]
    assert row["score"].item() == pytest.approx(expected)


def test_tuned_rows_are_the_tuned_networks_own_scores(small_inputs) -> None:
    cache, mos_set = small_inputs
    settings = readout.ReadoutSettings(
        descriptors=("spatial", "mean"), weightings=("unit", "tuned"), train=QUICK, batch_size=8
    )
    table = readout.readout_table("alexnet", "random", cache, [mos_set], settings, mos_size=32)
    tuned = table[table["weighting"] == "tuned"]
    # spatial only (what tune trains) x (all + 4 taps) x (2 + 2 BAPPS subsets + 1 MOS set)
    assert len(tuned) == 5 * 5 and set(tuned["descriptor"]) == {"spatial"}
    assert len(table[table["weighting"] == "unit"]) == 2 * 5 * 5
    # The same training again, scored directly by the tuned metric's forward pass.
    subsets = readout._bapps_train(cache)
    metric = readout.tune_metric("alexnet", "random", subsets, settings, "cpu", "resources/torch")
    backbone = build_metric("alexnet", "baseline", taps="study", weights="random", seed=0)
    first = next(metric.backbone.parameters())
    assert not torch.equal(first, next(backbone.backbone.parameters()))  # the network learned
    expected = _direct_2afc(metric, cache, "superres")
    row = tuned[
        (tuned["layers"] == "all") & (tuned["kind"] == "2afc") & (tuned["subset"] == "superres")
    ]
    assert row["score"].item() == pytest.approx(expected, abs=1e-9)


def test_readout_settings_train_as_lpips_without_the_sync_term():
    section = validate_config({"readout": {"lr": 0.01, "batch_size": 16, "epochs": 5}})["readout"]
    settings = readout.ReadoutSettings.from_config(section, seed=3, network="alexnet")
    train = settings.train
    assert (train.lr, train.batch_size, train.epochs_constant, train.epochs_decay) == (
        0.01,
        16,
        3,
        2,
    )
    assert (train.beta1, train.beta2, train.sync) == (0.5, 0.999, "off")
    assert settings.taps == "study" and settings.seed == 3
