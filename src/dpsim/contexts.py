"""Contexts of similarity: rankings of a run's distortions, their labels and rank distances.

A context ranks the distortions of the run's set (the study's six by default; ``distortions.set``)
from "keeps the image most similar" to "changes it most". For a triplet (ref, p0, p1) whose images
were distorted with ``d0`` and ``d1``, the context's label (the judge) is 0 when ``d0`` ranks
earlier than ``d1`` (p0 is the closer image), else 1. The distorted images never depend on the
context: one triplet pool serves every context, and a context is only a label vector over it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from dpsim.names import DISTORTIONS
from dpsim.registry import describe_choice

Ranking = tuple[str, ...]

#: The identity ranking of the study: the protocol's list order (a set's identity: its order).
IDENTITY: Ranking = DISTORTIONS


@dataclass(frozen=True)
class Context:
    """One context: an id (``c000``, ...), its ranking, and where the generator yielded it."""

    name: str
    ranking: Ranking
    generator_index: int | None


def check_ranking(
    ranking: Sequence[str], where: str = "ranking", names: Sequence[str] = DISTORTIONS
) -> Ranking:
    """Return ``ranking`` as a tuple if it lists each distortion of ``names`` exactly once."""
    items = [str(item) for item in ranking]
    unknown = [item for item in items if item not in names]
    if unknown:
        raise ValueError(f"{where}: {describe_choice(unknown[0], names)}")
    duplicated = sorted({item for item in items if items.count(item) > 1})
    missing = [name for name in names if name not in items]
    if duplicated or missing:
        raise ValueError(
            f"{where}: a ranking must list each of the {len(names)} distortions of the run's set "
            f"exactly once ({', '.join(names)}); got {items}"
            + (f"; duplicated: {', '.join(duplicated)}" if duplicated else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    return tuple(items)


def reference_rankings(
    count: int, distinct: bool = False, seed: int = 0, names: Sequence[str] = DISTORTIONS
) -> list[Context]:
    """The adaptation study's generator: ``random.seed(seed)``, then ``random.sample(L, K)``
    with ``L`` the set's distortions in order (the study: its six, ``K = 6``).

    With ``distinct`` the stream is read on until ``count`` different rankings were seen; each
    context keeps the index at which the generator yielded it.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    possible = math.factorial(len(names))
    if distinct and count > possible:
        raise ValueError(
            f"only {possible} distinct rankings of {len(names)} distortions exist; "
            f"asked for {count}"
        )
    generator = random.Random(seed)
    contexts: list[Context] = []
    seen: set[Ranking] = set()
    index = 0
    while len(contexts) < count:
        ranking = tuple(generator.sample(list(names), len(names)))
        if not (distinct and ranking in seen):
            seen.add(ranking)
            contexts.append(Context(context_name(len(contexts)), ranking, index))
        index += 1
    return contexts


def listed_rankings(
    rankings: Sequence[Sequence[str]], names: Sequence[str] = DISTORTIONS
) -> list[Context]:
    """Contexts from an explicit list of rankings (each checked against ``names``)."""
    return [
        Context(context_name(i), check_ranking(r, f"ranking {i}", names), None)
        for i, r in enumerate(rankings)
    ]


def context_name(index: int) -> str:
    """Stable context id used in paths and tables: ``c000``, ``c001``, ..."""
    return f"c{index:03d}"


def positions(ranking: Sequence[str], names: Sequence[str]) -> np.ndarray:
    """Position in ``ranking`` (0 = most similar) of each distortion id, ids indexing ``names``
    (the set the triplets were distorted with)."""
    order = check_ranking(ranking, "ranking", names)
    return np.array([order.index(name) for name in names], dtype=np.int64)


def labels(
    ranking: Sequence[str], d0: np.ndarray, d1: np.ndarray, names: Sequence[str]
) -> np.ndarray:
    """Judge of each triplet under ``ranking``: 0 if p0's distortion ranks earlier, else 1.

    ``d0``, ``d1``: distortion ids into ``names``, the set of the pool they come from.
    """
    d0, d1 = np.asarray(d0), np.asarray(d1)
    if np.any(d0 == d1):
        raise ValueError("p0 and p1 must have different distortions in every triplet")
    rank = positions(ranking, names)
    return (rank[d0] > rank[d1]).astype(np.uint8)


@dataclass(frozen=True)
class Judged:
    """What decides the judges of a set of triplets under a context: the distortion ids of p0
    and p1 and the set they index (a ranking's labels, :func:`labels`), or, for triplets that
    people judged (a judgments context), those judges themselves (shares in [0, 1])."""

    d0: np.ndarray
    d1: np.ndarray
    names: tuple[str, ...]
    judge: np.ndarray | None = None

    def labels(self, ranking: Sequence[str]) -> np.ndarray:
        """Each triplet's judge under ``ranking`` (the judges themselves, if people judged)."""
        if self.judge is not None:
            return np.asarray(self.judge, dtype=np.float64)
        return labels(ranking, self.d0, self.d1, self.names)

    def matrix(self, chosen: Sequence[Context]) -> np.ndarray:
        """The judges under each context: ``(N, K)``, one column per context."""
        return np.stack([self.labels(c.ranking) for c in chosen], 1)

    def rows(self, rows: slice | np.ndarray) -> Judged:
        """The same for a subset of the triplets."""
        judge = None if self.judge is None else self.judge[rows]
        return Judged(self.d0[rows], self.d1[rows], self.names, judge)


