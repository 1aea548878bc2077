"""The adaptation and evaluation steps on tiny data: outputs, determinism, the NaN guard, and
training state that is reused only by the run it belongs to."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image

from dpsim import contexts, feature_cache, io, scoring, steps
from dpsim.aggregate import summarise_items
from dpsim.config import validate_config
from dpsim.data.download import sha256_file
from dpsim.data.judgment_fixture import write_nights_fixture
from dpsim.data.pool import build_pool, load_pool
from dpsim.evaluate import COLUMNS, same_weights
from dpsim.inference import triplet_distances
from dpsim.integrity import CorruptIntermediateError
from dpsim.metric import checkpoint_extra, grid_metric, load_metric
from dpsim.steps import adapt, evaluate, keys
from dpsim.steps.job import Job
from dpsim.train import NonFiniteError

NETWORK = "squeezenet1_1"
CONFIG = validate_config(
    {
        "contexts": {"count": 2},
        "grid": {"networks": [NETWORK]},
        "train": {"batch_size": 16, "epochs_constant": 1, "epochs_decay": 1, "lr": 0.01},
    }
)
TRAIN_DRAWS = ("train/draw0", "train/draw1")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, random_images_module):
    root = tmp_path_factory.mktemp("steps")
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
    _cache(root, CONFIG, "cache")
    return root


def _cache(root, config, folder):
    names = (*TRAIN_DRAWS, "val/draw0")
    adapt.pool_statistics(
        keys.settings("pool_statistics", config, {"network": NETWORK, "seed": "0"}),
        {"pools": [str(root / f"pool/{name}") for name in names]},
        {"caches": [str(root / folder / f"{name.replace('/', '_')}.npz") for name in names]},
    )


@pytest.fixture(scope="module")
def random_images_module():
    return np.random.default_rng(3).integers(0, 256, (30, 3, 32, 32), dtype=np.uint8)


def _names(config):
    return [c.name for c in contexts.contexts_from_config(config["contexts"])]


def _outputs(folder, names):
    return {
        which: [
            str(folder / name / f"{which}.{'parquet' if which == 'log' else 'pt'}")
            for name in names
        ]
        for which in ("best", "last", "log")
    }


def _adapt(root, tag, config=CONFIG, caches=None, cache_folder="cache"):
    """The lin job of every context of ``config``; returns context -> its output paths."""
    names = _names(config)
    outputs = _outputs(root / tag, names)
    cache = root / cache_folder
    adapt.adapt_lin_all_contexts(
        keys.settings("adapt_lin_all_contexts", config, {"network": NETWORK, "seed": "0"}),
        {
            "train": caches or [str(cache / "train_draw0.npz"), str(cache / "train_draw1.npz")],
            "val": str(cache / "val_draw0.npz"),
        },
        outputs,
        state=str(root / tag / "state.pt"),
    )
    return {name: {w: outputs[w][i] for w in outputs} for i, name in enumerate(names)}


def _tune(root, tag, config=CONFIG, context="c000", variant="tune"):
    folder = root / tag
    outputs = {
        w: str(folder / f"{w}.{'parquet' if w == 'log' else 'pt'}") for w in ("best", "last", "log")
    }
    wildcards = {"network": NETWORK, "variant": variant, "context": context, "seed": "0"}
    adapt.adapt_direct(
        keys.settings("adapt_direct", config, wildcards),
        {
            "train": [str(root / f"pool/{d}") for d in TRAIN_DRAWS],
            "val": str(root / "pool/val/draw0"),
        },
        outputs,
        state=str(folder / "state.pt"),
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
    assert not (workspace / "a" / "state.pt").exists()  # a finished job deletes its state


def test_outputs_out_of_context_order_are_refused(workspace):
    outputs = _outputs(workspace / "swapped", ["c001", "c000"])  # the rule lists c000 first
    with pytest.raises(ValueError, match="not in a folder of context c000"):
        adapt.adapt_lin_all_contexts(
            keys.settings("adapt_lin_all_contexts", CONFIG, {"network": NETWORK, "seed": "0"}),
            {
                "train": [str(workspace / f"cache/train_draw{d}.npz") for d in (0, 1)],
                "val": str(workspace / "cache/val_draw0.npz"),
            },
            outputs,
            state=None,
        )


def _evaluate_trained(workspace, checkpoint, out):
    evaluate.evaluate_trained(
        keys.settings(
            "evaluate_trained",
            CONFIG,
            {"network": NETWORK, "variant": "lin", "seed": "0"},
        )
        | {"contexts": ["c001"]},
        {
            "last": [checkpoint.replace("best", "last")],
            "best": [checkpoint],
            "pool": str(workspace / "pool/test/draw0"),
            "rankings": str(workspace / "rankings.parquet"),
        },
        {"evaluations": [str(out)]},
    )
    return pd.read_parquet(out)


def test_a_best_checkpoint_equal_to_the_last_gets_the_last_ones_rows_scored_once(
    workspace, monkeypatch
):
    outputs = _adapt(workspace, "e")
    last = outputs["c001"]["last"]
    twin = workspace / "twin_of_last.pt"  # the best epoch was the last: an equal file
    twin.write_bytes(Path(last).read_bytes())
    scored = []
    real_evaluate = evaluate.evaluate
    monkeypatch.setattr(
        evaluate, "evaluate", lambda *a, **k: scored.append(k["identity"]) or real_evaluate(*a, **k)
    )
    out = workspace / "twin.parquet"
    settings = keys.settings(
        "evaluate_trained", CONFIG, {"network": NETWORK, "variant": "lin", "seed": "0"}
    )
    evaluate.evaluate_trained(
        settings | {"contexts": ["c001"]},
        {
            "last": [last],
            "best": [str(twin)],
            "pool": str(workspace / "pool/test/draw0"),
            "rankings": str(workspace / "rankings.parquet"),
        },
        {"evaluations": [str(out)]},
    )
    table = pd.read_parquet(out)
    assert [identity["checkpoint"] for identity in scored] == ["last"]
    by_checkpoint = {c: t.drop(columns="checkpoint") for c, t in table.groupby("checkpoint")}
    pd.testing.assert_frame_equal(
        by_checkpoint["best"].reset_index(drop=True), by_checkpoint["last"].reset_index(drop=True)
    )
    test = load_pool(workspace / "pool/test/draw0")  # and they are the file's own distances
    d0, _ = triplet_distances(load_metric(twin).eval(), np.stack([test.ref, test.p0, test.p1], 1))
    context_rows = table[(table["checkpoint"] == "best") & (table["subset"] == "c001")]
    np.testing.assert_allclose(context_rows["d0"], d0, rtol=1e-6)
    best = load_metric(outputs["c001"]["best"])
    assert same_weights(load_metric(last), load_metric(twin))
    assert not same_weights(load_metric(last), best)


def test_trained_and_untrained_evaluation_rows(workspace):
    outputs = _adapt(workspace, "e")
    table = _evaluate_trained(workspace, outputs["c001"]["best"], workspace / "eval.parquet")
    assert list(table.columns) == list(COLUMNS) and len(table) == 48
    assert set(table["subset"]) == {"c001"} and table["variant"].eq("lin").all()
    test = load_pool(workspace / "pool/test/draw0")
    triplets = np.stack([test.ref, test.p0, test.p1], axis=1)
    for checkpoint in ("last", "best"):  # each checkpoint's rows are its own metric's distances
        rows = table[table["checkpoint"] == checkpoint]
        metric = load_metric(outputs["c001"][checkpoint]).eval()
        d0, _ = triplet_distances(metric, triplets)
        np.testing.assert_allclose(rows["d0"], d0, rtol=1e-6)
    np.testing.assert_allclose(
        table["score"], scoring.two_afc_scores(table["d0"], table["d1"], table["judge"])
    )
    again = _evaluate_trained(workspace, outputs["c001"]["best"], workspace / "again.parquet")
    pd.testing.assert_frame_equal(table, again)
    untrained = workspace / "l2.parquet"
    settings = keys.settings(
        "evaluate_untrained", CONFIG, {"network": "pixel", "untrained": "l2", "seed": "0"}
    )
    assert "grid" not in settings  # a pixel metric reads no network key
    evaluate.evaluate_untrained(
        settings,
        {
            "pool": str(workspace / "pool/test/draw0"),
            "rankings": str(workspace / "rankings.parquet"),
        },
        {"evaluation": str(untrained)},
    )
    l2 = pd.read_parquet(untrained)
    assert len(l2) == 48 and set(l2["subset"]) == {"c000", "c001"} and l2["context"].eq("all").all()
    assert l2["checkpoint"].eq("none").all()
    # the two contexts score the same distances under their own labels
    by_context = {name: group for name, group in l2.groupby("subset")}
    np.testing.assert_array_equal(by_context["c000"]["d0"].values, by_context["c001"]["d0"].values)
    summary = summarise_items(l2)
    assert summary["n"].tolist() == [24, 24]


@pytest.fixture(scope="module")
def bapps_cache(workspace):
    """A tiny packed BAPPS fixture (2AFC and JND val subsets) beside the workspace's pools."""
    config = validate_config(
        {"bapps": {"fixture": {"train_items": 4, "val_items": 6, "jnd_items": 5}}}
    )
    root = workspace / "bapps"
    steps.call("bapps_fixture", config, {}, {"fixture": str(root / "fixture")})
    manifest = {"manifest": str(root / "manifest.json")}
    steps.call("bapps_manifest", config, {"fixture": [str(root / "fixture")]}, manifest)
    steps.call("bapps_cache", config, manifest, {"cache": str(root / "cache")})
    return str(root / "cache")


