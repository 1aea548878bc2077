"""Adaptation and evaluation steps end to end on tiny data: outputs, determinism, NaN guard."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from dpsim import contexts, experiment, feature_cache, io, scoring
from dpsim.aggregate import summarise_items
from dpsim.config import validate_config
from dpsim.data.pool import build_pool
from dpsim.evaluate import COLUMNS
from dpsim.metric import checkpoint_extra, load_metric
from dpsim.train import NonFiniteError

CONFIG = validate_config(
    {
        "grid": {"networks": ["squeezenet1_1"]},
        "train": {"batch_size": 16, "epochs_constant": 1, "epochs_decay": 1, "lr": 0.01},
    }
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, random_images_module):
    root = tmp_path_factory.mktemp("experiment")
    for split, draw, count in (("train", 0, 32), ("train", 1, 32), ("val", 0, 24), ("test", 0, 24)):
        build_pool(
            random_images_module,
            root / f"pool/{split}/draw{draw}",
            split=split,
            draw=draw,
            triplets=count,
            shard_size=16,
            seed=0,
        )
    chosen = contexts.reference_rankings(2)
    io.write_parquet(contexts.rankings_table(chosen, 0), root / "rankings.parquet")
    names = ("train/draw0", "train/draw1", "val/draw0")
    experiment.cache_statistics(
        CONFIG["grid"],
        "squeezenet1_1",
        0,
        [root / f"pool/{name}" for name in names],
        [root / f"cache/{name.replace('/', '_')}.npz" for name in names],
        device="cpu",
    )
    return root


@pytest.fixture(scope="module")
def random_images_module():
    return np.random.default_rng(3).integers(0, 256, (30, 3, 32, 32), dtype=np.uint8)


def _adapt(root, tag, caches=None):
    outputs = {
        name: {
            k: str(root / tag / name / f"{k}.{'parquet' if k == 'log' else 'pt'}")
            for k in ("best", "last", "log")
        }
        for name in ("c000", "c001")
    }
    experiment.adapt_lin_contexts(
        grid=CONFIG["grid"],
        train_section=CONFIG["train"],
        config_seed=0,
        network="squeezenet1_1",
        seed=0,
        train_caches=caches
        or [str(root / "cache/train_draw0.npz"), str(root / "cache/train_draw1.npz")],
        val_cache=str(root / "cache/val_draw0.npz"),
        rankings_path=str(root / "rankings.parquet"),
        outputs=outputs,
        state_file=str(root / tag / "state.pt"),
        device="cpu",
    )
    return outputs


def test_lin_adaptation_writes_checkpoints_logs_and_is_deterministic(workspace):
    first, second = _adapt(workspace, "a"), _adapt(workspace, "b")
    for name in ("c000", "c001"):
        log = pd.read_parquet(first[name]["log"])
        assert log["context"].eq(name).all() and log["epoch"].tolist() == [0, 1]
        other = pd.read_parquet(second[name]["log"])
        pd.testing.assert_frame_equal(log.drop(columns="seconds"), other.drop(columns="seconds"))
        a, b = load_metric(first[name]["best"]), load_metric(second[name]["best"])
        for wa, wb in zip(a.weights, b.weights, strict=True):
            assert torch.equal(wa, wb)
        extra = checkpoint_extra(first[name]["best"])
        assert extra["context"] == name and extra["best_epoch"] in (0, 1) and "head" in extra


def _evaluate_trained(workspace, checkpoint, out):
    experiment.evaluate_trained(
        checkpoint=checkpoint,
        context="c001",
        seed=0,
        pool_test=str(workspace / "pool/test/draw0"),
        rankings_path=str(workspace / "rankings.parquet"),
        bapps_cache=None,
        out_path=str(out),
        device="cpu",
    )
    return pd.read_parquet(out)


def test_trained_and_untrained_evaluation_rows(workspace):
    outputs = _adapt(workspace, "e")
    table = _evaluate_trained(workspace, outputs["c001"]["best"], workspace / "eval.parquet")
    assert list(table.columns) == list(COLUMNS) and len(table) == 24
    assert set(table["subset"]) == {"c001"} and table["variant"].eq("lin").all()
    np.testing.assert_allclose(
        table["score"], scoring.two_afc_scores(table["d0"], table["d1"], table["judge"])
    )
    again = _evaluate_trained(workspace, outputs["c001"]["best"], workspace / "again.parquet")
    pd.testing.assert_frame_equal(table, again)
    untrained = workspace / "l2.parquet"
    experiment.evaluate_untrained(
        grid=CONFIG["grid"],
        network="pixel",
        variant="l2",
        seed=0,
        pool_test=str(workspace / "pool/test/draw0"),
        rankings_path=str(workspace / "rankings.parquet"),
        bapps_cache=None,
        out_path=str(untrained),
    )
    l2 = pd.read_parquet(untrained)
    assert len(l2) == 48 and set(l2["subset"]) == {"c000", "c001"} and l2["context"].eq("all").all()
    # the two contexts score the same distances under their own labels
    by_context = {name: group for name, group in l2.groupby("subset")}
    np.testing.assert_array_equal(by_context["c000"]["d0"].values, by_context["c001"]["d0"].values)
    summary = summarise_items(l2)
    assert summary["n"].tolist() == [24, 24]


def test_non_finite_statistics_stop_adaptation_without_output(workspace, tmp_path):
    cache = feature_cache.read_cache(workspace / "cache/train_draw0.npz")
    cache["s0"][0, 0] = np.nan
    broken = tmp_path / "broken.npz"
    np.savez(
        broken,
        s0=cache["s0"],
        s1=cache["s1"],
        d0=cache["d0"],
        d1=cache["d1"],
        channels=np.asarray(cache["channels"]),
        metric=np.array(json.dumps(cache["metric"])),
    )
    with pytest.raises(NonFiniteError):
        outputs = _adapt(workspace, "nan", caches=[str(broken), str(broken)])
    outputs = {
        n: {k: tmp_path / "nan" / n / f"{k}.pt" for k in ("best", "last")} for n in ("c000",)
    }
    assert not any(path.exists() for paths in outputs.values() for path in paths.values())
    assert not (tmp_path / "nan" / "c000" / "log.parquet").exists()