def _paired_positions(a: Sequence[str], b: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``a`` and in ``b`` of each distortion of ``a`` (both must rank the same)."""
    order = check_ranking(b, "ranking", list(a))
    return np.arange(len(a)), np.array([order.index(name) for name in a])


def discordant_pairs(a: Sequence[str], b: Sequence[str]) -> int:
    """Number of distortion pairs that ``a`` and ``b`` order differently (Kendall distance)."""
    pa, pb = _paired_positions(a, b)
    return sum((pa[i] - pa[j]) * (pb[i] - pb[j]) < 0 for i, j in combinations(range(len(a)), 2))


def kendall_tau(a: Sequence[str], b: Sequence[str]) -> float:
    """Kendall's tau between two rankings of the same distortions: 1 identical, -1 reversed."""
    pairs = len(a) * (len(a) - 1) // 2
    return 1.0 - 2.0 * discordant_pairs(a, b) / pairs


def footrule(a: Sequence[str], b: Sequence[str]) -> int:
    """Spearman's footrule: the summed absolute displacement of each distortion."""
    pa, pb = _paired_positions(a, b)
    return int(np.abs(pa - pb).sum())


#: Columns of ``results/contexts/rankings.parquet``.
RANKINGS_COLUMNS = (
    "context",
    "order",
    "order_text",
    "generator_index",
    "generator_seed",
    "kendall_distance",
    "kendall_tau",
    "footrule",
)


def rankings_table(
    contexts: Sequence[Context], generator_seed: int | None, names: Sequence[str] = IDENTITY
) -> pd.DataFrame:
    """One row per context with its ranking and its distances to the identity order (the
    set's own order, ``names``)."""
    rows = [
        {
            "context": c.name,
            "order": list(c.ranking),
            "order_text": " > ".join(c.ranking) or "people's judgments",
            "generator_index": c.generator_index,
            "generator_seed": generator_seed if c.generator_index is not None else None,
            **_distances(c.ranking, names),
        }
        for c in contexts
    ]
    table = pd.DataFrame(rows, columns=list(RANKINGS_COLUMNS))
    integers = ("generator_index", "generator_seed", "kendall_distance", "footrule")
    return table.astype({**dict.fromkeys(integers, "Int64"), "kendall_tau": "float64"})


def _distances(ranking: Sequence[str], names: Sequence[str]) -> dict[str, object]:
    """A ranking's distances to the identity order; none for a judgments context (no ranking)."""
    if not ranking:
        return {"kendall_distance": None, "kendall_tau": np.nan, "footrule": None}
    return {
        "kendall_distance": discordant_pairs(ranking, names),
        "kendall_tau": kendall_tau(ranking, names),
        "footrule": footrule(ranking, names),
    }


def read_contexts(rankings_path: str | Path) -> list[Context]:
    """The contexts of a ``rankings.parquet`` written from :func:`rankings_table`."""
    table = pd.read_parquet(rankings_path)
    return [Context(row.context, tuple(row.order), None) for row in table.itertuples()]


def named_context(chosen: Sequence[Context], name: str, where: str | Path) -> Context:
    """The context called ``name`` among ``chosen`` (read from ``where``), or a clear error."""
    for context in chosen:
        if context.name == name:
            return context
    known = ", ".join(c.name for c in chosen) or "none"
    raise ValueError(f"context {name!r} is not in {where} (it holds {known})")


def contexts_from_records(records: Sequence[Mapping[str, object]]) -> list[Context]:
    """Contexts from ``{"name": ..., "ranking": [...]}`` records (a job's settings).

    Each ranking is checked against itself (no distortion twice); that it orders the pool's
    set is checked where its labels are drawn (:func:`labels`).
    """
    chosen = []
    for record in records:
        ranking = [str(item) for item in record["ranking"]]  # type: ignore[attr-defined]
        where = f"context {record['name']}"
        chosen.append(Context(str(record["name"]), check_ranking(ranking, where, ranking), None))
    return chosen


def contexts_from_config(section: Mapping, names: Sequence[str] = DISTORTIONS) -> list[Context]:
    """Contexts described by the config's ``contexts`` section (already schema-validated),
    rankings of ``names`` (the run's ``distortions.set``). ``judgments``: one context, ``c000``,
    with no ranking: people's judges label its triplets (:class:`Judged`)."""
    if section["source"] == "judgments":
        return [Context(context_name(0), (), None)]
    if section["source"] == "list":
        if not section["rankings"]:
            raise ValueError("contexts.rankings: source is 'list' but no rankings are given")
        return listed_rankings(section["rankings"], names)
    return reference_rankings(
        section["count"], section["distinct"], section["generator_seed"], names
    )


def run_contexts(config: Mapping) -> list[Context]:
    """The contexts of a whole (validated) config: its ``contexts`` over its distortion set."""
    return contexts_from_config(config["contexts"], config["distortions"]["set"])
