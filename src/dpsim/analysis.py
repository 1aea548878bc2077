"""The study's answers: statistics tables built from the evaluations, one row per test.

``write_stats`` writes ``results/stats/``:

===================  ===========================================================================
file                 one row per
===================  ===========================================================================
context_tests        (network, trained variant, context, seed): exact McNemar of adapted vs.
                     baseline on the context's test triplets; Holm / BH across contexts
bapps_deltas         (network, trained variant, context, seed, BAPPS subset): score minus the
                     baseline's score on that subset (the data behind ``bapps_tests``)
bapps_tests          (network, trained variant, kind, subset): Wilcoxon signed-rank of the deltas
                     (Holm across the subsets of a network and variant), the one-sided
                     non-inferiority t-test against ``-margin``, TOST, effect size with 95% CI
judgment_set_tests   (extra human set, network, trained variant): ``bapps_tests`` on each set of
                     ``evaluate.judgment_sets`` (e.g. NIGHTS), with the mean scores beside
mixed_models         (dataset, kind, subset, term): score ~ variant * network + (1 | context)
difficulty           (analysis, network, variant, seed, against): Spearman correlations of
                     per-context scores with the contexts' rank distances, and of the baseline's
                     per-context scores with the adapted metric's
checkpoints          (network, trained variant, dataset, kind, subset): mean score after the last
                     epoch and at the best validation epoch, their mean difference (best - last)
                     and how many (context, seed) cases each checkpoint wins
pairs                (network, variant, context, seed, pair of distortions): 2AFC score on the
                     test triplets of that pair, with the pair's rank positions in the context
                     (:mod:`dpsim.pairs`)
orderings            (network, variant, context, seed): the metric's own ordering of the
                     distortions and its Kendall tau to the context's ranking
caps                 (network, seed, context, weighting): the best unit, non-negative and
                     unconstrained linear readout of the frozen features (:mod:`dpsim.caps`),
                     fitted on the training triplets, scored on the test triplets
tradeoff             (network, trained variant, seed, context): context gain, BAPPS changes,
                     trained numbers and training time (:mod:`dpsim.ladder`)
likelihood           (network, variant, context, seed, human set with vote counts, subset): the
                     log-likelihood of people's votes under the metric's fitted psychometric
                     function, with chance, ceiling, normalised score and Brier score
                     (:mod:`dpsim.likelihood`)
calibration          (network, variant, human set, bin of the predicted share): predicted and
                     observed shares of votes (the calibration figure)
===================  ===========================================================================

Every table but ``checkpoints`` scores the adapted metrics at one checkpoint,
``stats.checkpoint``: ``last`` by default, as the study scores its models after the last epoch
(PROTOCOL §6a), or ``best``.

The baseline is the untrained metric of the same network and seed (``stats.baseline`` in the
config, normally ``baseline``: unit channel weights).  Non-inferiority claims across several
subsets need no multiplicity correction (an intersection-union test: every subset must pass).
BAPPS mixed models use the trained variants only: an untrained metric's BAPPS score does not
depend on the context, so copying it once per context would fake a context effect.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dpsim import aggregate, io, ladder, likelihood, pairs, stats
from dpsim.names import CHECKPOINTS, FIT_DATASET, NO_CHECKPOINT, STATS_FILES, UNTRAINED

log = logging.getLogger(__name__)

#: Columns of ``caps`` (see :mod:`dpsim.caps`, which fits them and imports torch).
CAPS = ("network", "seed", "context", "weighting", "train_score", "score", "n")

RANK_DISTANCES = ("kendall_distance", "footrule")
_ITEM_COLUMNS = [*aggregate.KEYS, "item"]


@dataclass(frozen=True)
class StatsSettings:
    """The ``stats`` section of the config."""

    alpha: float = 0.05
    margin: float = 0.02
    bootstrap_samples: int = 2000
    baseline: str = "baseline"
    seed: int = 0
    checkpoint: str = "last"

    @classmethod
    def from_config(cls, section: Mapping[str, Any], seed: int) -> StatsSettings:
        return cls(
            alpha=section["alpha"],
            margin=section["margin"],
            bootstrap_samples=section["bootstrap_samples"],
            baseline=section["baseline"],
            seed=seed,
            checkpoint=section["checkpoint"],
        )


def trained(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of adapted (trained) metrics."""
    return frame[~frame["variant"].isin(UNTRAINED)]


def at_checkpoint(frame: pd.DataFrame, checkpoint: str) -> pd.DataFrame:
    """The untrained metrics' rows and the adapted metrics' rows at ``checkpoint`` (``last`` or
    ``best``), without the ``checkpoint`` column."""
    keep = frame["checkpoint"].isin([checkpoint, NO_CHECKPOINT])
    return frame[keep].drop(columns="checkpoint")


