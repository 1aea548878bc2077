"""The two BAPPS scores: two-alternative forced choice (2AFC) agreement and JND mAP.

Both scores come from the BAPPS benchmark introduced with LPIPS by Zhang, Isola, Efros, Shechtman
and Wang, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric" (CVPR 2018).
They measure how well a distance agrees with human judgements of similarity.

2AFC score
    Each item is a triplet: a reference and two distorted patches p0 and p1. A metric gives the
    distances ``d0`` and ``d1`` of p0 and p1 to the reference; humans give ``h``, the share of
    people who found p1 closer to the reference. The metric "votes" for the patch it finds closer,
    and scores the share of people who agree with that vote::

        s = (d0 < d1) * (1 - h) + (d1 < d0) * h + 0.5 * (d0 == d1)

    A tie in distance is a coin toss and scores 0.5 whatever ``h`` is. The benchmark score is the
    mean over items. Contexts of similarity use the same formula with hard labels (``h`` is 0 or 1),
    where the score is plain accuracy.

JND mAP
    Each item is a pair of patches, and ``same`` is the share of people who judged the two patches
    identical (a just-noticeable-difference test). A good metric gives small distances to pairs
    people cannot tell apart. Pairs are ranked by distance, ascending, and ``same`` acts as a soft
    positive label; the score is the (VOC-style, all-point) average precision of that ranking.

All functions accept 1-D NumPy arrays, lists, or torch tensors (converted to float64 NumPy arrays;
torch is never imported here), and raise ``ValueError`` on malformed input.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# ``ArrayLike`` covers torch tensors too (they implement ``__array__``); they are detached and moved
# to the CPU before conversion, so tensors on any device and with gradients are accepted.


# --------------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------------


def _to_float_vector(name: str, values: ArrayLike) -> np.ndarray:
    """``values`` as a 1-D float64 array; torch tensors are detached and moved to the CPU first."""
    if hasattr(values, "detach"):
        values = values.detach().cpu()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be numeric, got {type(values).__name__}: {error}") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    return array


def _check_same_nonzero_length(arrays: dict[str, np.ndarray]) -> None:
    """Raise if the arrays differ in length or are empty, naming every length received."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        received = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise ValueError(f"inputs must have equal lengths, got {received}")
    if next(iter(lengths.values())) == 0:
        raise ValueError(f"inputs must be non-empty, got {', '.join(lengths)} of length 0")


def _check_finite(name: str, array: np.ndarray) -> None:
    """Raise if ``array`` holds NaN or infinity, saying how many and where the first one is."""
    not_finite = ~np.isfinite(array)
    if not_finite.any():
        first = int(np.argmax(not_finite))
        raise ValueError(
            f"{name} must be finite, got {int(not_finite.sum())} non-finite value(s), "
            f"first at index {first}: {array[first]}"
        )


def _check_unit_interval(name: str, array: np.ndarray) -> None:
    """Raise if ``array`` has values outside [0, 1], quoting its minimum and maximum."""
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"{name} must lie within [0, 1], got min={low!r}, max={high!r}")


def _validated(
    distances: dict[str, ArrayLike], shares: dict[str, ArrayLike]
) -> tuple[np.ndarray, ...]:
    """Convert and check all inputs: distances must be finite, shares finite and within [0, 1].

    Returns the arrays in the order given: every distance, then every share.
    """
    arrays = {name: _to_float_vector(name, values) for name, values in distances.items()}
    arrays |= {name: _to_float_vector(name, values) for name, values in shares.items()}
    _check_same_nonzero_length(arrays)
    for name, array in arrays.items():
        _check_finite(name, array)
    for name in shares:
        _check_unit_interval(name, arrays[name])
    return tuple(arrays.values())


# --------------------------------------------------------------------------------------------------
# 2AFC
# --------------------------------------------------------------------------------------------------


