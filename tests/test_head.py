"""The ranking head: the head's own 2AFC, the monotone head, and the inversion it prevents."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpsim.head import RankingHeads, head_2afc
from dpsim.scoring import two_afc_score
from dpsim.train import CachedLinSource, TrainSettings, train


def test_head_2afc_by_hand():
    logits = torch.tensor([[2.0], [-1.0], [0.0], [3.0]])
    judge = torch.tensor([[1.0], [1.0], [0.0], [0.25]])
    # agree: 1 (says p1, judge 1) + 0 (says p0, judge 1) + 0.5 (tie) + 0.25 (says p1, judge 0.25)
    assert head_2afc(logits, judge).item() == pytest.approx(1.75 / 4)


def _slopes(head: RankingHeads, grid: torch.Tensor, step: float = 1e-3):
    """Finite differences of the logit along d0 and along d1 at every grid point."""
    d0, d1 = grid[:, :1], grid[:, 1:]
    with torch.no_grad():
        base = head(d0, d1)
        return head(d0 + step, d1) - base, head(d0, d1 + step) - base


def test_the_monotone_head_rises_with_d0_and_falls_with_d1_the_lpips_head_need_not():
    grid = torch.rand(2000, 2, generator=torch.Generator().manual_seed(0)) * 3
    lpips_monotone = []
    for seed in range(20):
        torch.manual_seed(seed)
        monotone = RankingHeads(1, monotone=True)
        along_d0, along_d1 = _slopes(monotone, grid)
        assert (along_d0 >= -1e-6).all() and (along_d1 <= 1e-6).all()
        assert monotone.select(0).monotone
        torch.manual_seed(seed)
        along_d0, along_d1 = _slopes(RankingHeads(1), grid)
        lpips_monotone.append(bool((along_d0 >= -1e-6).all() and (along_d1 <= 1e-6).all()))
    assert not all(lpips_monotone)  # the check above can fail: LPIPS's head is not constrained


def _planted_context(n: int, seed: int):
    """Two channels: a quiet one that ranks every triplet right, a loud one that ranks wrong.

    With unit weights the loud channel wins most triplets, so the metric starts below 0.5.
    Returns the cached statistics ``(s0, s1)`` and the labels (1: p1 is the closer image).
    """
    generator = np.random.default_rng(seed)
    judge = generator.integers(0, 2, n).astype(np.float32)
    good_close = generator.uniform(0, 0.2, n)
    good_far = good_close + generator.uniform(0, 0.2, n)
    bad_far = generator.uniform(0, 0.2, n)
    bad_close = bad_far + generator.uniform(0, 0.3, n)
    close = np.stack([bad_close, good_close], 1)
    far = np.stack([bad_far, good_far], 1)
    s0 = np.where(judge[:, None] == 1, far, close).astype(np.float32)
    s1 = np.where(judge[:, None] == 1, close, far).astype(np.float32)
    return (s0, s1), judge[:, None]


def _train_on_planted(head: str, sync: str | int = "off"):
    stats, labels = {}, {}
    for key, seed in ((0, 0), ("val", 1)):
        stats[key], labels[key] = _planted_context(256, seed)
    source = CachedLinSource(stats, labels, dropout=0.0, initial=torch.ones(2))
    settings = TrainSettings(0.05, 0.5, 0.999, 32, 10, 10, 0.0, head=head, sync=sync)
    torch.manual_seed(0)
    result = train(source, settings.new_heads(1), settings, seed=0, keys=("h",), progress=False)
    return result.log.iloc[-1], result.last_states[0]["source"]["weights"].flatten(), result.log


def test_the_lpips_head_inverts_on_a_wrong_starting_metric_the_monotone_head_does_not():
    last, weights, log = _train_on_planted("lpips")
    assert log["sync_share"].eq(0).all()
    # The loss is low, but only because the head reads the distances backwards: the metric
    # itself learned to rank every val triplet the wrong way (the loud channel was boosted).
    assert last["loss"] < 0.05
    assert last["val_head_2afc"] > 0.95 and last["val_2afc"] < 0.05
    assert weights[0] > weights[1]
    last, weights, _ = _train_on_planted("monotone")
    assert last["val_2afc"] > 0.95 and last["val_head_2afc"] > 0.95
    assert weights[1] > weights[0]  # the quiet, right channel carries the metric


def test_the_sync_term_keeps_the_lpips_head_from_inverting_the_metric():
    # The same planted context as above: without the term the metric ends below 0.05.
    (s0, s1), judge = _planted_context(256, 1)  # the validation triplets
    assert two_afc_score(s0.sum(1), s1.sum(1), judge[:, 0]) < 0.4  # unit weights: below chance
    last, weights, log = _train_on_planted("lpips", sync="below_chance")
    assert last["val_2afc"] > 0.95 and weights[1] > weights[0]
    assert log["sync_share"].iloc[0] > 0  # on while the metric ranked below chance
    assert log["sync_share"].iloc[-1] == 0  # off once it ranks above
    _, _, counted = _train_on_planted("lpips", sync=2)
    assert counted["sync_share"].tolist()[:3] == [1.0, 1.0, 0.0]


def test_settings_name_the_head():
    with pytest.raises(ValueError, match=r"head must be one of lpips, monotone, got 'mlp'"):
        TrainSettings(0.1, 0.5, 0.999, 8, 1, 1, head="mlp")
    section = {"preset": "study", "dropout": 0.5, "head": "monotone"}
    assert TrainSettings.from_config(section).new_heads(3).monotone
    assert not TrainSettings.from_config({**section, "head": "lpips"}).new_heads(3).monotone
