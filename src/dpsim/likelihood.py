"""The likelihood of people's 2AFC votes under a metric (PROTOCOL §11; Hepburn et al., 2024).

A triplet's ``n`` judgments hold ``k = round(n h)`` votes for p1 (``h``: the share, BAPPS's
``judge``). Instead of reducing them to one 2AFC score, each metric is scored by how probable it
makes the votes: ``k ~ Binomial(n, p)`` with ``p`` a function of the metric's distances.

The family (one for every metric)
    ``p = sigmoid(beta * (log(d0 + eps) - log(d1 + eps)))`` with ``beta >= 0``: a logistic in
    the log ratio of the distances. Why this one: it depends on the distances only through
    their ratio, so it is blind to a metric's scale (an L2 and an LPIPS distance are scored on
    equal terms, and a metric times 10 gets the same likelihood); it is swap-symmetric by
    construction (exchanging p0 and p1 turns the log ratio's sign and gives ``1 - p``), smooth,
    and monotone (more votes for p1 the farther p0 is, relative to p1); ``beta = 0`` is
    chance. Its one parameter is the metric's sharpness, how fast people's agreement grows
    with the ratio; it is fitted by maximum likelihood (a concave problem, solved by Newton's
    method) on a sample of the BAPPS train triplets (2 judgments each, ``bapps.fit_items`` per
    subset, dataset ``bapps_train`` in the evaluation rows) and scored on BAPPS val (5 each)
    and on every judgment set with a vote count. ``eps`` (1e-6 of the metric's median
    distance on the fit sample) keeps a zero distance finite and is scale-free too.

Scores, per triplet and averaged (``results/stats/likelihood.parquet``)
    ``log_likelihood``: ``log P(k | n, p)`` under the fitted ``p`` (binomial coefficient
    included, so it is a log-probability of what people did); ``chance``: the same with
    ``p = 0.5``; ``ceiling``: with ``p = k / n``, the best any model of those votes can do;
    ``normalised``: ``(log_likelihood - chance) / (ceiling - chance)`` (0 chance, 1 ceiling);
    ``brier``: the mean of ``(p - k / n)^2`` (``brier_chance`` with ``p = 0.5``).

A context-trained ranking head is not used: it models its context's labels, not people's votes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, gammaln

from dpsim.names import FIT_DATASET
from dpsim.stats import baseline_for_seeds

#: What the table calls the family.
FAMILY = "logistic in log(d0/d1), slope >= 0"
#: ``eps`` relative to the metric's median distance on the fit rows.
RELATIVE_EPS = 1e-6
#: The keys of one metric in the evaluation rows.
METRIC_KEYS = ("network", "variant", "context", "seed")
#: Columns of ``results/stats/likelihood.parquet``.
COLUMNS = (
    *METRIC_KEYS,
    "dataset",
    "subset",
    "family",
    "slope",
    "eps",
    "fit_items",
    "items",
    "votes",
    "log_likelihood",
    "chance",
    "ceiling",
    "normalised",
    "brier",
    "brier_chance",
)
#: Columns of the calibration table (``results/stats/calibration.parquet``).
CALIBRATION_COLUMNS = ("network", "variant", "dataset", "bin", "predicted", "observed", "items")


def vote_counts(judge: np.ndarray, votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(k, n)``: votes for p1 and judgments per triplet, from shares and counts."""
    n = np.asarray(votes, dtype=np.float64)
    return np.round(np.asarray(judge, dtype=np.float64) * n), n


def scale_eps(d0: np.ndarray, d1: np.ndarray) -> float:
    """:data:`RELATIVE_EPS` of the median positive distance (a tiny floor if none is)."""
    both = np.concatenate([np.asarray(d0, np.float64), np.asarray(d1, np.float64)])
    positive = both[both > 0]
    return RELATIVE_EPS * float(np.median(positive)) if positive.size else 1e-12


