"""The best linear readouts of frozen features: planted data, the unit readout by hand, findings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dpsim import caps
from dpsim.contexts import Context, labels
from dpsim.names import DISTORTIONS
from dpsim.report import findings
from dpsim.scoring import two_afc_score


def _planted(n: int, seed: int):
    """Statistics whose labels follow channel 0 minus channel 1: only a negative weight on
    channel 1 ranks them all right; unit weights rank them at chance."""
    rng = np.random.default_rng(seed)
    s0, s1 = rng.random((n, 3)).astype(np.float32), rng.random((n, 3)).astype(np.float32)
    margin = (s0[:, 0] - s1[:, 0]) - 3 * (s0[:, 1] - s1[:, 1])
    return s0, s1, (margin > 0).astype(np.float64)


def test_an_unconstrained_readout_finds_a_planted_negative_weight():
    s0, s1, y = _planted(600, 0)
    x = s0 - s1
    free = caps.fit_weights(x, y[:, None], nonnegative=False)
    clamped = caps.fit_weights(x, y[:, None], nonnegative=True)
    assert (clamped >= 0).all() and free[0, 1] < 0 < free[0, 0]
    score = {name: caps._score(x @ w[0], y) for name, w in (("free", free), ("nn", clamped))}
    assert score["free"] > 0.97 and score["nn"] < score["free"] - 0.1


def _cache(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    ids0 = rng.integers(0, 6, n)
    ids1 = (ids0 + rng.integers(1, 6, n)) % 6
    return {
        "s0": rng.random((n, 4)),
        "s1": rng.random((n, 4)),
        "d0": ids0,
        "d1": ids1,
        "distortions": DISTORTIONS,
    }


def test_cap_table_rows_and_the_unit_readout_by_hand():
    chosen = [Context("c0", DISTORTIONS, None), Context("c1", DISTORTIONS[::-1], None)]
    test = _cache(50, 2)
    table = caps.cap_table([_cache(80, 0), _cache(80, 1)], test, chosen, network="net", seed=3)
    assert len(table) == 6 and list(table.columns) == list(caps.COLUMNS)
    unit = table[table["weighting"] == "unit"].set_index("context")
    for context in chosen:  # unit weights: the distances are the statistics' sums
        judge = labels(context.ranking, test["d0"], test["d1"], DISTORTIONS)
        expected = two_afc_score(test["s0"].sum(1), test["s1"].sum(1), judge)
        assert unit.loc[context.name, "score"] == pytest.approx(expected)
    assert table["n"].eq(50).all() and table["seed"].eq(3).all()


def test_cap_findings_say_whether_the_form_or_the_trainer_limits_lin():
    caps_rows = [
        {"network": net, "seed": 0, "context": f"c{k}", "weighting": w, "score": s}
        for net in ("alexnet", "vgg16")
        for k in range(2)
        for w, s in (("unit", 0.52), ("nonnegative", 0.60), ("unconstrained", 0.80))
    ]
    summary = pd.DataFrame(
        [
            {
                "network": net,
                "variant": "lin",
                "context": f"c{k}",
                "seed": 0,
                "dataset": "context",
                "score": score,
            }
            for net, score in (("alexnet", 0.59), ("vgg16", 0.50))
            for k in range(2)
        ]
    )
    first, second = findings.cap_findings(pd.DataFrame(caps_rows), summary)
    assert "0.520 with unit weights, 0.600 with non-negative" in first and "0.800" in first
    assert "lin reaches 0.590: the metric form, not the trainer" in first
    assert "lin stays 0.100 below what its form allows" in second


def test_the_statistics_know_the_caps_columns_without_importing_torch():
    from dpsim import analysis

    assert analysis.CAPS == caps.COLUMNS


def test_the_cap_table_compares_each_variant_on_its_own_contexts():
    caps_rows = [
        {"network": "alexnet", "seed": 0, "context": f"c{k}", "weighting": w, "score": s + k / 10}
        for k in range(3)
        for w, s in (("unit", 0.5), ("nonnegative", 0.6), ("unconstrained", 0.8))
    ]
    summary = pd.DataFrame(
        [
            {"network": "alexnet", "variant": v, "context": f"c{k}", "seed": 0}
            | {"dataset": "context", "score": score + k / 10}
            for v, score, contexts in (("lin", 0.6, 3), ("mix", 0.75, 1))
            for k in range(contexts)
        ]
    )
    table = findings.cap_comparison(pd.DataFrame(caps_rows), summary).set_index("variant")
    assert table.loc["lin", "contexts"] == 3 and table.loc["mix", "contexts"] == 1
    assert table.loc["lin", "unconstrained cap"] == pytest.approx(0.9)  # mean over c0..c2
    mix = table.loc["mix"]  # c0 only: lin 0.6, mix 0.75, cap 0.8
    assert (mix["lin"], mix["unconstrained cap"]) == pytest.approx((0.6, 0.8))
    assert mix["gap closed"] == pytest.approx(0.75)
    sentence = findings.cap_findings(pd.DataFrame(caps_rows), summary)[-1]
    assert "closes 75% of the gap" in sentence and "(at least half)" in sentence
