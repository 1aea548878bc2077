"""Correlation of metric distances with MOS: hand-computed coefficients, the fit, the sign."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from dpsim import correlation
from dpsim.correlation import kendall, logistic_fit, mos_correlations, pearson, spearman


def test_spearman_without_ties_matches_the_rank_difference_formula():
    x, y = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    # ranks equal the values; d = (-1, 1, -1, 1, 0), sum d^2 = 4; rho = 1 - 6 * 4 / (5 * 24)
    expected = 1 - 6 * 4 / (5 * (5**2 - 1))
    assert expected == pytest.approx(0.8)
    assert spearman(x, y)[0] == pytest.approx(expected, abs=1e-12)


def test_spearman_with_ties_is_pearson_on_mid_ranks():
    x, y = [1, 2, 3, 4, 5], [5, 6, 7, 8, 7]
    # y ranks: 5 -> 1, 6 -> 2, the two 7s share (3 + 4) / 2 = 3.5, 8 -> 5
    rank_x, rank_y = [1, 2, 3, 4, 5], [1, 2, 3.5, 5, 3.5]
    dx = [r - 3 for r in rank_x]  # both rank means are 3
    dy = [r - 3 for r in rank_y]
    covariance = sum(a * b for a, b in zip(dx, dy, strict=True))  # 4 + 1 + 0 + 2 + 1 = 8
    expected = covariance / math.sqrt(sum(a * a for a in dx) * sum(b * b for b in dy))
    assert expected == pytest.approx(8 / math.sqrt(10 * 9.5))
    assert spearman(x, y)[0] == pytest.approx(expected, abs=1e-12)


def _tau_b_by_counting(x: list[float], y: list[float]) -> float:
    concordant = discordant = ties_x = ties_y = 0
    for i, j in combinations(range(len(x)), 2):
        sx, sy = np.sign(x[j] - x[i]), np.sign(y[j] - y[i])
        if sx == 0:
            ties_x += 1
        if sy == 0:
            ties_y += 1
        if sx * sy > 0:
            concordant += 1
        elif sx * sy < 0:
            discordant += 1
    pairs = len(x) * (len(x) - 1) // 2
    return (concordant - discordant) / math.sqrt((pairs - ties_x) * (pairs - ties_y))


def test_kendall_tau_b_with_ties_matches_pair_counting():
    x, y = [1, 2, 3, 4, 5], [5, 6, 7, 8, 7]
    # 8 concordant, 1 discordant (8 > 7 at the end), 1 tie in y: (8 - 1) / sqrt(10 * 9)
    assert _tau_b_by_counting(x, y) == pytest.approx(7 / math.sqrt(90))
    assert kendall(x, y)[0] == pytest.approx(7 / math.sqrt(90), abs=1e-12)


def test_kendall_tau_b_with_ties_in_both_variables():
    x, y = [1, 1, 2, 3, 3, 4], [2, 3, 3, 1, 5, 5]
    assert kendall(x, y)[0] == pytest.approx(_tau_b_by_counting(x, y), abs=1e-12)


def test_pearson_and_its_p_value_by_hand():
    x, y = [1, 2, 3, 4], [1, 2, 4, 4]
    # means 2.5 and 2.75; dx = (-1.5, -.5, .5, 1.5), dy = (-1.75, -.75, 1.25, 1.25)
    sxy = 1.5 * 1.75 + 0.5 * 0.75 + 0.5 * 1.25 + 1.5 * 1.25  # 5.5
    sxx = 2 * (1.5**2 + 0.5**2)  # 5
    syy = 1.75**2 + 0.75**2 + 2 * 1.25**2  # 6.75
    r = sxy / math.sqrt(sxx * syy)
    t = r * math.sqrt((4 - 2) / (1 - r**2))
    coefficient, p = pearson(x, y)
    assert coefficient == pytest.approx(r, abs=1e-12)
    assert p == pytest.approx(2 * stats.t.sf(t, df=2), rel=1e-9)
    assert isinstance(coefficient, float) and isinstance(p, float)


@pytest.mark.parametrize("function", [spearman, kendall, pearson])
@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([1, 2, 3], [1, 2], "same length, got 3 and 2"),
        ([1, 2], [2, 1], "at least 3 pairs, got 2"),
        ([1, float("nan"), 3], [1, 2, 3], "x has 1 NaN or infinite value"),
        ([1, 2, 3], [1, 2, float("inf")], "y has 1 NaN or infinite value"),
        ([2, 2, 2], [1, 2, 3], "x is constant"),
        ([1, 2, 3], [4, 4, 4], "y is constant"),
    ],
)
def test_invalid_input_is_rejected_with_the_reason(function, x, y, message):
    with pytest.raises(ValueError, match=message):
        function(x, y)


def _logistic_by_hand(x, b1, b2, b3, b4, b5):
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


def test_logistic_fit_recovers_the_parameters_of_noise_free_data():
    x = np.linspace(0.0, 1.0, 60)
    truth = (-3.0, 12.0, 0.45, -0.5, 3.2)
    fit = logistic_fit(x, _logistic_by_hand(x, *truth))
    assert fit.fit_ok and fit.kind == "logistic5"
    assert fit.params == pytest.approx(truth, rel=1e-5, abs=1e-6)
    grid = np.linspace(-0.2, 1.2, 15)
    assert fit(grid) == pytest.approx(_logistic_by_hand(grid, *truth), abs=1e-6)


def test_plcc_after_the_fit_is_one_for_a_monotone_nonlinear_relation():
    distance = np.linspace(0.0, 1.0, 50)
    mos = 1.0 + 4.0 / (1.0 + np.exp(10.0 * (distance - 0.3)))
    result = mos_correlations(distance, mos)
    assert result["plcc_raw"] < 0.97
    assert result["plcc"] == pytest.approx(1.0, abs=1e-6)
    assert result["rmse"] == pytest.approx(0.0, abs=1e-4)
    assert result["fit_ok"] is True


@pytest.mark.parametrize("mos", [lambda d: 5.0 - 4.0 * d, lambda d: (d > 0.5).astype(float)])
def test_perfect_monotone_relations_do_not_break_the_fit(mos):
    distance = np.linspace(0.0, 1.0, 40)
    result = mos_correlations(distance, mos(distance), higher_is_better=False)
    assert result["plcc"] == pytest.approx(1.0, abs=1e-6)
    assert result["fit_ok"] is True


def test_too_few_points_fall_back_to_a_line():
    fit = logistic_fit([1, 2, 3, 4, 5], [1, 2, 3, 5, 4])
    # least squares by hand: slope = sum(dx dy) / sum(dx^2) = 9 / 10, intercept 3 - 0.9 * 3
    assert (fit.kind, fit.fit_ok) == ("linear", False)
    assert fit.params == pytest.approx((0.9, 0.3))
    assert "5 points" in fit.message


def test_a_failing_optimiser_falls_back_to_a_line(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(correlation.optimize, "curve_fit", fail)
    distance = np.linspace(0.0, 1.0, 20)
    result = mos_correlations(distance, 5.0 - distance**2)
    assert result["fit"] == "linear" and result["fit_ok"] is False
    assert "Optimal parameters not found" in result["fit_note"]
    # the linear map's PLCC is the absolute raw Pearson coefficient
    assert result["plcc"] == pytest.approx(abs(result["plcc_raw"]))


def test_sign_convention_makes_a_good_metric_positive():
    distance = np.array([0.1, 0.2, 0.35, 0.4, 0.6, 0.8, 0.9])
    mos = np.array([4.8, 4.1, 3.9, 3.0, 2.2, 1.9, 1.1])  # falls as the distance grows
    result = mos_correlations(distance, mos, higher_is_better=True)
    assert result["sign"] == -1
    assert result["srocc"] == pytest.approx(1.0)
    assert result["krocc"] == pytest.approx(1.0)
    assert result["plcc_raw"] > 0.95
    dmos = mos_correlations(distance, 6.0 - mos, higher_is_better=False)
    assert dmos["sign"] == 1
    assert dmos["srocc"] == pytest.approx(1.0)


def test_a_backwards_metric_gets_negative_rank_coefficients():
    distance = np.array([0.1, 0.2, 0.35, 0.4, 0.6, 0.8, 0.9])
    mos = np.array([1.1, 1.9, 2.2, 3.0, 3.9, 4.1, 4.8])  # rises with the distance
    result = mos_correlations(distance, mos)
    assert result["srocc"] == pytest.approx(-1.0)
    assert result["plcc_raw"] < 0
    assert result["n"] == 7