def log_ratio(d0: np.ndarray, d1: np.ndarray, eps: float | np.ndarray) -> np.ndarray:
    """``log(d0 + eps) - log(d1 + eps)``: positive where p1 is the closer (distances below 0,
    a rounding of a cosine distance, count as 0)."""
    d0, d1 = (np.maximum(np.asarray(d, np.float64), 0.0) for d in (d0, d1))
    return np.log(d0 + eps) - np.log(d1 + eps)


def probability(x: np.ndarray, slope: float) -> np.ndarray:
    """The family's share of votes for p1 at log ratio ``x``."""
    return expit(slope * np.asarray(x, dtype=np.float64))


def fit_slope(x: np.ndarray, k: np.ndarray, n: np.ndarray, iterations: int = 100) -> float:
    """The maximum-likelihood slope ``beta >= 0`` of ``k ~ Binomial(n, sigmoid(beta x))``.

    The log-likelihood is concave in ``beta``; Newton's method from 0 with step halving
    converges in a few steps. 0 where the votes do not grow with ``x`` (the derivative at 0 is
    not positive): the metric then predicts no better than chance.
    """
    x, k, n = (np.asarray(a, dtype=np.float64) for a in (x, k, n))

    def loglik(beta: float) -> float:
        return float(np.sum(k * _log_expit(beta * x) + (n - k) * _log_expit(-beta * x)))

    beta = 0.0
    for _ in range(iterations):
        p = expit(beta * x)
        gradient = float(np.sum(x * (k - n * p)))
        curvature = float(np.sum(n * x * x * p * (1 - p)))
        if beta == 0.0 and gradient <= 0.0:
            return 0.0
        if curvature <= 0.0 or abs(gradient) < 1e-10 * max(1.0, float(np.sum(n))):
            break
        step, current = gradient / curvature, loglik(beta)
        candidate = max(0.0, beta + step)
        while loglik(candidate) < current - 1e-12 and abs(candidate - beta) > 1e-12:
            candidate = beta + (candidate - beta) / 2
        if abs(candidate - beta) <= 1e-10 * max(1.0, beta):
            beta = candidate
            break
        beta = candidate
    return beta


def _log_expit(z: np.ndarray) -> np.ndarray:
    """``log(sigmoid(z))`` without overflow."""
    return -np.logaddexp(0.0, -z)


