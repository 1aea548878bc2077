"""The likelihood of people's votes: simulated votes from a known psychometric function."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from scipy.special import expit

from dpsim import likelihood

TRUE_SLOPE = 2.5


def _simulated(count: int, votes: int, seed: int, slope: float = TRUE_SLOPE):
    """Distances and votes drawn from ``p = sigmoid(slope * log(d0 / d1))``."""
    rng = np.random.default_rng(seed)
    d0, d1 = rng.lognormal(0.0, 0.6, count), rng.lognormal(0.0, 0.6, count)
    p = expit(slope * np.log(d0 / d1))
    k = rng.binomial(votes, p)
    return d0, d1, k / votes, np.full(count, votes, dtype=float)


def test_the_fitted_slope_recovers_the_one_the_votes_were_drawn_from():
    d0, d1, judge, votes = _simulated(20000, 2, seed=0)
    k, n = likelihood.vote_counts(judge, votes)
    x = likelihood.log_ratio(d0, d1, 0.0)
    slope = likelihood.fit_slope(x, k, n)
    assert slope == pytest.approx(TRUE_SLOPE, rel=0.05)
    # it is the maximum: nearby slopes make the votes less likely
    total = [likelihood.log_likelihood(likelihood.probability(x, b), k, n).sum() for b in
             (0.8 * slope, slope, 1.2 * slope)]  # fmt: skip
    assert total[1] > total[0] and total[1] > total[2]


def test_scores_lie_between_chance_and_the_ceiling_and_match_the_binomial():
    d0, d1, judge, votes = _simulated(4000, 5, seed=1)
    k, n = likelihood.vote_counts(judge, votes)
    p = likelihood.probability(likelihood.log_ratio(d0, d1, 0.0), TRUE_SLOPE)
    result = likelihood.scores(p, k, n)
    expected = float(np.mean(scipy_stats.binom.logpmf(k, n, p)))
    assert result["log_likelihood"] == pytest.approx(expected, rel=1e-10)
    assert result["chance"] == pytest.approx(float(np.mean(scipy_stats.binom.logpmf(k, n, 0.5))))
    assert result["chance"] < result["log_likelihood"] < result["ceiling"]
    assert 0 < result["normalised"] < 1 and result["brier"] < result["brier_chance"]


def test_the_family_is_swap_symmetric_scale_free_and_chance_when_uninformative():
    d0, d1, judge, votes = _simulated(3000, 5, seed=2)
    x = likelihood.log_ratio(d0, d1, 1e-6)
    swapped = likelihood.log_ratio(d1, d0, 1e-6)
    np.testing.assert_allclose(
        likelihood.probability(swapped, 1.7), 1 - likelihood.probability(x, 1.7), atol=1e-12
    )
    k, n = likelihood.vote_counts(judge, votes)
    scaled = likelihood.fit_slope(
        likelihood.log_ratio(10 * d0, 10 * d1, likelihood.scale_eps(10 * d0, 10 * d1)), k, n
    )
    plain = likelihood.fit_slope(likelihood.log_ratio(d0, d1, likelihood.scale_eps(d0, d1)), k, n)
    assert scaled == pytest.approx(plain, rel=1e-6)
    backwards = likelihood.fit_slope(-x, k, n)  # votes fall with the ratio: no slope fits
    assert backwards == 0.0


def _items(seed: int) -> pd.DataFrame:
    """Evaluation rows of two metrics: one whose distances drew the votes, one of noise."""
    parts = []
    for dataset, votes, count in (("bapps_train", 2, 3000), ("bapps", 5, 2000)):
        d0, d1, judge, n = _simulated(count, votes, seed + votes)
        rng = np.random.default_rng(seed)
        for variant, (a, b) in (
            ("lin", (d0, d1)),
            ("baseline", (rng.lognormal(0, 0.6, count), rng.lognormal(0, 0.6, count))),
        ):
            parts.append(
                pd.DataFrame(
                    {
                        "network": "alexnet",
                        "variant": variant,
                        "context": "c0",
                        "seed": 0,
                        "dataset": dataset,
                        "kind": "2afc",
                        "subset": "traditional",
                        "d0": a,
                        "d1": b,
                        "judge": judge,
                        "votes": n,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def test_the_table_fits_on_train_scores_on_val_and_ranks_the_informative_metric_first():
    items = _items(3)
    table = likelihood.likelihood_table(items).set_index("variant")
    assert set(table["dataset"]) == {"bapps"} and table["fit_items"].eq(3000).all()
    assert table.loc["lin", "slope"] == pytest.approx(TRUE_SLOPE, rel=0.1)
    assert table.loc["baseline", "normalised"] < 0.02 < table.loc["lin", "normalised"]
    assert table.loc["lin", "items"] == 2000 and table.loc["lin", "votes"] == 10000
    gains = likelihood.likelihood_gains(table.reset_index(), "baseline", ["lin"])
    expected = table.loc["lin", "log_likelihood"] - table.loc["baseline", "log_likelihood"]
    assert gains["gain"].item() == pytest.approx(expected) and gains["cases"].item() == 1
    calibration = likelihood.calibration_table(items, table.reset_index(), bins=10)
    lin = calibration[(calibration["variant"] == "lin") & (calibration["items"] >= 150)]
    assert len(lin) >= 6 and (lin["observed"] - lin["predicted"]).abs().max() < 0.06


def test_metrics_without_fit_rows_are_left_out():
    items = _items(4)
    assert likelihood.likelihood_table(items[items["dataset"] == "bapps"]).empty


def test_the_calibration_figure_draws_a_panel_per_network_and_set(tmp_path):
    from dpsim import figures

    items = _items(5)
    table = likelihood.likelihood_table(items)
    drawn = figures.calibration(likelihood.calibration_table(items, table))
    assert [axis.get_title() for axis in drawn.axes] == ["alexnet / bapps"]
    assert len(drawn.axes[0].lines) == 3  # the diagonal and one line per variant
    figures.save_figure(drawn, tmp_path / "calibration.png")
    assert (tmp_path / "calibration.png").stat().st_size > 5000
    empty = figures.calibration(pd.DataFrame(columns=list(likelihood.CALIBRATION_COLUMNS)))
    assert "no data" in empty.texts[0].get_text()