@pytest.fixture(scope="module")
def judgment_cache(workspace):
    """A NIGHTS-layout table packed as the extra judgment set ``nights`` (its test rows)."""
    table = write_nights_fixture(workspace / "nights", count=18, size=32)
    section = {"path": str(table), "format": "nights", "split": "test"}
    config = validate_config({"evaluate": {"judgment_sets": {"nights": section}}})
    cache = str(workspace / "judgments")
    steps.call("judgment_sets", config, {"tables": [str(table)]}, {"cache": cache})
    return cache


def test_lin_scored_from_frozen_statistics_equals_the_direct_evaluation(
    workspace, bapps_cache, judgment_cache
):
    outputs = _adapt(workspace, "frozen")
    names = ["c000", "c001"]
    cell = {"network": NETWORK, "seed": "0"}
    checkpoints = {w: [outputs[n][w] for n in names] for w in ("last", "best")}
    test = {
        "pool": str(workspace / "pool/test/draw0"),
        "bapps": bapps_cache,
        "judgment_sets": [judgment_cache],
    }
    statistics = {
        "test": str(workspace / "frozen/test.npz"),
        "bapps": str(workspace / "frozen/bapps.npz"),
    }
    steps.call("evaluation_statistics", CONFIG, test, statistics, cell)
    frozen = [str(workspace / f"frozen/{n}.parquet") for n in names]
    rankings = str(workspace / "rankings.parquet")
    inputs = {**checkpoints, **statistics, "rankings": rankings}
    steps.call("evaluate_lin", CONFIG, inputs, {"evaluations": frozen}, cell)
    direct = [str(workspace / f"frozen/direct_{n}.parquet") for n in names]
    inputs = {**checkpoints, **test, "rankings": rankings}
    steps.call(
        "evaluate_trained", CONFIG, inputs, {"evaluations": direct}, {**cell, "variant": "lin"}
    )
    keys_ = ["checkpoint", "dataset", "kind", "subset", "item"]
    for a, b in zip(frozen, direct, strict=True):
        mine, theirs = pd.read_parquet(a), pd.read_parquet(b)
        assert len(mine) == len(theirs) and set(mine["kind"]) == {"2afc", "jnd"}
        merged = mine.merge(theirs, on=[*keys_, "network", "variant", "context", "seed"])
        assert len(merged) == len(mine)
        np.testing.assert_allclose(merged["d0_x"], merged["d0_y"], rtol=1e-5)
        np.testing.assert_allclose(merged["d1_x"], merged["d1_y"], rtol=1e-5)
        np.testing.assert_array_equal(merged["score_x"], merged["score_y"])
        np.testing.assert_allclose(
            summarise_items(mine)["score"], summarise_items(theirs)["score"], atol=1e-12
        )
    # the judgment set's rows: its 6 test rows, each the metric's distances of the PNG files
    rows = pd.read_parquet(direct[1]).query("dataset == 'nights' and checkpoint == 'last'")
    table = pd.read_csv(workspace / "nights/data.csv")
    chosen = table[table["split"] == "test"]
    assert (
        rows["subset"].eq("nights").all()
        and rows["judge"].tolist() == chosen["right_vote"].tolist()
    )
    triplets = np.stack(
        [
            np.stack(
                [
                    _png(workspace / "nights" / row[k])
                    for k in ("ref_path", "left_path", "right_path")
                ]
            )
            for _, row in chosen.iterrows()
        ]
    )
    d0, d1 = triplet_distances(load_metric(outputs["c001"]["last"]).eval(), triplets)
    np.testing.assert_allclose(rows["d0"], d0, rtol=1e-6)
    np.testing.assert_allclose(rows["d1"], d1, rtol=1e-6)


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)


