"""Training: schedule, heads, cached vs direct path, batched contexts, resume after a kill,
the NaN guard, determinism, and learning a planted context."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from dpsim import feature_cache
from dpsim.data.pool import Pool
from dpsim.distortions import apply_uint8, draw_distinct_pairs, draw_params
from dpsim.head import RankingHeads
from dpsim.metric import build_metric
from dpsim.train import (
    CachedLinSource,
    DirectSource,
    NonFiniteError,
    TrainSettings,
    batch_2afc,
    sync_term,
    train,
)


def _settings(**changes) -> TrainSettings:
    values = dict(
        lr=0.01,
        beta1=0.5,
        beta2=0.999,
        batch_size=16,
        epochs_constant=1,
        epochs_decay=1,
        dropout=0.0,
    )
    return TrainSettings(**{**values, **changes})


def test_learning_rate_schedule_as_lpips():
    settings = _settings(lr=1.0, epochs_constant=2, epochs_decay=4)
    assert [settings.lr_at(e) for e in range(6)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert settings.epochs == 6


def test_settings_from_config_use_the_preset_and_overrides():
    section = {
        "preset": "study",
        "lr": None,
        "beta1": None,
        "beta2": None,
        "batch_size": 64,
        "epochs_constant": None,
        "epochs_decay": None,
        "dropout": 0.5,
    }
    settings = TrainSettings.from_config(section)
    assert (settings.lr, settings.batch_size, settings.epochs) == (1e-3, 64, 10)
    lpips = TrainSettings.from_config({**section, "preset": "lpips", "batch_size": None})
    assert (lpips.lr, lpips.batch_size) == (1e-4, 50)


def test_batched_heads_equal_single_heads():
    torch.manual_seed(0)
    heads = RankingHeads(3)
    d0, d1 = torch.rand(7, 3), torch.rand(7, 3)
    together = heads(d0, d1)
    for k in range(3):
        alone = heads.select(k)(d0[:, k : k + 1], d1[:, k : k + 1])
        torch.testing.assert_close(together[:, k : k + 1], alone)


def _tiny_pool(count: int, seed: int, size: int = 32) -> Pool:
    generator = np.random.default_rng(seed)
    refs = generator.integers(0, 256, (count, 3, size, size), dtype=np.uint8)
    d0, d1 = draw_distinct_pairs(generator, count)
    params0, params1 = draw_params(generator, d0, size), draw_params(generator, d1, size)
    p0 = apply_uint8(torch.from_numpy(refs), d0, params0).numpy()
    p1 = apply_uint8(torch.from_numpy(refs), d1, params1).numpy()
    index = np.arange(count)
    return Pool(refs, p0, p1, index, index, d0, d1, params0, params1)


RANKING = ("color", "zoom_in", "rotate", "translate", "darken", "blur")


@pytest.fixture(scope="module")
def pools():
    return {0: _tiny_pool(48, 0), 1: _tiny_pool(48, 1), "val": _tiny_pool(32, 2)}


def _direct(pools, variant="lin"):
    metric = build_metric("squeezenet1_1", variant, weights="random", seed=0)
    metric.dropout.p = 0.0
    images = {
        key: (np.stack([p.ref, p.p0, p.p1], axis=1), p.labels(RANKING)) for key, p in pools.items()
    }
    return DirectSource(metric, images)


def _cached(pools, rankings=(RANKING,)):
    metric = build_metric("squeezenet1_1", "lin", weights="random", seed=0)
    stats = {
        key: feature_cache.pool_statistics(metric, p, batch_size=16) for key, p in pools.items()
    }
    labels = {key: np.stack([p.labels(r) for r in rankings], 1) for key, p in pools.items()}
    initial = torch.cat([w.detach() for w in metric.weights])
    return CachedLinSource(stats, labels, dropout=0.0, initial=initial)


def _heads(count=1):
    torch.manual_seed(5)
    return RankingHeads(count)


def test_the_sync_term_by_hand():
    d0 = torch.tensor([[0.2, 1.0], [0.5, 0.1], [0.3, 0.3]])
    d1 = torch.tensor([[0.4, 0.0], [0.1, 0.9], [0.3, 0.2]])
    judge = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    expected = []
    for k in range(2):
        bce = [
            -(
                h * math.log(1 / (1 + math.exp(-(a - b))))
                + (1 - h) * math.log(1 - 1 / (1 + math.exp(-(a - b))))
            )
            for a, b, h in zip(
                d0[:, k].tolist(), d1[:, k].tolist(), judge[:, k].tolist(), strict=True
            )
        ]
        expected.append(10 * sum(bce) / 3)
    torch.testing.assert_close(sync_term(d0, d1, judge), torch.tensor(expected))
    # Batch scores: context 0 agrees on triplet 2 (p1 closer, judge 1) and ties on 3 -> 0.5;
    # context 1 agrees on none of 1 and 2, and on 3 (p1 closer, judge 1) -> 1/3.
    scores = batch_2afc(d0, d1, judge).mean(0)
    torch.testing.assert_close(scores, torch.tensor([0.5, 1 / 3]))
    assert _settings(sync="below_chance").sync_active(0, scores).tolist() == [True, True]
    assert _settings(sync="below_chance").sync_active(0, scores + 0.1).tolist() == [False, True]
    assert _settings(sync=2).sync_active(1, scores + 1).tolist() == [True, True]
    assert _settings(sync=2).sync_active(2, scores).tolist() == [False, False]
    assert _settings(sync="off").sync_active(0, scores).tolist() == [False, False]
    with pytest.raises(ValueError, match="sync must be below_chance or off or a number"):
        _settings(sync=0)


@pytest.mark.parametrize("sync", ["off", "below_chance", 1])
def test_cached_path_trains_the_same_lin_weights_as_the_direct_path(pools, sync):
    settings = _settings(sync=sync)
    direct = train(_direct(pools), _heads(), settings, seed=0, keys=("t",), progress=False)
    cached = train(_cached(pools), _heads(), settings, seed=0, keys=("t",), progress=False)
    direct_w = torch.cat(
        [w for k, w in direct.last_states[0]["source"].items() if k.startswith("weights")]
    )
    cached_w = cached.last_states[0]["source"]["weights"]
    torch.testing.assert_close(cached_w, direct_w, atol=2e-4, rtol=1e-3)
    np.testing.assert_allclose(cached.log["val_2afc"], direct.log["val_2afc"], atol=1e-9)
    np.testing.assert_array_equal(cached.log["sync_share"], direct.log["sync_share"])
    if sync == 1:
        assert cached.log["sync_share"].tolist() == [1.0, 0.0]


def test_batched_contexts_equal_contexts_trained_alone(pools):
    rankings = (
        RANKING,
        tuple(reversed(RANKING)),
        ("blur", "color", "darken", "rotate", "translate", "zoom_in"),
    )
    settings = _settings()
    heads = _heads(3)
    singles = [heads.select(k) for k in range(3)]
    together = train(_cached(pools, rankings), heads, settings, seed=0, keys=("t",), progress=False)
    for k, ranking in enumerate(rankings):
        alone = train(
            _cached(pools, (ranking,)), singles[k], settings, seed=0, keys=("t",), progress=False
        )
        torch.testing.assert_close(
            together.last_states[k]["source"]["weights"],
            alone.last_states[0]["source"]["weights"],
            atol=1e-6,
            rtol=1e-5,
        )


def test_non_finite_statistics_stop_training(pools):
    source = _cached(pools)
    source._stats[0][0][3, 5] = float("nan")
    with pytest.raises(NonFiniteError, match="lower the learning rate"):
        train(source, _heads(), _settings(), seed=0, keys=("t",), progress=False)


def test_same_inputs_same_run(pools):
    settings = _settings(dropout=0.5)
    first = train(_cached(pools), _heads(), settings, seed=3, keys=("a",), progress=False)
    second = train(_cached(pools), _heads(), settings, seed=3, keys=("a",), progress=False)
    assert first.log.drop(columns="seconds").equals(second.log.drop(columns="seconds"))
    other = train(_cached(pools), _heads(), settings, seed=4, keys=("a",), progress=False)
    assert not torch.equal(
        first.last_states[0]["source"]["weights"], other.last_states[0]["source"]["weights"]
    )


def test_lin_learns_a_planted_context():
    """Labels follow hidden channel weights: lin must find them; unit weights cannot."""
    generator = np.random.default_rng(0)
    planted = np.zeros(40)
    planted[:4] = 1.0

    def draw(n):
        s0, s1 = generator.random((n, 40)), generator.random((n, 40))
        label = (s0 @ planted > s1 @ planted).astype(np.float32)[:, None]  # p1 closer when d0 > d1
        return (s0.astype(np.float32), s1.astype(np.float32)), label

    data = {0: draw(2000), "val": draw(500)}
    source = CachedLinSource(
        {k: v[0] for k, v in data.items()}, {k: v[1] for k, v in data.items()}, 0.0, torch.ones(40)
    )
    settings = _settings(lr=0.05, batch_size=100, epochs_constant=6, epochs_decay=2)
    result = train(source, _heads(), settings, seed=0, keys=("planted",), progress=False)
    (s0, s1), label = data["val"]
    unit = float(np.mean((s0.sum(1) > s1.sum(1)) == label[:, 0]))
    assert result.best_val[0] > 0.9 and result.best_val[0] > unit + 0.2


RESUME_SCRIPT = textwrap.dedent(
    """
    import sys, time, numpy as np, torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[3])
    from test_train import _cached, _tiny_pool, _heads, _settings
    from dpsim.train import train
    pools = {0: _tiny_pool(48, 0), 1: _tiny_pool(48, 1), "val": _tiny_pool(32, 2)}
    slow = sys.argv[2] == "slow"
    import dpsim.train as T
    if slow:
        real = T._save
        def save(*args):
            real(*args)
            time.sleep(1.0)
        T._save = save
    result = train(_cached(pools), _heads(), _settings(dropout=0.5, epochs_constant=2,
                   epochs_decay=2, sync="below_chance"), seed=1, keys=("r",),
                   state_file=sys.argv[1], progress=False)
    np.save(sys.argv[1] + ".weights.npy", result.last_states[0]["source"]["weights"].numpy())
    np.save(sys.argv[1] + ".sync.npy", result.log["sync_share"].to_numpy())
    """
)


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_numbers(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    tests_dir = os.path.dirname(__file__)

    def run(state, mode):
        return subprocess.Popen([sys.executable, str(script), str(state), mode, tests_dir])

    clean = run(tmp_path / "clean.pt", "fast")
    assert clean.wait(timeout=300) == 0
    killed = run(tmp_path / "killed.pt", "slow")
    deadline = time.monotonic() + 240
    while not (tmp_path / "killed.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.2)  # inside the pause after the second checkpoint, or the first
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=60)
    assert not (tmp_path / "killed.pt.weights.npy").exists()
    saved = torch.load(tmp_path / "killed.pt", weights_only=False)["state"]["epoch"]
    assert 1 <= saved < 4
    resumed = run(tmp_path / "killed.pt", "fast")
    assert resumed.wait(timeout=300) == 0
    np.testing.assert_array_equal(
        np.load(tmp_path / "killed.pt.weights.npy"), np.load(tmp_path / "clean.pt.weights.npy")
    )
    synced = np.load(tmp_path / "clean.pt.sync.npy")
    assert synced.max() > 0  # the sync term was on in some batches (below chance)
    np.testing.assert_array_equal(np.load(tmp_path / "killed.pt.sync.npy"), synced)
