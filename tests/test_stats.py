"""Tests for dpsim.stats: expectations come from simulation truths or hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, permutation_test, spearmanr
from scipy.stats import norm as sps_norm
from scipy.stats import t as t_dist

from dpsim.stats import (
    baseline_for_seeds,
    bootstrap_p_value,
    context_improvement_table,
    correct,
    mixed_model,
    non_inferiority,
    paired_context_test,
    spearman,
    tost,
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


def test_share_judgments_get_the_paired_bootstrap_test() -> None:
    """Fractional per-item scores (judges that are shares): McNemar cannot count them."""
    rng = np.random.default_rng(5)
    judge = rng.random(300)  # share of judges preferring p1
    majority, minority = np.maximum(judge, 1 - judge), np.minimum(judge, 1 - judge)
    # the adapted metric sides with the judges' majority on 60% of the items, the baseline 50%
    adapted = np.where(rng.random(300) < 0.6, majority, minority)
    baseline = np.where(rng.random(300) < 0.5, majority, minority)
    res = paired_context_test(adapted, baseline, seed=3, n_boot=2000)
    assert res["test"] == "paired_bootstrap"
    assert res["statistic"] == pytest.approx(adapted.mean() - baseline.mean())
    # the bootstrap p against a normal approximation of the same paired mean difference
    diffs = adapted - baseline
    z = diffs.mean() / (diffs.std(ddof=1) / np.sqrt(len(diffs)))
    normal_p = 2 * (1 - sps_norm.cdf(abs(z)))
    floor = 1 / 2001  # the smallest p 2000 resamples can give
    assert res["p"] == pytest.approx(max(normal_p, floor), abs=0.02)
    null = paired_context_test(baseline, baseline[::-1].copy(), seed=3, n_boot=500)
    assert null["test"] == "paired_bootstrap" and null["p"] > 0.05
    binary = paired_context_test(np.array([1.0, 0.5, 0.0]), np.array([0.0, 0.5, 1.0]), n_boot=5)
    assert binary["test"] == "mcnemar_exact"


def test_bootstrap_p_of_a_sure_shift_is_its_floor_and_of_no_shift_one() -> None:
    assert bootstrap_p_value(np.full(50, 0.3) + np.linspace(0, 0.01, 50), 99, 0) == 0.01
    assert bootstrap_p_value(np.zeros(20), 99, 0) == 1.0


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
    # No change at all (float noise included) is non-inferior and equivalent, with a note.
    assert zeros["ni_p"] == 0.0 and zeros["non_inferior"] and zeros["equivalent"]
    assert "no spread" in zeros["note"]
    noisy = non_inferiority(np.array([6.2e-10, 0.0, 0.0]), margin=0.02)
    assert noisy["non_inferior"] and "no spread" in noisy["note"]
    harmful = non_inferiority(np.full(4, -0.05), margin=0.01)
    assert harmful["ni_p"] == 1.0 and not harmful["non_inferior"] and not harmful["equivalent"]
    single = non_inferiority(np.array([0.1]), margin=0.01)
    assert np.isnan(single["ni_p"])
    assert "at least 2" in single["note"]


def test_tost_matches_the_t_formula_by_hand() -> None:
    deltas = np.array([0.004, -0.002, 0.001, 0.003, -0.001, 0.0])
    margin = 0.01
    n, mean, sd = deltas.size, deltas.mean(), deltas.std(ddof=1)
    se = sd / np.sqrt(n)
    lower = t_dist.sf((mean + margin) / se, n - 1)
    upper = t_dist.cdf((mean - margin) / se, n - 1)
    res = tost(deltas, margin)
    assert res["tost_lower_p"] == pytest.approx(lower)
    assert res["tost_upper_p"] == pytest.approx(upper)
    assert res["tost_p"] == pytest.approx(max(lower, upper))


def test_tost_equivalence_needs_both_bounds() -> None:
    rng = np.random.default_rng(5)
    inside = non_inferiority(rng.normal(0.0, 0.005, 20), margin=0.02)
    above = non_inferiority(rng.normal(0.05, 0.005, 20), margin=0.02)
    assert inside["equivalent"] and inside["non_inferior"]
    # Far better than the baseline: non-inferior, but not equivalent.
    assert above["non_inferior"] and not above["equivalent"]


def test_tost_null_rate_at_the_bound() -> None:
    rng = np.random.default_rng(8)
    hits = sum(tost(rng.normal(0.02, 0.02, 12), 0.02)["tost_p"] < 0.05 for _ in range(400))
    assert hits / 400 <= 0.08


def test_spearman_exact_p_matches_a_permutation_test() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=7)
    y = x + rng.normal(size=7)
    rho, p, note = spearman(x, y)
    reference = permutation_test(
        (y,),
        lambda yy: spearmanr(x, yy).statistic,
        permutation_type="pairings",
        n_resamples=np.inf,
    )
    assert rho == pytest.approx(spearmanr(x, y).statistic)
    assert p == pytest.approx(reference.pvalue)
    assert "exact" in note


def test_spearman_three_contexts_in_perfect_order() -> None:
    # 2 of the 3! orderings reach |rho| = 1: p = 1/3, not the t approximation's 0.
    assert spearman([1, 2, 3], [0.2, 0.5, 0.9])[:2] == (pytest.approx(1.0), pytest.approx(1 / 3))


def test_spearman_undefined_cases() -> None:
    assert "at least 3" in spearman([1, 2], [2, 1])[2]
    assert "constant" in spearman([1, 2, 3], [5, 5, 5])[2]
    with pytest.raises(ValueError, match="length"):
        spearman([1, 2, 3], [1, 2])


def _mixed_data(rng, contexts: int, variant_effect: float) -> pd.DataFrame:
    rows = []
    for c in range(contexts):
        difficulty = rng.normal(0, 0.05)
        for variant, shift in (("baseline", 0.0), ("lin", variant_effect)):
            for network, net_shift in (("alexnet", 0.0), ("vgg16", 0.02)):
                score = 0.7 + difficulty + shift + net_shift + rng.normal(0, 0.01)
                rows.append(
                    {"context": f"c{c}", "variant": variant, "network": network, "score": score}
                )
    return pd.DataFrame(rows)


def test_mixed_model_recovers_planted_effects() -> None:
    table = mixed_model(
        _mixed_data(np.random.default_rng(1), 30, 0.03), reference={"variant": "baseline"}
    ).set_index("term")
    lin, vgg = table.loc["variant[T.lin]"], table.loc["network[T.vgg16]"]
    assert lin["ci_low"] < 0.03 < lin["ci_high"] and lin["p"] < 1e-6
    assert vgg["ci_low"] < 0.02 < vgg["ci_high"]
    # The context spread (SD 0.05) is a random effect, not residual noise.
    assert table["group_variance"].iloc[0] == pytest.approx(0.05**2, rel=0.6)
    assert table["converged"].all()
    assert table["formula"].iloc[0] == "score ~ variant * network + (1 | context)"


def test_mixed_model_null_rejection_rate() -> None:
    rng = np.random.default_rng(2)
    rejections = 0
    for _ in range(100):
        table = mixed_model(_mixed_data(rng, 12, 0.0), reference={"variant": "baseline"})
        rejections += table.set_index("term").loc["variant[T.lin]", "p"] < 0.05
    assert rejections / 100 <= 0.1


def test_mixed_model_degenerate_inputs_give_a_note() -> None:
    data = _mixed_data(np.random.default_rng(3), 1, 0.0)
    one_context = mixed_model(data)
    assert one_context["term"].tolist() == ["(model)"]
    assert "2 levels of context" in one_context["note"].iloc[0]
    constant = _mixed_data(np.random.default_rng(3), 4, 0.0).assign(score=0.5)
    assert "constant" in mixed_model(constant)["note"].iloc[0]
    single_network = _mixed_data(np.random.default_rng(3), 6, 0.0)
    single_network = single_network[single_network["network"] == "alexnet"]
    assert mixed_model(single_network)["formula"].iloc[0] == "score ~ variant + (1 | context)"
    with pytest.raises(ValueError, match="lacks columns"):
        mixed_model(data.drop(columns="network"))


def test_baseline_for_seeds_broadcasts_only_single_seed_baselines() -> None:
    base = pd.DataFrame(
        {"network": ["alex", "vgg", "vgg"], "seed": [0, 0, 1], "score": [0.5, 0.6, 0.7]}
    )
    out = baseline_for_seeds(base, [0, 1, 2]).sort_values(["network", "seed"])
    # alex's one baseline serves seeds 0, 1, 2; vgg keeps its own seeds (none for seed 2).
    assert out[["network", "seed", "score"]].values.tolist() == [
        ["alex", 0, 0.5],
        ["alex", 1, 0.5],
        ["alex", 2, 0.5],
        ["vgg", 0, 0.6],
        ["vgg", 1, 0.7],
    ]


def test_the_findings_name_the_test_each_context_got() -> None:
    from dpsim.report.findings import test_words

    assert test_words(pd.DataFrame({"test": ["mcnemar_exact"]})) == "exact McNemar test"
    both = pd.DataFrame({"test": ["paired_bootstrap", "mcnemar_exact"]})
    assert test_words(both) == "exact McNemar test or paired bootstrap test"
    assert test_words(pd.DataFrame({"effect": [0.1]})) == "exact McNemar test"  # older tables
