"""Tests for dpsim.stats: expectations come from simulation truths or hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from dpsim.stats import (
    context_improvement_table,
    correct,
    non_inferiority,
    paired_context_test,
)


def _simulate(rng: np.random.Generator, n: int, p_a: float, p_b: float):
    return (rng.random(n) < p_a).astype(float), (rng.random(n) < p_b).astype(float)


def test_planted_effect_detected() -> None:
    rng = np.random.default_rng(123)
    adapted, baseline = _simulate(rng, 400, 0.8, 0.6)
    res = paired_context_test(adapted, baseline, seed=1)
    assert res["p"] < 1e-3
    assert res["effect"] == pytest.approx(0.2, abs=0.06)
    assert res["ci_low"] < 0.2 < res["ci_high"]
    assert res["n"] == 400
    assert res["n_adapted_better"] == int(np.sum((adapted == 1) & (baseline == 0)))
    assert res["n_baseline_better"] == int(np.sum((adapted == 0) & (baseline == 1)))


def test_null_rejection_rate_controlled() -> None:
    rng = np.random.default_rng(2024)
    rejections = 0
    for _ in range(300):
        adapted, baseline = _simulate(rng, 400, 0.7, 0.7)
        rejections += paired_context_test(adapted, baseline, n_boot=10)["p"] < 0.05
    assert rejections / 300 <= 0.07


def test_mcnemar_matches_hand_count() -> None:
    adapted = np.array([1, 1, 1, 0, 0.5, 1, 0, 1])
    baseline = np.array([0, 0, 1, 1, 0, 0.5, 0, 0])
    # adapted higher at items 0, 1, 4, 5, 7; baseline higher at item 3.
    res = paired_context_test(adapted, baseline, n_boot=50)
    assert (res["n_adapted_better"], res["n_baseline_better"]) == (5, 1)
    assert res["p"] == pytest.approx(binomtest(5, 6, 0.5).pvalue)
    assert res["p"] == pytest.approx(14 / 64)
    assert res["effect"] == pytest.approx((5.5 - 2.5) / 8)


def test_no_discordant_pairs_gives_p_one() -> None:
    scores = np.array([1.0, 0.0, 0.5])
    res = paired_context_test(scores, scores.copy(), n_boot=20)
    assert res["p"] == 1.0
    assert res["effect"] == 0.0


def test_paired_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match=r"differ in length"):
        paired_context_test(np.ones(3), np.ones(4))


def test_holm_and_bh_by_hand() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # Holm: sorted 0.01*4, 0.03*3, 0.04*2 -> monotone max 0.09, 0.5*1.
    np.testing.assert_allclose(correct(p, "holm"), [0.04, 0.09, 0.09, 0.5])
    # BH: 0.01*4/1, 0.03*4/2, 0.04*4/3, 0.5 -> running min from the top.
    np.testing.assert_allclose(correct(p, "fdr_bh"), [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_correct_rejects_unknown_method() -> None:
    with pytest.raises(ValueError, match=r"method must be one of"):
        correct(np.array([0.1]), "bonferroni")


def _rows(network: str, context: str, variant: str, scores: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "network": network,
            "variant": variant,
            "context": context,
            "seed": 0,
            "dataset": "context",
            "kind": "2afc",
            "subset": "test",
            "item": np.arange(scores.size),
            "score": scores,
        }
    )


def test_context_improvement_table() -> None:
    rng = np.random.default_rng(7)
    frames = []
    truth = {"ctx_up": (0.9, 0.5), "ctx_down": (0.4, 0.8), "ctx_flat": (0.6, 0.6)}
    for context, (p_a, p_b) in truth.items():
        adapted, baseline = _simulate(rng, 200, p_a, p_b)
        frames += [
            _rows("alex", context, "adapted", adapted),
            _rows("alex", context, "baseline", baseline),
        ]
    lonely = _rows("alex", "ctx_orphan", "adapted", np.ones(5))
    bapps = _rows("alex", "ctx_up", "adapted", np.zeros(5)).assign(dataset="bapps")
    table = context_improvement_table(pd.concat([*frames, lonely, bapps]), "adapted")
    expected = [
        "hypothesis",
        "network",
        "context",
        "variant",
        "statistic",
        "p",
        "p_holm",
        "p_bh",
        "effect",
        "ci_low",
        "ci_high",
        "n",
        "improved",
        "improved_significant",
    ]
    assert list(table.columns[: len(expected)]) == expected
    assert len(table) == 3
    by_ctx = table.set_index("context")
    assert by_ctx.loc["ctx_up", "improved"]
    assert by_ctx.loc["ctx_up", "improved_significant"]
    assert not by_ctx.loc["ctx_down", "improved"]
    assert not by_ctx.loc["ctx_down", "improved_significant"]
    assert not by_ctx.loc["ctx_flat", "improved_significant"]
    assert (table["n"] == 200).all()
    assert (table["p_holm"] >= table["p"]).all()


def test_non_inferiority_clear_cases() -> None:
    rng = np.random.default_rng(3)
    good = non_inferiority(rng.normal(0.0, 0.01, 12), margin=0.02)
    bad = non_inferiority(rng.normal(-0.06, 0.01, 12), margin=0.02)
    assert good["non_inferior"]
    assert not bad["non_inferior"]
    assert bad["wilcoxon_p"] < 0.01
    assert good["ci_low"] < good["mean_delta"] < good["ci_high"]


def test_non_inferiority_null_rate() -> None:
    rng = np.random.default_rng(11)
    margin = 0.02
    hits = sum(
        non_inferiority(rng.normal(-margin, 0.02, 10), margin)["non_inferior"] for _ in range(400)
    )
    assert hits / 400 <= 0.08


def test_non_inferiority_degenerate_inputs() -> None:
    zeros = non_inferiority(np.zeros(5), margin=0.01)
    assert np.isnan(zeros["wilcoxon_p"])
    assert np.isnan(zeros["ni_p"])
    assert not zeros["non_inferior"]
    assert zeros["note"]
    single = non_inferiority(np.array([0.1]), margin=0.01)
    assert np.isnan(single["ni_p"])
    assert "at least 2" in single["note"]
