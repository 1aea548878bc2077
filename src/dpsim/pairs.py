"""Which distortion pairs a metric gets wrong, and the ordering of the distortions it implies.

A context ranks the run's distortions (the study's six by default); each test triplet pits two of
them against each other. For every
metric and context (adapted metrics at one checkpoint, untrained ones once per context):

- :func:`pair_scores`: the 2AFC score on the test triplets of each unordered pair of distortions
  (15 pairs for six), named by the distortions and by their positions in the context's ranking
  (``rank_first < rank_second``: the first is the one the context keeps more similar), and their
  ``gap``;
- :func:`implied_orderings`: the metric's own ordering of the distortions, by its mean distance
  per distortion over the test triplets' (ref, p0) and (ref, p1) pairs (smallest first), with its
  Kendall tau to the context's ranking.

This turns "adapted metrics struggle with the same contexts as baselines" into a measured
statement: which pairs of ranks are hard, for whom, and whether a metric's ranking of the
distortions matches the context's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dpsim.contexts import kendall_tau, positions

METRIC_KEYS = ["network", "variant", "context", "seed"]
#: Columns of ``results/stats/pairs.parquet``.
PAIR_COLUMNS = (
    *METRIC_KEYS,
    "first",
    "second",
    "rank_first",
    "rank_second",
    "gap",
    "n",
    "score",
)
#: Columns of ``results/stats/orderings.parquet``.
ORDERING_COLUMNS = (*METRIC_KEYS, "implied_order", "target_order", "kendall_tau", "matches")


Distortions = tuple[np.ndarray, np.ndarray, Sequence[str]]


def _with_distortions(items: pd.DataFrame, ids: Distortions) -> pd.DataFrame:
    """``items`` with the distortion ids of each triplet's p0 and p1 (``id0``, ``id1``)."""
    index = items["item"].to_numpy()
    return items.assign(id0=ids[0][index], id1=ids[1][index])


def pair_scores(
    items: pd.DataFrame,
    ids: Distortions,
    rankings: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """The 2AFC score of every metric and context on each pair of distortions.

    Args:
        items: per-item context test rows (``network``, ``variant``, ``context`` = the context
            that scored the item, ``seed``, ``item``, ``score``).
        ids: the distortion ids of p0 and p1 of every test triplet, and the set they index.
        rankings: each context's ranking.
    """
    if items.empty:
        return pd.DataFrame(columns=list(PAIR_COLUMNS))
    rows = _with_distortions(items, ids)
    names = np.asarray(ids[2])
    parts = []
    for context, group in rows.groupby("context", sort=True):
        rank = positions(rankings[context], ids[2])
        r0, r1 = rank[group["id0"].to_numpy()], rank[group["id1"].to_numpy()]
        first = np.where(r0 < r1, group["id0"], group["id1"])
        second = np.where(r0 < r1, group["id1"], group["id0"])
        parts.append(
            group.assign(
                first=names[first],
                second=names[second],
                rank_first=np.minimum(r0, r1),
                rank_second=np.maximum(r0, r1),
            )
        )
    keys = [*METRIC_KEYS, "first", "second", "rank_first", "rank_second"]
    table = pd.concat(parts).groupby(keys, sort=True)["score"].agg(n="size", score="mean")
    table = table.reset_index()
    table["gap"] = table["rank_second"] - table["rank_first"]
    return table[list(PAIR_COLUMNS)]


def implied_orderings(
    items: pd.DataFrame,
    ids: Distortions,
    rankings: Mapping[str, Sequence[str]],
) -> pd.DataFrame:
    """Each metric's ordering of the distortions on a context's test triplets, against the
    context's ranking (``items`` as for :func:`pair_scores`, with distances ``d0`` and ``d1``)."""
    if items.empty:
        return pd.DataFrame(columns=list(ORDERING_COLUMNS))
    rows = _with_distortions(items, ids)
    records = []
    for key, group in rows.groupby(METRIC_KEYS, sort=True):
        ids_seen = np.concatenate([group["id0"].to_numpy(), group["id1"].to_numpy()])
        distances = np.concatenate([group["d0"].to_numpy(), group["d1"].to_numpy()])
        means = pd.Series(distances).groupby(ids_seen).mean()
        implied = [str(ids[2][i]) for i in means.sort_values(kind="mergesort").index]
        target = list(rankings[key[2]])
        tau = kendall_tau(implied, target) if len(implied) == len(ids[2]) else np.nan
        records.append(
            {
                **dict(zip(METRIC_KEYS, key, strict=True)),
                "implied_order": implied,
                "target_order": target,
                "kendall_tau": tau,
                "matches": implied == target,
            }
        )
    return pd.DataFrame.from_records(records, columns=list(ORDERING_COLUMNS))


def by_gap(pairs: pd.DataFrame) -> pd.DataFrame:
    """Mean pair score per (network, variant) and rank gap, over contexts, seeds and pairs."""
    return pairs.groupby(["network", "variant", "gap"], sort=True)["score"].mean().reset_index()
