"""Contexts: the reference generator, labels on hand-made cases, rank distances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from dpsim import contexts as C
from dpsim.names import DISTORTIONS

ROTATE, TRANSLATE, DARKEN, COLOR, BLUR, ZOOM = range(6)
STUDY_FIRST = ("color", "zoom_in", "rotate", "translate", "darken", "blur")


def test_reference_generator_first_ranking_is_the_studys():
    assert C.reference_rankings(1)[0].ranking == STUDY_FIRST


def test_reference_generator_yields_92_distinct_among_the_first_100():
    first_100 = C.reference_rankings(100)
    assert len(first_100) == 100
    assert len({c.ranking for c in first_100}) == 92
    assert [c.generator_index for c in first_100] == list(range(100))


def test_distinct_only_skips_repeats_but_keeps_generator_order():
    yielded = [c.ranking for c in C.reference_rankings(100)]
    distinct = C.reference_rankings(100, distinct=True)
    assert len({c.ranking for c in distinct}) == 100
    first_seen = list(dict.fromkeys(yielded))
    assert [c.ranking for c in distinct[:92]] == first_seen
    for context in distinct[:92]:
        assert yielded[context.generator_index] == context.ranking


def test_context_names_are_stable_ids():
    assert [c.name for c in C.reference_rankings(3)] == ["c000", "c001", "c002"]


def test_labels_follow_the_ranking_on_hand_made_triplets():
    # In STUDY_FIRST, color is most similar, then zoom_in, rotate, translate, darken, blur.
    d0 = np.array([COLOR, BLUR, ZOOM, ROTATE, DARKEN, TRANSLATE])
    d1 = np.array([BLUR, COLOR, ROTATE, ZOOM, TRANSLATE, DARKEN])
    assert C.labels(STUDY_FIRST, d0, d1, DISTORTIONS).tolist() == [0, 1, 0, 1, 1, 0]


def test_labels_under_the_identity_and_its_reverse_are_complementary():
    pairs = np.array([(a, b) for a in range(6) for b in range(6) if a != b])
    identity = C.labels(C.IDENTITY, pairs[:, 0], pairs[:, 1], DISTORTIONS)
    reverse = C.labels(tuple(reversed(C.IDENTITY)), pairs[:, 0], pairs[:, 1], DISTORTIONS)
    assert identity.tolist() == (pairs[:, 0] > pairs[:, 1]).astype(int).tolist()
    assert np.all(identity + reverse == 1)


def test_labels_refuse_equal_distortions():
    with pytest.raises(ValueError, match="different distortions"):
        C.labels(STUDY_FIRST, np.array([1]), np.array([1]), DISTORTIONS)


def test_rank_distances_of_hand_made_cases():
    reverse = tuple(reversed(C.IDENTITY))
    assert C.discordant_pairs(C.IDENTITY, C.IDENTITY) == 0
    assert C.discordant_pairs(C.IDENTITY, reverse) == 15
    assert C.kendall_tau(C.IDENTITY, reverse) == -1.0
    assert C.footrule(C.IDENTITY, reverse) == 5 + 3 + 1 + 1 + 3 + 5
    one_swap = ("translate", "rotate", "darken", "color", "blur", "zoom_in")
    assert C.discordant_pairs(C.IDENTITY, one_swap) == 1
    assert C.footrule(C.IDENTITY, one_swap) == 2


def test_kendall_tau_agrees_with_scipy():
    for ranking in itertools.islice(itertools.permutations(DISTORTIONS), 0, 720, 37):
        expected = stats.kendalltau(
            C.positions(C.IDENTITY, DISTORTIONS), C.positions(ranking, DISTORTIONS)
        ).statistic
        assert C.kendall_tau(C.IDENTITY, ranking) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("ranking", "message"),
    [
        (["color", "zoom_in", "rotate", "translate", "darken"], "missing: blur"),
        (["color", "color", "rotate", "translate", "darken", "blur"], "duplicated: color"),
        (["colour", "zoom_in", "rotate", "translate", "darken", "blur"], "did you mean 'color'"),
    ],
)
def test_malformed_rankings_are_refused_with_the_reason(ranking, message):
    with pytest.raises(ValueError, match=message):
        C.check_ranking(ranking)


def test_listed_rankings_and_table():
    listed = C.listed_rankings([list(STUDY_FIRST), list(C.IDENTITY)])
    table = C.rankings_table(listed, None)
    assert list(table.columns) == list(C.RANKINGS_COLUMNS)
    assert table["context"].tolist() == ["c000", "c001"]
    assert table["kendall_tau"].iloc[1] == 1.0 and table["footrule"].iloc[1] == 0
    assert table["generator_index"].isna().all()
    assert table["order"].iloc[0] == list(STUDY_FIRST)


def test_judged_triplets_label_by_ranking_or_by_their_own_judges():
    d0, d1 = np.array([0, 2, 1]), np.array([1, 0, 2])
    ranked = C.Judged(d0, d1, ("blur", "jpeg", "noise"))
    assert ranked.labels(("noise", "jpeg", "blur")).tolist() == [1, 0, 1]
    chosen = [
        C.Context("a", ("blur", "jpeg", "noise"), None),
        C.Context("b", ("noise", "jpeg", "blur"), None),
    ]
    assert ranked.matrix(chosen).tolist() == [[0, 1], [1, 0], [0, 1]]
    assert ranked.rows(np.array([2])).labels(("blur", "jpeg", "noise")).tolist() == [0]
    people = C.Judged(d0, d1, (), judge=np.array([0.25, 1.0, 0.5]))
    assert people.labels(()).tolist() == [0.25, 1.0, 0.5]  # whatever the ranking
    assert people.rows(slice(1, None)).labels(()).tolist() == [1.0, 0.5]