def test_lin_statistics_of_another_backbone_are_refused(workspace, bapps_cache, tmp_path):
    outputs = _adapt(workspace, "other")
    cell = {"network": NETWORK, "seed": "1"}  # the statistics of another random init
    test = {"pool": str(workspace / "pool/test/draw0"), "bapps": bapps_cache}
    statistics = {"test": str(tmp_path / "test.npz"), "bapps": str(tmp_path / "bapps.npz")}
    steps.call("evaluation_statistics", CONFIG, test, statistics, cell)
    inputs = {
        "last": [outputs["c000"]["last"], outputs["c001"]["last"]],
        "best": [outputs["c000"]["best"], outputs["c001"]["best"]],
        **statistics,
        "rankings": str(workspace / "rankings.parquet"),
    }
    with pytest.raises(ValueError, match="computed with different weights"):
        steps.call("evaluate_lin", CONFIG, inputs, {"evaluations": ["a", "b"]}, cell)


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
        _adapt(tmp_path, "nan", caches=[str(broken), str(broken)], cache_folder=workspace / "cache")
    assert not any((tmp_path / "nan").rglob("*.pt.tmp*"))
    assert not (tmp_path / "nan" / "c000" / "best.pt").exists()
    assert not (tmp_path / "nan" / "c000" / "log.parquet").exists()


