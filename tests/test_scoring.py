"""Tests for dpsim.scoring: hand-worked 2AFC and JND cases, a slow reference AP, and validation."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from dpsim.scoring import jnd_average_precision, two_afc_score, two_afc_scores

# --------------------------------------------------------------------------------------------------
# 2AFC, worked by hand
# --------------------------------------------------------------------------------------------------


def test_2afc_metric_picks_p0_scores_share_who_prefer_p0() -> None:
    # d0 < d1: the metric picks p0; 1 - h = 80% of people agree.
    assert two_afc_scores([0.1], [0.3], [0.2]) == pytest.approx([0.8])


def test_2afc_metric_picks_p1_scores_share_who_prefer_p1() -> None:
    # d1 < d0: the metric picks p1; h = 20% of people agree.
    assert two_afc_scores([0.3], [0.1], [0.2]) == pytest.approx([0.2])


@pytest.mark.parametrize("judge", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_2afc_tie_scores_half_whatever_the_judge(judge: float) -> None:
    assert two_afc_scores([0.4], [0.4], [judge]) == pytest.approx([0.5])


def test_2afc_mixed_batch_mean() -> None:
    d0 = [0.1, 0.5, 0.3, 0.2]
    d1 = [0.2, 0.4, 0.3, 0.9]
    judge = [0.2, 0.7, 0.9, 0.6]
    # item 0: d0 < d1, picks p0 -> 1 - 0.2 = 0.8
    # item 1: d1 < d0, picks p1 -> 0.7
    # item 2: tie               -> 0.5
    # item 3: d0 < d1, picks p0 -> 1 - 0.6 = 0.4
    # mean = (0.8 + 0.7 + 0.5 + 0.4) / 4 = 2.4 / 4 = 0.6
    np.testing.assert_allclose(two_afc_scores(d0, d1, judge), [0.8, 0.7, 0.5, 0.4], atol=1e-15)
    assert two_afc_score(d0, d1, judge) == pytest.approx(0.6, abs=1e-15)


def test_2afc_hard_labels_are_accuracy() -> None:
    # Contexts: h in {0, 1}. Picks p0, p1, p0, p1; labels say p0, p0, p1, p1 -> right, wrong,
    # wrong, right -> accuracy 0.5.
    d0 = [1.0, 3.0, 1.0, 3.0]
    d1 = [2.0, 2.0, 2.0, 2.0]
    judge = [0, 0, 1, 1]
    np.testing.assert_array_equal(two_afc_scores(d0, d1, judge), [1.0, 0.0, 0.0, 1.0])
    assert two_afc_score(d0, d1, judge) == 0.5


def test_2afc_returns_float64_array_and_python_float() -> None:
    scores = two_afc_scores(np.array([1, 2], dtype=np.int32), [2, 1], [0, 1])
    assert isinstance(scores, np.ndarray)
    assert scores.dtype == np.float64
    assert scores.shape == (2,)
    assert type(two_afc_score([1, 2], [2, 1], [0, 1])) is float


# --------------------------------------------------------------------------------------------------
# 2AFC, properties
# --------------------------------------------------------------------------------------------------


def _random_triplets(seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    # Distances on a coarse grid so that ties occur.
    d0 = gen.integers(0, 5, size=n) / 4
    d1 = gen.integers(0, 5, size=n) / 4
    judge = gen.uniform(0, 1, size=n)
    return d0, d1, judge


@pytest.mark.parametrize("seed", range(5))
def test_2afc_mean_lies_in_unit_interval(seed: int) -> None:
    scores = two_afc_scores(*_random_triplets(seed))
    assert np.all((scores >= 0) & (scores <= 1))
    assert 0.0 <= two_afc_score(*_random_triplets(seed)) <= 1.0


@pytest.mark.parametrize("seed", range(5))
def test_2afc_swapping_patches_and_flipping_judge_changes_nothing(seed: int) -> None:
    d0, d1, judge = _random_triplets(seed)
    np.testing.assert_allclose(
        two_afc_scores(d1, d0, 1.0 - judge), two_afc_scores(d0, d1, judge), atol=1e-15
    )


def test_2afc_perfect_and_worst_metric_on_hard_labels() -> None:
    d0, d1 = np.array([0.1, 0.9, 0.3]), np.array([0.5, 0.2, 0.8])
    agrees = (d1 < d0).astype(float)  # label says p1 closer exactly where the metric says so
    assert two_afc_score(d0, d1, agrees) == 1.0
    assert two_afc_score(d0, d1, 1.0 - agrees) == 0.0


# --------------------------------------------------------------------------------------------------
# JND, worked by hand
# --------------------------------------------------------------------------------------------------


def test_jnd_all_pairs_same_gives_ap_one() -> None:
    assert jnd_average_precision([0.3, 0.1, 0.7, 0.2], [1, 1, 1, 1]) == 1.0


def test_jnd_no_pair_same_gives_nan_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(jnd_average_precision([0.3, 0.1, 0.7], [0, 0, 0]))


def test_jnd_hard_labels_by_hand() -> None:
    distances = [0.4, 0.1, 0.3, 0.2]
    same = [0, 1, 1, 0]
    # Ranked by distance: 0.1 (1), 0.2 (0), 0.3 (1), 0.4 (0).
    #   tp        = 1,   1,   2,   2
    #   fp        = 0,   1,   1,   2
    #   precision = 1,   1/2, 2/3, 1/2
    #   recall    = 1/2, 1/2, 1,   1
    # Padded recall    = 0, 1/2, 1/2, 1,   1,   1
    # Padded precision = 0, 1,   1/2, 2/3, 1/2, 0
    # Envelope         = 1, 1,   2/3, 2/3, 1/2, 0
    # Recall changes 0 -> 1/2 (envelope 1) and 1/2 -> 1 (envelope 2/3):
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    assert jnd_average_precision(distances, same) == pytest.approx(5 / 6, abs=1e-15)


def test_jnd_soft_labels_by_hand() -> None:
    distances = [0.2, 0.1, 0.3]
    same = [1.0, 0.5, 0.0]
    # Ranked: 0.1 (0.5), 0.2 (1.0), 0.3 (0.0); total same mass 1.5.
    #   tp        = 0.5, 1.5,  1.5
    #   fp        = 0.5, 0.5,  1.5
    #   precision = 1/2, 3/4,  1/2
    #   recall    = 1/3, 1,    1
    # Padded recall    = 0, 1/3, 1,   1,   1
    # Padded precision = 0, 1/2, 3/4, 1/2, 0
    # Envelope         = 3/4, 3/4, 3/4, 1/2, 0
    # AP = 1/3 * 3/4 + 2/3 * 3/4 = 3/4
    assert jnd_average_precision(distances, same) == pytest.approx(0.75, abs=1e-15)


def test_jnd_ties_keep_input_order() -> None:
    # Both pairs at distance 0.2; the stable sort keeps input order.
    # same = [1, 0]: ranked 1, 0 -> precision 1, 1/2; recall 1, 1 -> AP = 1 * 1 = 1.
    assert jnd_average_precision([0.2, 0.2], [1, 0]) == 1.0
    # same = [0, 1]: ranked 0, 1 -> precision 0, 1/2; recall 0, 1 -> AP = 1 * 1/2 = 1/2.
    assert jnd_average_precision([0.2, 0.2], [0, 1]) == 0.5
    # A tie among many pairs with other distances around it: the tie block keeps its order too.
    # distances 0.5, 0.1, 0.5, 0.9 ; same 0, 1, 1, 0 -> ranked 0.1 (1), 0.5 (0), 0.5 (1), 0.9 (0),
    # the same ranking as test_jnd_hard_labels_by_hand -> AP 5/6. Swapping the tied labels gives
    # ranked 1, 1, 0, 0 -> AP 1.
    assert jnd_average_precision([0.5, 0.1, 0.5, 0.9], [0, 1, 1, 0]) == pytest.approx(5 / 6)
    assert jnd_average_precision([0.5, 0.1, 0.5, 0.9], [1, 1, 0, 0]) == 1.0


def test_jnd_worst_ranking_by_hand() -> None:
    # Ranked 0, 0, 1: precision 0, 0, 1/3; recall 0, 0, 1 -> AP = 1 * 1/3.
    assert jnd_average_precision([0.1, 0.2, 0.3], [0, 0, 1]) == pytest.approx(1 / 3, abs=1e-15)


# --------------------------------------------------------------------------------------------------
# JND, against a slow independent reference
# --------------------------------------------------------------------------------------------------


def _reference_average_precision(distances: list[float], same: list[float]) -> float:
    """Plain-Python AP: for each distinct recall level, the best precision at that recall or above.

    Ranking sorts (distance, input position) pairs, which is what a stable sort by distance gives.
    """
    ranked = [same[i] for _, i in sorted((d, i) for i, d in enumerate(distances))]
    total = sum(ranked)
    points = []  # (recall, precision) after each rank
    true_positives = 0.0
    for rank, label in enumerate(ranked, start=1):
        true_positives += label
        points.append((true_positives / total, true_positives / rank))
    levels = sorted({recall for recall, _ in points if recall > 0})
    area = 0.0
    previous_level = 0.0
    for level in levels:
        best_precision = max(precision for recall, precision in points if recall >= level)
        area += (level - previous_level) * best_precision
        previous_level = level
    return area


def _random_jnd_case(seed: int) -> tuple[list[float], list[float]]:
    gen = np.random.default_rng(1000 + seed)
    n = int(gen.integers(1, 30))
    with_ties = seed % 2 == 0
    soft = seed % 4 >= 2
    distances = gen.integers(0, 4, size=n) / 3 if with_ties else gen.uniform(0, 2, size=n)
    same = gen.uniform(0, 1, size=n) if soft else gen.integers(0, 2, size=n).astype(float)
    if soft:
        same[gen.uniform(size=n) < 0.3] = 0.0  # some pairs with no same mass at all
    if same.sum() == 0:
        same[int(gen.integers(0, n))] = 1.0
    return distances.tolist(), same.tolist()


@pytest.mark.parametrize("seed", range(50))
def test_jnd_matches_slow_reference(seed: int) -> None:
    distances, same = _random_jnd_case(seed)
    expected = _reference_average_precision(distances, same)
    assert jnd_average_precision(distances, same) == pytest.approx(expected, abs=1e-12, rel=0)


def test_reference_agrees_with_hand_worked_cases() -> None:
    # Guards the reference itself against the same cases worked by hand above.
    assert _reference_average_precision([0.4, 0.1, 0.3, 0.2], [0, 1, 1, 0]) == pytest.approx(5 / 6)
    assert _reference_average_precision([0.2, 0.1, 0.3], [1.0, 0.5, 0.0]) == pytest.approx(0.75)
    assert _reference_average_precision([0.2, 0.2], [0, 1]) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(5))
def test_jnd_perfect_ranking_of_hard_labels_is_one(seed: int) -> None:
    gen = np.random.default_rng(seed)
    distances = gen.uniform(0, 1, size=25)
    n_same = int(gen.integers(1, 25))
    same = np.zeros(25)
    same[np.argsort(distances)[:n_same]] = 1.0  # the closest pairs are exactly the "same" ones
    assert jnd_average_precision(distances, same) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_jnd_lies_in_unit_interval(seed: int) -> None:
    distances, same = _random_jnd_case(seed)
    assert 0.0 <= jnd_average_precision(distances, same) <= 1.0


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def test_length_mismatch_names_the_lengths() -> None:
    with pytest.raises(ValueError, match=r"equal lengths, got d0=3, d1=2, judge=3"):
        two_afc_scores([0.1, 0.2, 0.3], [0.1, 0.2], [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match=r"equal lengths, got distances=2, same=1"):
        jnd_average_precision([0.1, 0.2], [1.0])


def test_judge_above_one_quotes_min_and_max() -> None:
    with pytest.raises(ValueError, match=r"judge must lie within \[0, 1\], got min=0\.1, max=1\.5"):
        two_afc_scores([0.1, 0.2], [0.2, 0.1], [0.1, 1.5])


def test_same_below_zero_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"same must lie within \[0, 1\], got min=-0\.5"):
        jnd_average_precision([0.1, 0.2], [-0.5, 1.0])


def test_nan_distance_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"distances must be finite.*first at index 1"):
        jnd_average_precision([0.1, float("nan")], [1.0, 0.0])
    with pytest.raises(ValueError, match=r"d1 must be finite"):
        two_afc_scores([0.1], [float("inf")], [0.5])


def test_nan_judge_is_rejected_as_non_finite() -> None:
    with pytest.raises(ValueError, match=r"judge must be finite"):
        two_afc_scores([0.1], [0.2], [float("nan")])


def test_empty_input_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"must be non-empty"):
        two_afc_score([], [], [])
    with pytest.raises(ValueError, match=r"must be non-empty"):
        jnd_average_precision([], [])


def test_two_dimensional_input_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"d0 must be a 1-D array, got shape \(2, 1\)"):
        two_afc_scores([[0.1], [0.2]], [0.1, 0.2], [0.5, 0.5])


def test_non_numeric_input_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"distances must be numeric"):
        jnd_average_precision(["near", "far"], [1.0, 0.0])


# --------------------------------------------------------------------------------------------------
# Input types
# --------------------------------------------------------------------------------------------------


def test_torch_tensors_are_accepted() -> None:
    d0 = torch.tensor([0.25, 0.75], requires_grad=True)
    d1 = torch.tensor([0.5, 0.5])
    judge = torch.tensor([0.25, 0.5], dtype=torch.float64)
    # item 0: d0 < d1 -> 1 - 0.25 = 0.75; item 1: d1 < d0 -> 0.5.
    scores = two_afc_scores(d0, d1, judge)
    assert isinstance(scores, np.ndarray)
    assert scores.dtype == np.float64
    np.testing.assert_array_equal(scores, [0.75, 0.5])
    assert two_afc_score(d0, d1, judge) == 0.625
    ap = jnd_average_precision(torch.tensor([0.4, 0.1, 0.3, 0.2]), torch.tensor([0, 1, 1, 0]))
    assert ap == pytest.approx(5 / 6)


def test_module_imports_without_torch() -> None:
    code = "import sys; sys.modules['torch'] = None; import dpsim.scoring"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