#: Columns of ``results/stats/checkpoints.parquet``.
CHECKPOINT_COLUMNS = (
    "network",
    "variant",
    "dataset",
    "kind",
    "subset",
    "n",
    "last",
    "best",
    "mean_difference",
    "best_higher",
    "best_lower",
)


def checkpoint_differences(summary: pd.DataFrame) -> pd.DataFrame:
    """Per trained metric and dataset subset (context rows pooled as ``all contexts``): the mean
    score at each checkpoint over its (context, seed) cases and how the two compare."""
    rows = trained(summary)
    if rows.empty:
        return pd.DataFrame(columns=list(CHECKPOINT_COLUMNS))
    pooled = np.where(rows["dataset"] == "context", "all contexts", rows["subset"])
    keys = ["network", "variant", "dataset", "kind", "subset"]
    wide = rows.assign(subset=pooled).pivot_table(
        index=[*keys, "context", "seed"], columns="checkpoint", values="score"
    )
    wide = wide.reindex(columns=list(CHECKPOINTS))  # a checkpoint not evaluated: NaN
    wide["difference"] = wide["best"] - wide["last"]
    table = wide.groupby(keys).agg(
        n=("difference", "count"),
        last=("last", "mean"),
        best=("best", "mean"),
        mean_difference=("difference", "mean"),
        best_higher=("difference", lambda d: int((d > 0).sum())),
        best_lower=("difference", lambda d: int((d < 0).sum())),
    )
    return table.reset_index()[list(CHECKPOINT_COLUMNS)]