def test_a_corrupt_cache_stops_the_lin_job_naming_the_file_and_the_rule(workspace, tmp_path):
    names = (*TRAIN_DRAWS, "val/draw0")
    caches = [str(tmp_path / f"{name.replace('/', '_')}.npz") for name in names]
    adapt.pool_statistics(
        keys.settings("pool_statistics", CONFIG, {"network": NETWORK, "seed": "0"}),
        {"pools": [str(workspace / f"pool/{name}") for name in names]},
        {"caches": caches},
        job=Job(rule="pool_statistics"),
    )
    with open(caches[1], "r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(CorruptIntermediateError) as caught:
        _adapt(tmp_path, "lin", caches=caches[:2], cache_folder=tmp_path)
    message = str(caught.value)
    assert f"{caches[1]} is corrupt: 1,000 bytes" in message
    assert "written by the rule pool_statistics" in message and "run snakemake again" in message
    assert not (tmp_path / "lin").exists()


# ---------------------------------------------------------------- stale training state


def _changed(path: str, value) -> dict:
    config = copy.deepcopy(CONFIG)
    node = config
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return validate_config(config)


def _leave_state(monkeypatch, run) -> None:
    """Run a training job that dies after its last epoch, before writing outputs: its state
    stays behind, as a killed job's would."""
    with monkeypatch.context() as patched:
        patched.setattr(adapt, "_write_training", _raise_killed)
        with pytest.raises(KeyboardInterrupt):
            run()


def _raise_killed(*args, **kwargs):
    raise KeyboardInterrupt("killed")


def _assert_same_training(paths, fresh_paths):
    for which in ("best", "last"):
        a, b = load_metric(paths[which]), load_metric(fresh_paths[which])
        assert a.describe() == b.describe()
        for key, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[key]), (which, key)
    logs = [pd.read_parquet(p["log"]).drop(columns="seconds") for p in (paths, fresh_paths)]
    pd.testing.assert_frame_equal(*logs)