def two_afc_scores(d0: ArrayLike, d1: ArrayLike, judge: ArrayLike) -> np.ndarray:
    """Per-triplet 2AFC score: the share of humans who agree with the metric's choice.

    Args:
        d0: distances of patch p0 to the reference, shape ``(n,)``.
        d1: distances of patch p1 to the reference, shape ``(n,)``.
        judge: share of humans who found p1 closer to the reference, within [0, 1], shape
            ``(n,)``; 0 or 1 for hard labels (contexts).

    Returns:
        Scores of shape ``(n,)``, float64, within [0, 1]: ``1 - h`` where the metric picks p0
        (``d0 < d1``), ``h`` where it picks p1, and 0.5 on a tie.

    Raises:
        ValueError: inputs not 1-D, of unequal or zero length, not finite, or ``judge`` outside
            [0, 1].
    """
    d0_array, d1_array, judge_array = _validated({"d0": d0, "d1": d1}, {"judge": judge})
    picks_p0 = d0_array < d1_array
    picks_p1 = d1_array < d0_array
    is_tie = d0_array == d1_array
    return picks_p0 * (1.0 - judge_array) + picks_p1 * judge_array + 0.5 * is_tie


def two_afc_score(d0: ArrayLike, d1: ArrayLike, judge: ArrayLike) -> float:
    """Mean 2AFC score over triplets (the BAPPS 2AFC benchmark number); see :func:`two_afc_scores`.

    Args:
        d0: distances of patch p0 to the reference, shape ``(n,)``.
        d1: distances of patch p1 to the reference, shape ``(n,)``.
        judge: share of humans who found p1 closer to the reference, within [0, 1], shape ``(n,)``.

    Returns:
        The mean score, a float within [0, 1].
    """
    return float(np.mean(two_afc_scores(d0, d1, judge)))


# --------------------------------------------------------------------------------------------------
# JND mAP
# --------------------------------------------------------------------------------------------------


def _precision_recall(same_in_rank_order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each rank, with ``same`` counted as soft true positives.

    The total ``same`` mass is taken as the last cumulative sum, so recall ends at exactly 1.
    """
    true_positives = np.cumsum(same_in_rank_order)
    false_positives = np.cumsum(1.0 - same_in_rank_order)
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / true_positives[-1]
    return precision, recall


def _voc_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """All-point (non-interpolated, PASCAL VOC 2010+) average precision of a precision/recall curve.

    Recall is padded with 0 and 1, precision with 0 at both ends; precision is replaced by its
    non-increasing envelope from the right (the best precision at this recall or any higher one),
    and AP is the area under that step curve: the sum, over every point where recall changes, of
    the recall step times the envelope precision at the right end of the step.
    """
    padded_recall = np.concatenate(([0.0], recall, [1.0]))
    padded_precision = np.concatenate(([0.0], precision, [0.0]))
    envelope = np.maximum.accumulate(padded_precision[::-1])[::-1]
    step_ends = np.flatnonzero(padded_recall[1:] != padded_recall[:-1]) + 1
    recall_steps = padded_recall[step_ends] - padded_recall[step_ends - 1]
    return float(np.sum(recall_steps * envelope[step_ends]))


def jnd_average_precision(distances: ArrayLike, same: ArrayLike) -> float:
    """JND average precision: how well ranking pairs by distance finds pairs humans call identical.

    Pairs are sorted by distance, ascending, with a *stable* sort: pairs at equal distance keep
    their input order, so the result is deterministic (but, as with any ranking metric, can depend
    on that order when distances tie). ``same`` is a soft positive label: a pair with ``same=0.7``
    adds 0.7 to the true positives and 0.3 to the false positives. The AP is VOC-style, all-point
    (see :func:`_voc_average_precision`).

    Args:
        distances: one distance per pair, shape ``(n,)``.
        same: share of humans who judged each pair identical, within [0, 1], shape ``(n,)``.

    Returns:
        The average precision, a float within [0, 1]; ``nan`` when ``sum(same) == 0`` (no positive
        mass, so recall and AP are undefined). No warning is issued for that case: callers that
        average over several sets should check with :func:`math.isnan` / :func:`numpy.isnan`.

    Raises:
        ValueError: inputs not 1-D, of unequal or zero length, not finite, or ``same`` outside
            [0, 1].
    """
    distance_array, same_array = _validated({"distances": distances}, {"same": same})
    if not np.any(same_array > 0.0):
        return float("nan")
    rank_order = np.argsort(distance_array, kind="stable")
    precision, recall = _precision_recall(same_array[rank_order])
    return _voc_average_precision(precision, recall)