def read_context_items(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Per-item scores on the context test triplets; ``context`` = the context that scored them."""
    columns = [*_ITEM_COLUMNS, "d0", "d1", "score"]
    items = aggregate.read_items(paths, columns=columns, dataset="context")
    return aggregate.by_scoring_context(items)


def read_vote_items(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The 2AFC rows of the human sets (BAPPS val and fit rows, judgment sets) with what the
    likelihood of the votes needs (:mod:`dpsim.likelihood`)."""
    columns = [*aggregate.KEYS, "d0", "d1", "judge", "votes"]
    try:
        items = aggregate.read_items(paths, columns=columns)
    except (KeyError, ValueError) as error:
        if "votes" not in str(error):
            raise
        raise ValueError(
            "an evaluation file has no votes column (written by an older dpsim): delete "
            "results/eval and run the workflow again"
        ) from None
    return items[(items["dataset"] != "context") & (items["kind"] == "2afc")]


def context_tests(items: pd.DataFrame, settings: StatsSettings) -> pd.DataFrame:
    """Adapted vs. baseline per context for every trained variant (see the module docstring)."""
    parts = [
        stats.context_improvement_table(
            items,
            adapted_variant=variant,
            baseline_variant=settings.baseline,
            alpha=settings.alpha,
            seed=settings.seed,
            n_boot=settings.bootstrap_samples,
        )
        for variant in sorted(trained(items)["variant"].unique())
    ]
    parts = [part for part in parts if not part.empty]
    if not parts:
        return pd.DataFrame(columns=[*stats.CONTEXT_TEST_COLUMNS, "seed"])
    return pd.concat(parts, ignore_index=True)


def _baseline_scores(summary: pd.DataFrame, baseline: str, dataset: str) -> pd.DataFrame:
    rows = summary[(summary["dataset"] == dataset) & (summary["variant"] == baseline)]
    return rows[["network", "seed", "kind", "subset", "score"]].rename(
        columns={"score": "baseline_score"}
    )


def bapps_deltas(summary: pd.DataFrame, baseline: str, dataset: str = "bapps") -> pd.DataFrame:
    """Each trained metric's BAPPS score minus its network's baseline (same seed when evaluated).

    An untrained baseline evaluated for one seed only serves every training seed of its network.
    ``dataset``: another human set scored as BAPPS is (a judgment set's name).
    """
    adapted = trained(summary[summary["dataset"] == dataset])
    base = stats.baseline_for_seeds(_baseline_scores(summary, baseline, dataset), adapted["seed"])
    merged = adapted.merge(base, on=["network", "seed", "kind", "subset"])
    merged["delta"] = merged["score"] - merged["baseline_score"]
    columns = ["network", "variant", "seed", "context", "kind", "subset", "score"]
    order = ["network", "variant", "kind", "subset", "context", "seed"]
    return merged[[*columns, "baseline_score", "delta"]].sort_values(order, ignore_index=True)


def bapps_tests(
    deltas: pd.DataFrame, settings: StatsSettings, dataset: str = "BAPPS"
) -> pd.DataFrame:
    """Wilcoxon, non-inferiority and TOST of the deltas of each (network, variant, subset);
    ``dataset``: the human set the deltas are of, as the hypotheses name it."""
    keys = ["network", "variant", "kind", "subset"]
    records = []
    for values, group in deltas.groupby(keys, sort=True):
        key = dict(zip(keys, values, strict=True))
        result = stats.non_inferiority(
            group["delta"].to_numpy(), settings.margin, alpha=settings.alpha
        )
        on = f"{dataset} {key['kind']} {key['subset']}" if dataset == "BAPPS" else dataset
        hypothesis = (
            f"{key['variant']} is no worse than {settings.baseline} - {settings.margin:g} "
            f"on {on} ({key['network']})"
        )
        records.append({"hypothesis": hypothesis, **key, **result})
    table = pd.DataFrame.from_records(records)
    if table.empty:
        return table
    table["wilcoxon_p_holm"] = table.groupby(["network", "variant"])["wilcoxon_p"].transform(
        lambda p: stats.correct(p, "holm")
    )
    return table


def judgment_set_datasets(summary: pd.DataFrame) -> list[str]:
    """The extra human sets of a summary (``evaluate.judgment_sets``): its datasets other than
    the context rows, BAPPS and BAPPS's fit rows."""
    return sorted(set(summary["dataset"]) - {"context", "bapps", FIT_DATASET})


def judgment_set_tests(summary: pd.DataFrame, settings: StatsSettings) -> pd.DataFrame:
    """:func:`bapps_tests` on each extra human set, with its ``dataset`` and the mean scores
    of the adapted metrics and of the baseline beside each test (Holm within a set)."""
    parts = []
    for dataset in judgment_set_datasets(summary):
        deltas = bapps_deltas(summary, settings.baseline, dataset)
        tests = bapps_tests(deltas, settings, dataset)
        if tests.empty:
            continue
        means = deltas.groupby(["network", "variant", "kind", "subset"], as_index=False).agg(
            score=("score", "mean"), baseline_score=("baseline_score", "mean")
        )
        tests = tests.merge(means, on=["network", "variant", "kind", "subset"])
        tests.insert(0, "dataset", dataset)
        parts.append(tests)
    if not parts:
        return pd.DataFrame(columns=JUDGMENT_SET_TEST_COLUMNS)
    return pd.concat(parts, ignore_index=True)


#: The columns of an empty :func:`judgment_set_tests` table (no extra set in the run).
JUDGMENT_SET_TEST_COLUMNS = (
    "dataset",
    "hypothesis",
    "network",
    "variant",
    "kind",
    "subset",
    "score",
    "baseline_score",
)


def mixed_models(summary: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """score ~ variant * network + (1 | context) per context dataset and BAPPS subset.

    On the context test triplets the baseline (one score per context) is a variant of the model;
    on BAPPS only the trained variants enter (see the module docstring).
    """
    parts = []
    on_context = summary[summary["dataset"] == "context"]
    keep = [*trained(on_context)["variant"].unique(), baseline]
    frame = on_context[on_context["variant"].isin(keep)]
    if not frame.empty:
        parts.append(_labelled_model(frame, "context", "2afc", "all contexts", baseline))
    bapps = trained(summary[summary["dataset"] == "bapps"])
    for (kind, subset), group in bapps.groupby(["kind", "subset"], sort=True):
        parts.append(_labelled_model(group, "bapps", kind, subset, baseline))
    if not parts:
        return pd.DataFrame(columns=["dataset", "kind", "subset", *stats.MIXED_MODEL_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def _labelled_model(frame, dataset: str, kind: str, subset: str, baseline: str) -> pd.DataFrame:
    table = stats.mixed_model(frame, reference={"variant": baseline})
    table.insert(0, "subset", subset)
    table.insert(0, "kind", kind)
    table.insert(0, "dataset", dataset)
    return table


def _context_scores(summary: pd.DataFrame) -> pd.DataFrame:
    rows = summary[(summary["dataset"] == "context") & (summary["kind"] == "2afc")]
    return rows[["network", "variant", "seed", "context", "score"]]


def _difficulty_row(analysis: str, key: dict, against: str, x, y) -> dict[str, Any]:
    rho, p, note = stats.spearman(x, y)
    return {"analysis": analysis, **key, "against": against, "rho": rho, "p": p, "n": len(x)} | {
        "note": note
    }


def context_difficulty(
    summary: pd.DataFrame, rankings: pd.DataFrame, baseline: str
) -> pd.DataFrame:
    """Which contexts are hard: Spearman of per-context scores with rank distances, and agreement.

    ``score_vs_rank_distance``: per (network, variant, seed), the context scores against each
    rank distance of the context's ranking from the identity order.  ``baseline_vs_adapted``: per
    (network, trained variant, seed), the baseline's per-context scores against the adapted ones
    (a high rho: both find the same contexts hard).
    """
    scores = _context_scores(summary).merge(
        rankings[["context", *RANK_DISTANCES]], on="context", how="left"
    )
    records = []
    keys = ["network", "variant", "seed"]
    for values, group in scores.groupby(keys, sort=True):
        key = dict(zip(keys, values, strict=True))
        for distance in RANK_DISTANCES:
            records.append(
                _difficulty_row(
                    "score_vs_rank_distance", key, distance, group[distance], group["score"]
                )
            )
    adapted = trained(scores)
    base = scores[scores["variant"] == baseline][["network", "seed", "context", "score"]]
    base = stats.baseline_for_seeds(base, adapted["seed"])
    for values, group in adapted.groupby(keys, sort=True):
        key = dict(zip(keys, values, strict=True))
        paired = group.merge(base, on=["network", "seed", "context"], suffixes=("", "_base"))
        records.append(
            _difficulty_row(
                "baseline_vs_adapted", key, baseline, paired["score_base"], paired["score"]
            )
        )
    table = pd.DataFrame.from_records(records)
    if not table.empty:
        table["p_holm"] = table.groupby("analysis")["p"].transform(
            lambda p: stats.correct(p, "holm")
        )
    return table


def compute_stats(
    items: pd.DataFrame,
    summary: pd.DataFrame,
    rankings: pd.DataFrame,
    settings: StatsSettings,
    distortions: tuple[np.ndarray, np.ndarray, Sequence[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Every statistics table of the study, by name (see :data:`STATS_FILES`).

    ``distortions``: the distortion ids of p0 and p1 of every test triplet and the set they
    index, for the pairs and orderings tables (empty without them).
    """
    differences = checkpoint_differences(summary)
    items = at_checkpoint(items, settings.checkpoint)
    summary = at_checkpoint(summary, settings.checkpoint)
    deltas = bapps_deltas(summary, settings.baseline)
    if distortions is None:
        pair_table = pd.DataFrame(columns=list(pairs.PAIR_COLUMNS))
        ordering_table = pd.DataFrame(columns=list(pairs.ORDERING_COLUMNS))
    else:
        orders = {row.context: list(row.order) for row in rankings.itertuples()}
        pair_table = pairs.pair_scores(items, distortions, orders)
        ordering_table = pairs.implied_orderings(items, distortions, orders)
    return {
        "context_tests": context_tests(items, settings),
        "bapps_deltas": deltas,
        "bapps_tests": bapps_tests(deltas, settings),
        "judgment_set_tests": judgment_set_tests(summary, settings),
        "mixed_models": mixed_models(summary, settings.baseline),
        "difficulty": context_difficulty(summary, rankings, settings.baseline),
        "checkpoints": differences,
        "pairs": pair_table,
        "orderings": ordering_table,
    }


def write_stats(
    eval_paths: Sequence[str | Path],
    summary_path: str | Path,
    rankings_path: str | Path,
    out_paths: Mapping[str, str | Path],
    settings: StatsSettings,
    test_pool: str | Path | None = None,
    caps_paths: Sequence[str | Path] = (),
    log_paths: Sequence[str | Path] = (),
) -> dict[str, pd.DataFrame]:
    """Compute every table and write each to ``out_paths[name]`` (Parquet, atomic).

    ``test_pool``: the test draw the context items index (for the pairs and orderings tables);
    ``caps_paths``: the fitted readouts of every network and seed, gathered as ``caps``;
    ``log_paths``: the training logs, for the trained numbers and times of ``tradeoff``.
    """
    missing = set(STATS_FILES) - set(out_paths)
    if missing:
        raise ValueError(f"no output path for stats tables {sorted(missing)}")
    distortions = None
    if test_pool is not None:
        from dpsim.data.pool import load_pool  # torch: only for the pool's distortion ids

        drawn = load_pool(test_pool)
        if drawn.judge is None:  # judged triplets have no distortion pairs to analyse
            distortions = (drawn.d0, drawn.d1, drawn.distortions)
    tables = compute_stats(
        read_context_items(eval_paths),
        pd.read_parquet(summary_path),
        pd.read_parquet(rankings_path),
        settings,
        distortions,
    )
    votes = at_checkpoint(read_vote_items(eval_paths), settings.checkpoint)
    tables["likelihood"] = likelihood.likelihood_table(votes)
    tables["calibration"] = likelihood.calibration_table(votes, tables["likelihood"])
    caps = [pd.read_parquet(path) for path in caps_paths]
    tables["caps"] = pd.concat(caps, ignore_index=True) if caps else pd.DataFrame(columns=CAPS)
    tables["tradeoff"] = ladder.tradeoff_table(
        tables["context_tests"], tables["bapps_deltas"], aggregate.read_training_logs(log_paths)
    )
    for name, table in tables.items():
        log.info("%s: %d rows", name, len(table))
        io.write_parquet(table, out_paths[name])
    return tables