def _state_of(folder):
    return torch.load(folder / "state.pt", weights_only=False)


def test_a_killed_job_of_the_same_run_resumes(workspace, monkeypatch, caplog):
    _leave_state(monkeypatch, lambda: _adapt(workspace, "same"))
    assert _state_of(workspace / "same")["state"]["epoch"] == 2
    with caplog.at_level(logging.INFO, logger="dpsim.train"):
        outputs = _adapt(workspace, "same")
    assert "resuming from" in caplog.text and "after epoch 2" in caplog.text
    fresh = _adapt(workspace, "same_fresh")
    for name in ("c000", "c001"):
        _assert_same_training(outputs[name], fresh[name])


@pytest.mark.parametrize(
    ("key", "value"),
    [("contexts.generator_seed", 7), ("contexts.count", 3), ("train.lr", 0.02)],
)
def test_lin_state_of_another_run_is_not_resumed(workspace, monkeypatch, caplog, key, value):
    tag = f"lin_{key}"
    _leave_state(monkeypatch, lambda: _adapt(workspace, tag))
    changed = _changed(key, value)
    with caplog.at_level(logging.WARNING, logger="dpsim.train"):
        outputs = _adapt(workspace, tag, changed)
    assert "not resuming" in caplog.text
    fresh = _adapt(workspace, f"{tag}_fresh", changed)
    assert set(outputs) == set(fresh) == set(_names(changed))
    for name in outputs:
        _assert_same_training(outputs[name], fresh[name])


def test_lin_state_under_other_backbone_weights_is_not_resumed(workspace, monkeypatch, caplog):
    _leave_state(monkeypatch, lambda: _adapt(workspace, "weights"))
    weights_file = workspace / "squeezenet_seed5.pt"
    torch.manual_seed(5)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), weights_file)
    changed = _changed("grid.weights", str(weights_file))
    _cache(workspace, changed, "cache_file_weights")
    with caplog.at_level(logging.WARNING, logger="dpsim.train"):
        outputs = _adapt(workspace, "weights", changed, cache_folder="cache_file_weights")
    assert "identity.data" in caplog.text and "identity.metric" in caplog.text
    fresh = _adapt(workspace, "weights_fresh", changed, cache_folder="cache_file_weights")
    for name in outputs:
        _assert_same_training(outputs[name], fresh[name])
        recorded = load_metric(outputs[name]["best"]).describe()["weights"]
        assert recorded["kind"] == "file" and recorded["sha256"] == sha256_file(weights_file)