def log_likelihood(p: np.ndarray, k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per triplet ``log P(k | n, p)`` of the binomial, coefficient included (0 log 0 = 0)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    k, n = np.asarray(k, np.float64), np.asarray(n, np.float64)
    coefficient = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return coefficient + k * np.log(p) + (n - k) * np.log1p(-p)


def scores(p: np.ndarray, k: np.ndarray, n: np.ndarray) -> dict[str, float]:
    """The table's scores of predictions ``p`` for votes ``k`` of ``n`` (module docstring)."""
    share = k / n
    fitted = float(np.mean(log_likelihood(p, k, n)))
    chance = float(np.mean(log_likelihood(np.full_like(share, 0.5), k, n)))
    ceiling = float(np.mean(log_likelihood(share, k, n)))
    span = ceiling - chance
    return {
        "items": len(k),
        "votes": float(np.sum(n)),
        "log_likelihood": fitted,
        "chance": chance,
        "ceiling": ceiling,
        "normalised": (fitted - chance) / span if span > 0 else np.nan,
        "brier": float(np.mean((p - share) ** 2)),
        "brier_chance": float(np.mean((0.5 - share) ** 2)),
    }


def _with_votes(items: pd.DataFrame) -> pd.DataFrame:
    """The 2AFC rows with a known vote count (``votes`` > 0) and finite distances."""
    finite = np.isfinite(items["d0"].astype(float)) & np.isfinite(items["d1"].astype(float))
    keep = (items["kind"] == "2afc") & (items["votes"].fillna(0) > 0) & finite
    return items[keep]


def likelihood_table(items: pd.DataFrame) -> pd.DataFrame:
    """One row per metric (:data:`METRIC_KEYS`) and scored set (dataset, subset): the slope
    fitted on the metric's :data:`FIT_DATASET` rows, scored on its other rows with votes.

    ``items``: evaluation rows (:mod:`dpsim.evaluate`) of one checkpoint (no ``checkpoint``
    column needed) with ``d0``, ``d1``, ``judge`` and ``votes``; metrics without fit rows
    are left out (``bapps.fit_items: 0``).
    """
    rows = _with_votes(items)
    records = []
    for key, group in rows.groupby(list(METRIC_KEYS), sort=True):
        fit = group[group["dataset"] == FIT_DATASET]
        if fit.empty:
            continue
        eps = scale_eps(fit["d0"].to_numpy(), fit["d1"].to_numpy())
        k, n = vote_counts(fit["judge"].to_numpy(), fit["votes"].to_numpy())
        slope = fit_slope(log_ratio(fit["d0"], fit["d1"], eps), k, n)
        scored = group[group["dataset"] != FIT_DATASET]
        for (dataset, subset), part in scored.groupby(["dataset", "subset"], sort=True):
            k, n = vote_counts(part["judge"].to_numpy(), part["votes"].to_numpy())
            p = probability(log_ratio(part["d0"], part["d1"], eps), slope)
            identity = dict(zip(METRIC_KEYS, key, strict=True))
            records.append(
                {
                    **identity,
                    "dataset": dataset,
                    "subset": subset,
                    "family": FAMILY,
                    "slope": slope,
                    "eps": eps,
                    "fit_items": len(fit),
                    **scores(p, k, n),
                }
            )
    return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def calibration_table(items: pd.DataFrame, table: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Per (network, variant, scored dataset), the mean predicted share against the observed
    share of votes in ``bins`` equal bins of the prediction, pooled over contexts, seeds and
    subsets (the calibration figure's data; ``table``: :func:`likelihood_table`'s rows)."""
    rows = _with_votes(items)
    rows = rows[rows["dataset"] != FIT_DATASET]
    fitted = table.drop_duplicates(list(METRIC_KEYS))[[*METRIC_KEYS, "slope", "eps"]]
    pooled = rows.merge(fitted, on=list(METRIC_KEYS))
    if pooled.empty:
        return pd.DataFrame(columns=list(CALIBRATION_COLUMNS))
    x = log_ratio(pooled["d0"], pooled["d1"], pooled["eps"].to_numpy())
    pooled["predicted"] = expit(pooled["slope"].to_numpy() * x)
    pooled["observed"] = np.round(pooled["judge"] * pooled["votes"]) / pooled["votes"]
    pooled["bin"] = np.minimum((pooled["predicted"] * bins).astype(int), bins - 1)
    table = pooled.groupby(["network", "variant", "dataset", "bin"], as_index=False).agg(
        predicted=("predicted", "mean"), observed=("observed", "mean"), items=("observed", "size")
    )
    return table[list(CALIBRATION_COLUMNS)]


def likelihood_gains(table: pd.DataFrame, baseline: str, trained: Sequence[str]) -> pd.DataFrame:
    """Per (network, trained variant, dataset): the mean over contexts, seeds and subsets of
    its log-likelihood minus the baseline's of the same network (and seed, where the baseline
    has it), with the normalised scores of both (the findings' numbers)."""
    if table.empty:
        return pd.DataFrame()
    base = table[table["variant"] == baseline][
        ["network", "seed", "dataset", "subset", "log_likelihood", "normalised"]
    ]
    if base.empty:
        return pd.DataFrame()
    adapted = table[table["variant"].isin(trained)]
    base = baseline_for_seeds(base, adapted["seed"])
    merged = adapted.merge(
        base, on=["network", "seed", "dataset", "subset"], suffixes=("", "_base")
    )
    merged["gain"] = merged["log_likelihood"] - merged["log_likelihood_base"]
    return merged.groupby(["network", "variant", "dataset"], as_index=False).agg(
        gain=("gain", "mean"),
        normalised=("normalised", "mean"),
        baseline_normalised=("normalised_base", "mean"),
        cases=("gain", "size"),
    )