def test_direct_state_of_another_ranking_is_not_resumed(workspace, monkeypatch, caplog):
    _leave_state(monkeypatch, lambda: _tune(workspace, "tune"))
    changed = _changed("contexts.generator_seed", 7)
    with caplog.at_level(logging.WARNING, logger="dpsim.train"):
        outputs = _tune(workspace, "tune", changed)
    assert "identity.contexts" in caplog.text
    _assert_same_training(outputs, _tune(workspace, "tune_fresh", changed))
    assert not (workspace / "tune" / "state.pt").exists()


def test_tune_trains_on_the_direct_limits_and_lin_ignores_them(workspace, monkeypatch):
    limits = {"train_triplets": 8, "val_triplets": 6, "epochs_constant": 2, "epochs_decay": 1}
    limited = _changed("grid.direct", {"contexts": 1, **limits})
    cell = {"network": NETWORK, "context": "c001", "seed": "0"}
    tune = keys.settings("adapt_direct", limited, {**cell, "variant": "tune"})
    assert tune["grid"]["direct"] == limits  # not `contexts`: a job trains its own context
    lin = keys.settings("adapt_direct", limited, {**cell, "variant": "lin"})
    assert "direct" not in lin["grid"]  # lin trains on every triplet, whatever grid.direct says
    evaluated = {"network": NETWORK, "seed": "0"}
    assert keys.settings("evaluate_trained", limited, {**evaluated, "variant": "tune"})[
        "contexts"
    ] == ["c000"]
    assert keys.settings("evaluate_lin", limited, evaluated)["contexts"] == ["c000", "c001"]
    sources = []

    def recorded(*args, **kwargs):
        sources.append(adapt_direct_source(*args, **kwargs))
        return sources[-1]

    adapt_direct_source = adapt.DirectSource
    monkeypatch.setattr(adapt, "DirectSource", recorded)
    outputs = _tune(workspace, "limited", limited)
    (source,) = sources
    assert [source.count(key) for key in (0, 1, "val")] == [8, 8, 6]  # of 32, 32 and 24
    log = pd.read_parquet(outputs["log"])
    assert log["epoch"].tolist() == [0, 1, 2]  # 2 + 1 epochs instead of train's 1 + 1


def test_a_job_reading_device_cuda_fails_at_its_start_without_a_gpu(tmp_path, monkeypatch):
    """On a cluster the submit host cannot check the GPU: the job checks its node as it starts."""
    from dpsim.steps.job import DeviceUnavailableError, Job

    monkeypatch.delenv("DPSIM_DEVICE", raising=False)
    monkeypatch.setenv("SLURMD_NODENAME", "node07")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr("dpsim.runtime.start_job", lambda *args, **kwargs: None)
    job = Job(log=str(tmp_path / "job.log"), rule="pool_statistics", device="cuda")
    with pytest.raises(DeviceUnavailableError) as caught:
        job.start()
    message = str(caught.value)
    assert message.startswith("rule pool_statistics on node07: device: cuda is requested")
    assert "set device: auto or cpu" in message
    Job(log=str(tmp_path / "job.log"), rule="pool_statistics", device="auto").start()
    Job(log=str(tmp_path / "job.log"), rule="rankings").start()  # reads no device: no check


MIX_CONFIG = _changed("grid.mix", {"rank": 3, "contexts": 2})


def _adapt_mix(root, tag, config=MIX_CONFIG):
    names = _names(config)[: config["grid"]["mix"]["contexts"]]
    outputs = _outputs(root / tag, names)
    adapt.adapt_mix_all_contexts(
        keys.settings("adapt_mix_all_contexts", config, {"network": NETWORK, "seed": "0"}),
        {
            "train": [str(root / f"pool/{d}") for d in TRAIN_DRAWS],
            "val": str(root / "pool/val/draw0"),
        },
        outputs,
        state=str(root / tag / "state.pt"),
    )
    return {name: {w: outputs[w][i] for w in outputs} for i, name in enumerate(names)}


def test_mix_trains_every_chosen_context_and_its_evaluation_is_the_reloaded_metric(
    workspace, bapps_cache
):
    assert keys.settings("evaluate_mix", MIX_CONFIG, {"network": NETWORK, "seed": "0"})[
        "contexts"
    ] == ["c000", "c001"]
    outputs = _adapt_mix(workspace, "mix")
    for name, paths in outputs.items():
        metric = load_metric(paths["last"])
        assert metric.variant == "mix" and metric.describe()["mix_rank"] == 3
        assert checkpoint_extra(paths["last"])["context"] == name
        assert pd.read_parquet(paths["log"])["epoch"].tolist() == [0, 1]
    names = list(outputs)
    evaluations = [str(workspace / f"mix/{n}.parquet") for n in names]
    inputs = {w: [outputs[n][w] for n in names] for w in ("last", "best")}
    inputs |= {"pool": str(workspace / "pool/test/draw0"), "bapps": bapps_cache}
    inputs |= {"rankings": str(workspace / "rankings.parquet")}
    steps.call(
        "evaluate_mix",
        MIX_CONFIG,
        inputs,
        {"evaluations": evaluations},
        {"network": NETWORK} | {"seed": 0},
    )
    test = load_pool(workspace / "pool/test/draw0")
    triplets = np.stack([test.ref, test.p0, test.p1], axis=1)
    for name, path in zip(names, evaluations, strict=True):
        table = pd.read_parquet(path)
        assert list(table.columns) == list(COLUMNS) and set(table["kind"]) == {"2afc", "jnd"}
        assert table["variant"].eq("mix").all() and table["context"].eq(name).all()
        for checkpoint in ("last", "best"):
            rows = table[(table["checkpoint"] == checkpoint) & (table["dataset"] == "context")]
            d0, d1 = triplet_distances(load_metric(outputs[name][checkpoint]).eval(), triplets)
            np.testing.assert_allclose(rows["d0"], d0, rtol=1e-6)
            np.testing.assert_allclose(rows["d1"], d1, rtol=1e-6)


def _kill_in_epoch_one(monkeypatch, run) -> None:
    """Run a training job that is killed during its second epoch (its state stays behind)."""
    from dpsim import train as training

    real = training._run_epoch

    def dies_in_epoch_one(source, heads, optimizer, settings, seed, keys_, epoch):
        if epoch == 1:
            raise KeyboardInterrupt("killed")
        return real(source, heads, optimizer, settings, seed, keys_, epoch)

    with monkeypatch.context() as patched:
        patched.setattr(training, "_run_epoch", dies_in_epoch_one)
        with pytest.raises(KeyboardInterrupt):
            run()


def test_a_mix_job_killed_mid_training_resumes_to_the_same_metric(workspace, monkeypatch):
    _kill_in_epoch_one(monkeypatch, lambda: _adapt_mix(workspace, "mix_killed"))
    assert _state_of(workspace / "mix_killed")["state"]["epoch"] == 1
    resumed, fresh = _adapt_mix(workspace, "mix_killed"), _adapt_mix(workspace, "mix_fresh")
    for name in resumed:
        _assert_same_training(resumed[name], fresh[name])


@pytest.mark.parametrize("variant", ["lora", "bitfit"])
def test_a_peft_job_killed_mid_training_resumes_to_the_same_metric(workspace, monkeypatch, variant):
    config = _changed("grid.lora", {"rank": 2})
    assert keys.settings(
        "adapt_direct",
        config,
        {"network": NETWORK, "variant": "lora", "context": "c000"} | {"seed": "0"},
    )["grid"]["lora"] == {"rank": 2}
    _kill_in_epoch_one(
        monkeypatch, lambda: _tune(workspace, f"{variant}_killed", config, variant=variant)
    )
    resumed = _tune(workspace, f"{variant}_killed", config, variant=variant)
    fresh = _tune(workspace, f"{variant}_fresh", config, variant=variant)
    _assert_same_training(resumed, fresh)
    metric = load_metric(resumed["last"])
    untrained = keys.settings(
        "adapt_direct",
        config,
        {"network": NETWORK, "seed": "0"} | {"variant": variant, "context": "c000"},
    )["grid"]
    start = grid_metric(untrained, NETWORK, variant, 0).state_dict()
    moved = [k for k in metric.saved_keys() if k.startswith("backbone.")]
    assert moved and any(not torch.equal(metric.state_dict()[k], start[k]) for k in moved)
    log = pd.read_parquet(resumed["log"])
    assert log["trained_parameters"].iloc[0] == metric.trained_parameter_count() > 0


# ---------------------------------------------------------------- packs of contexts per job


def _tune_pack(root, tag, names, config=CONFIG, variant="tune"):
    """One image-training job of the contexts ``names`` (a pack); context -> its output paths."""
    folder = root / tag
    outputs = _outputs(folder, names)
    states = [str(folder / name / "state.pt") for name in names]
    adapt.adapt_direct(
        keys.settings(
            "adapt_direct",
            config,
            {"network": NETWORK, "variant": variant, "seed": "0", "contexts": ",".join(names)},
        ),
        {
            "train": [str(root / f"pool/{d}") for d in TRAIN_DRAWS],
            "val": str(root / "pool/val/draw0"),
        },
        outputs,
        state=states,
    )
    return {name: {w: outputs[w][i] for w in outputs} for i, name in enumerate(names)}


def test_a_packed_job_equals_one_job_per_context_bit_for_bit(workspace):
    packed = _tune_pack(workspace, "packed", ["c000", "c001"])
    alone = {name: _tune(workspace, f"alone_{name}", context=name) for name in ("c000", "c001")}
    for name in ("c000", "c001"):
        _assert_same_training(packed[name], alone[name])
        assert checkpoint_extra(packed[name]["best"])["context"] == name
    assert not any((workspace / "packed").glob("*/state.pt"))  # a finished pack forgets its states
    tables = [
        _evaluate_trained(workspace, paths["c001"]["best"], workspace / f"{tag}.parquet")
        for tag, paths in (("packed_eval", packed), ("alone_eval", {"c001": alone["c001"]}))
    ]
    pd.testing.assert_frame_equal(*tables)  # and so are its evaluation rows


def test_a_pack_killed_in_its_second_context_keeps_the_first(workspace, monkeypatch, caplog):
    from dpsim import train as training

    real, trained = training._run_epoch, []

    def dies_in_the_second_context(source, heads, optimizer, settings, seed, keys_, epoch):
        trained.append(keys_[2])
        if keys_[2] == "c001":
            raise KeyboardInterrupt
        return real(source, heads, optimizer, settings, seed, keys_, epoch)

    monkeypatch.setattr(training, "_run_epoch", dies_in_the_second_context)
    with pytest.raises(KeyboardInterrupt):
        _tune_pack(workspace, "pack_killed", ["c000", "c001"])
    assert (workspace / "pack_killed" / "c000" / "state.pt").exists()  # kept until the pack ends
    monkeypatch.setattr(training, "_run_epoch", real)
    trained.clear()
    resumed = _tune_pack(workspace, "pack_killed", ["c000", "c001"])
    fresh = _tune_pack(workspace, "pack_fresh", ["c000", "c001"])
    for name in ("c000", "c001"):
        _assert_same_training(resumed[name], fresh[name])


def test_pack_settings_name_every_context_and_refuse_unknown_ones():
    wildcards = {"network": NETWORK, "variant": "tune", "seed": "0"}
    settings = keys.settings("adapt_direct", CONFIG, {**wildcards, "contexts": "c000,c001"})
    assert [c["name"] for c in settings["contexts"]] == ["c000", "c001"]
    with pytest.raises(KeyError, match="contexts c009 are not contexts of the config"):
        keys.settings("adapt_direct", CONFIG, {**wildcards, "contexts": "c000,c009"})
