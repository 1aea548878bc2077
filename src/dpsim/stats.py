"""Hypothesis tests for the study's two questions.

(1) Per context: is the adapted metric better than the untrained baseline on the *same* test
items?  Each item is scored by both metrics, so the samples are paired.  The exact McNemar test
uses only the discordant items (one metric right, the other wrong) and asks whether "adapted
better" and "baseline better" are equally likely; it is exact for small counts and makes no
normality assumption.  Ties (score 0.5) count as half-correct: an item is discordant in favour
of whichever metric scored higher.  McNemar needs binary outcomes: where the judges are shares
(a user's judgments, BAPPS's own), per-item scores are fractions, and the paired bootstrap test
of the mean score difference is used instead (the ``test`` column says which).  The effect is
the difference in mean score with a paired bootstrap 95% CI.  Because the question is asked
once per context, p-values are corrected across contexts within each network (Holm for
family-wise error, Benjamini-Hochberg for FDR).

(2) Across contexts: does adaptation hurt BAPPS?  Each context gives one delta (adapted minus
baseline score) per BAPPS subset.  There are few contexts and no reason to assume normality, so
the Wilcoxon signed-rank test checks for any shift.  But a non-significant difference is not
evidence of no harm, so "not significantly detrimental" is tested directly as non-inferiority:
H0: mean delta <= -margin against H1: mean delta > -margin (one-sided t-test, the one-sided half
of a TOST), with a margin declared in advance.  The full TOST (both bounds) is reported too, for
readers who want equivalence rather than non-inferiority.

(3) A linear mixed model, score ~ variant * network + (1 | context), separates the effect of the
variant and the network from how hard each context is (a random intercept per context).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

__all__ = [
    "CONTEXT_TEST_COLUMNS",
    "MIXED_MODEL_COLUMNS",
    "baseline_for_seeds",
    "context_improvement_table",
    "correct",
    "mixed_model",
    "non_inferiority",
    "paired_context_test",
    "spearman",
    "tost",
]

_METHODS = ("holm", "fdr_bh")
CONTEXT_TEST_COLUMNS = [
    "hypothesis",
    "network",
    "context",
    "variant",
    "statistic",
    "p",
    "p_holm",
    "p_bh",
    "effect",
    "ci_low",
    "ci_high",
    "n",
    "improved",
    "improved_significant",
    "adapted_score",
    "baseline_score",
    "test",
]
#: Per-item 2AFC scores of binary judges: right, wrong, or a tie counted half.
BINARY_SCORES = (0.0, 0.5, 1.0)


def _as_scores(values: np.ndarray, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D float array, rejecting NaNs."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN scores")
    return arr


def _bootstrap_ci(
    diffs: np.ndarray, n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``mean(diffs)`` resampling items with replacement."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diffs.size, size=(n_boot, diffs.size))
    means = diffs[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def paired_context_test(
    adapted: np.ndarray, baseline: np.ndarray, seed: int = 0, n_boot: int = 2000
) -> dict[str, Any]:
    """Exact McNemar test of adapted vs baseline per-item scores on the same items, or the
    paired bootstrap test where the scores are not all 0, 0.5 or 1 (judges that are shares).

    Returns a flat dict: statistic (McNemar: the exact statistic, min of the discordant counts;
    bootstrap: the mean difference), p (two-sided), effect (mean adapted - mean baseline),
    ci_low/ci_high (95% paired bootstrap), n, n_adapted_better, n_baseline_better, test.
    """
    a = _as_scores(adapted, "adapted")
    b = _as_scores(baseline, "baseline")
    if a.size != b.size:
        raise ValueError(f"adapted and baseline differ in length: {a.size} != {b.size}")
    if a.size == 0:
        raise ValueError("need at least one paired item")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    n_a = int(np.sum(a > b))
    n_b = int(np.sum(b > a))
    diffs = a - b
    binary = bool(np.isin(a, BINARY_SCORES).all() and np.isin(b, BINARY_SCORES).all())
    test = "mcnemar_exact" if binary else "paired_bootstrap"
    if n_a + n_b == 0:
        statistic, p = 0.0, 1.0
    elif binary:
        table = np.array([[0, n_a], [n_b, 0]])
        res = mcnemar(table, exact=True)
        statistic, p = float(res.statistic), float(min(1.0, res.pvalue))
    else:
        statistic, p = float(diffs.mean()), bootstrap_p_value(diffs, n_boot, seed)
    low, high = _bootstrap_ci(diffs, n_boot, seed)
    return {
        "statistic": statistic,
        "p": p,
        "effect": float(diffs.mean()),
        "ci_low": low,
        "ci_high": high,
        "n": int(a.size),
        "n_adapted_better": n_a,
        "n_baseline_better": n_b,
        "adapted_score": float(a.mean()),
        "baseline_score": float(b.mean()),
        "test": test,
    }


def bootstrap_p_value(diffs: np.ndarray, n_boot: int, seed: int) -> float:
    """Two-sided paired bootstrap p-value of H0: mean difference 0.

    The differences are centred (H0 made true), resampled with replacement ``n_boot`` times,
    and p is the share of resampled means at least as far from 0 as the observed one, with the
    observed sample counted in (so p is never 0: at least ``1 / (n_boot + 1)``).
    """
    observed = abs(float(diffs.mean()))
    centred = diffs - diffs.mean()
    rng = np.random.default_rng([seed, 1])
    idx = rng.integers(0, diffs.size, size=(n_boot, diffs.size))
    extreme = np.abs(centred[idx].mean(axis=1)) >= observed - 1e-12
    return float((extreme.sum() + 1) / (n_boot + 1))


def correct(p_values: np.ndarray, method: str) -> np.ndarray:
    """Adjust ``p_values`` for multiple testing ('holm' or 'fdr_bh'); NaNs pass through."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    p = np.asarray(p_values, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=method)[1]
    return out


def _paired_scores(adapted: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """Join two variants' item scores on ``item``; items must be unique per variant."""
    for name, frame in (("adapted", adapted), ("baseline", baseline)):
        if frame["item"].duplicated().any():
            raise ValueError(f"duplicate items in the {name} rows of one context")
    return adapted[["item", "score"]].merge(
        baseline[["item", "score"]], on="item", suffixes=("_adapted", "_baseline")
    )


def baseline_for_seeds(base: pd.DataFrame, seeds) -> pd.DataFrame:
    """Baseline rows for every training seed in ``seeds``, so adapted rows pair on ``seed``.

    A network whose baseline was evaluated for one seed only (an untrained metric, e.g. with
    ImageNet weights) serves every training seed; a network with several baseline seeds pairs
    seed by seed.
    """
    counts = base.groupby("network")["seed"].transform("nunique")
    single = base[counts == 1]
    copies = [single.assign(seed=seed) for seed in sorted(set(seeds))]
    return pd.concat([base[counts != 1], *copies], ignore_index=True)


def _baseline_rows(base: pd.DataFrame, key: dict[str, Any]) -> pd.DataFrame:
    """The baseline rows of a group's network and context (and seed, when rows have one)."""
    rows = base[(base["network"] == key["network"]) & (base["context"] == key["context"])]
    return rows[rows["seed"] == key["seed"]] if "seed" in key else rows


def context_improvement_table(
    rows: pd.DataFrame,
    adapted_variant: str,
    baseline_variant: str = "baseline",
    alpha: float = 0.05,
    seed: int = 0,
    n_boot: int = 2000,
) -> pd.DataFrame:
    """One paired test per (network, context[, seed]) on the context test items: exact
    McNemar, or the paired bootstrap where the judges are shares (:func:`paired_context_test`).

    Holm- and BH-adjusted p-values are computed across contexts within each network.
    """
    needed = {"network", "variant", "context", "dataset", "item", "score"}
    missing = needed - set(rows.columns)
    if missing:
        raise ValueError(f"rows lack columns: {sorted(missing)}")
    ctx = rows[rows["dataset"] == "context"]
    adapted = ctx[ctx["variant"] == adapted_variant]
    base = ctx[ctx["variant"] == baseline_variant]
    keys = ["network", "context"] + (["seed"] if "seed" in ctx.columns else [])
    if "seed" in ctx.columns:
        base = baseline_for_seeds(base, adapted["seed"])
    records: list[dict[str, Any]] = []
    for values, group in adapted.groupby(keys, sort=True, dropna=False):
        key = dict(zip(keys, values, strict=True))
        paired = _paired_scores(group, _baseline_rows(base, key))
        if paired.empty:
            continue
        res = paired_context_test(
            paired["score_adapted"].to_numpy(),
            paired["score_baseline"].to_numpy(),
            seed=seed,
            n_boot=n_boot,
        )
        hypothesis = (
            f"{adapted_variant} beats {baseline_variant} on {key['context']} ({key['network']})"
        )
        records.append({"hypothesis": hypothesis, **key, "variant": adapted_variant, **res})
    if not records:
        return pd.DataFrame(columns=[*CONTEXT_TEST_COLUMNS, *keys[2:]])
    table = pd.DataFrame.from_records(records)
    table["p_holm"] = table.groupby("network")["p"].transform(lambda p: correct(p, "holm"))
    table["p_bh"] = table.groupby("network")["p"].transform(lambda p: correct(p, "fdr_bh"))
    table["improved"] = table["effect"] > 0
    table["improved_significant"] = table["improved"] & (table["p_holm"] < alpha)
    extra = [c for c in keys[2:] if c not in CONTEXT_TEST_COLUMNS]
    return table[[*CONTEXT_TEST_COLUMNS, *extra]].reset_index(drop=True)


def _wilcoxon(deltas: np.ndarray) -> tuple[float, float, str]:
    """Two-sided Wilcoxon signed-rank; NaNs and a note when undefined."""
    if not np.any(deltas != 0):
        return np.nan, np.nan, "all deltas are zero; Wilcoxon undefined"
    res = sps.wilcoxon(deltas, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue), ""


def non_inferiority(deltas: np.ndarray, margin: float, alpha: float = 0.05) -> dict[str, Any]:
    """Wilcoxon signed-rank, a one-sided non-inferiority t-test and TOST on per-context deltas.

    H0: mean delta <= -margin, H1: mean delta > -margin.  ``non_inferior`` is ``ni_p < alpha``;
    ``equivalent`` is ``tost_p < alpha`` (see :func:`tost`).
    Fewer than 2 deltas give NaN p-values and a ``note``. Deltas without spread (all equal up to
    float noise, e.g. an adaptation that changed no BAPPS judgment) leave no sampling
    uncertainty: the t statistics are taken at their limits (p = 0 or 1, decided by the mean
    against the margins) and the ``note`` says so.
    """
    d = _as_scores(deltas, "deltas")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    out: dict[str, Any] = {
        "n": int(d.size),
        "margin": float(margin),
        "alpha": float(alpha),
        "mean_delta": float(d.mean()) if d.size else np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "sd": np.nan,
        "cohens_dz": np.nan,
        "wilcoxon_statistic": np.nan,
        "wilcoxon_p": np.nan,
        "ni_statistic": np.nan,
        "ni_p": np.nan,
        "non_inferior": False,
        "tost_lower_p": np.nan,
        "tost_upper_p": np.nan,
        "tost_p": np.nan,
        "equivalent": False,
        "note": "",
    }
    if d.size < 2:
        out["note"] = f"need at least 2 deltas, got {d.size}"
        return out
    notes = []
    w_stat, w_p, w_note = _wilcoxon(d)
    out.update(wilcoxon_statistic=w_stat, wilcoxon_p=w_p)
    notes.append(w_note)
    sd = float(d.std(ddof=1))
    out["sd"] = sd
    if sd <= SPREAD_EPS * max(1.0, abs(out["mean_delta"])):
        out.update(_without_spread(out["mean_delta"], margin, alpha))
        notes.append("all deltas equal (no spread): t-tests decided by the mean at their limits")
    else:
        out["cohens_dz"] = out["mean_delta"] / sd
        low, high = sps.ttest_1samp(d, 0.0).confidence_interval(0.95)
        out.update(ci_low=float(low), ci_high=float(high))
        res = sps.ttest_1samp(d + margin, 0.0, alternative="greater")
        out.update(ni_statistic=float(res.statistic), ni_p=float(res.pvalue))
        out["non_inferior"] = bool(res.pvalue < alpha)
        out.update(tost(d, margin))
        out["equivalent"] = bool(out["tost_p"] < alpha)
    out["note"] = "; ".join(n for n in notes if n)
    return out


SPREAD_EPS = 1e-9


def _without_spread(mean: float, margin: float, alpha: float) -> dict[str, Any]:
    """Non-inferiority and TOST for deltas that all equal ``mean``: the t-tests' limits."""
    lower = 0.0 if mean > -margin else 1.0
    upper = 0.0 if mean < margin else 1.0
    return {
        "ci_low": mean,
        "ci_high": mean,
        "ni_statistic": np.inf if mean > -margin else -np.inf,
        "ni_p": lower,
        "non_inferior": lower < alpha,
        "tost_lower_p": lower,
        "tost_upper_p": upper,
        "tost_p": max(lower, upper),
        "equivalent": max(lower, upper) < alpha,
    }


def tost(deltas: np.ndarray, margin: float) -> dict[str, float]:
    """Two one-sided t-tests of equivalence within ``[-margin, margin]``.

    Lower test: H0 mean <= -margin; upper test: H0 mean >= margin.  ``tost_p`` is the larger of
    the two p-values: equivalence is shown at level alpha when both one-sided tests reject.
    """
    d = _as_scores(deltas, "deltas")
    lower = sps.ttest_1samp(d + margin, 0.0, alternative="greater")
    upper = sps.ttest_1samp(d - margin, 0.0, alternative="less")
    return {
        "tost_lower_p": float(lower.pvalue),
        "tost_upper_p": float(upper.pvalue),
        "tost_p": float(max(lower.pvalue, upper.pvalue)),
    }


EXACT_SPEARMAN_MAX_N = 8


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, str]:
    """Spearman's rho and its two-sided p; NaNs and a note when undefined (n < 3 or constant).

    With few contexts the usual t approximation is badly wrong (it gives p = 0 for a perfect
    rank agreement of 3 contexts), so for n <= :data:`EXACT_SPEARMAN_MAX_N` the p-value is exact:
    the share of all n! orderings of y whose |rho| reaches the observed one.
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.size != b.size:
        raise ValueError(f"x and y differ in length: {a.size} != {b.size}")
    if a.size < 3:
        return np.nan, np.nan, f"need at least 3 contexts, got {a.size}"
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return np.nan, np.nan, "a constant input; rank correlation undefined"
    if a.size > EXACT_SPEARMAN_MAX_N:
        res = sps.spearmanr(a, b)
        return float(res.statistic), float(res.pvalue), ""
    rank_a, rank_b = sps.rankdata(a), sps.rankdata(b)
    rho = float(np.corrcoef(rank_a, rank_b)[0, 1])
    orders = np.array(list(itertools.permutations(range(a.size))))
    shuffled = rank_b[orders] - rank_b.mean()
    centred = rank_a - rank_a.mean()
    rhos = shuffled @ centred / (np.linalg.norm(shuffled, axis=1) * np.linalg.norm(centred))
    p = float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))
    return rho, p, "exact permutation p-value"


MIXED_MODEL_COLUMNS = (
    "term",
    "effect",
    "se",
    "statistic",
    "p",
    "ci_low",
    "ci_high",
    "n_obs",
    "n_groups",
    "group_variance",
    "formula",
    "converged",
    "note",
)


def _model_formula(frame: pd.DataFrame, response: str, factors: Sequence[str]) -> str:
    """``response ~ a * b`` over the factors that vary (a factor with one level is dropped)."""
    varying = [f for f in factors if frame[f].nunique() > 1]
    return f"{response} ~ " + (" * ".join(varying) if varying else "1")


def mixed_model(
    frame: pd.DataFrame,
    response: str = "score",
    factors: Sequence[str] = ("variant", "network"),
    group: str = "context",
    reference: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Fit ``response ~ factors[0] * factors[1] * ... + (1 | group)`` by REML; one row per term.

    Factors are treatment-coded against ``reference[factor]`` when given (else their first level
    in sorted order).  A model that cannot be fitted (fewer than 2 groups, no residual degrees of
    freedom, a singular design) gives one row with NaNs and a ``note`` instead of raising, so one
    degenerate subset does not stop the analysis; convergence warnings set ``converged`` False.
    """
    missing = {response, group, *factors} - set(frame.columns)
    if missing:
        raise ValueError(f"mixed_model: frame lacks columns {sorted(missing)}")
    data = frame[[response, group, *factors]].dropna().copy()
    for factor in factors:
        levels = sorted(data[factor].unique())
        first = (reference or {}).get(factor)
        if first in levels:
            levels = [first] + [level for level in levels if level != first]
        data[factor] = pd.Categorical(data[factor], categories=levels)
    formula = _model_formula(data, response, factors)
    n_groups = int(data[group].nunique())

    def failed(note: str) -> pd.DataFrame:
        row: dict[str, object] = dict.fromkeys(MIXED_MODEL_COLUMNS, np.nan)
        row.update(term="(model)", n_obs=len(data), n_groups=n_groups, formula=formula)
        row.update(converged=False, note=note)
        return pd.DataFrame([row], columns=list(MIXED_MODEL_COLUMNS))

    if n_groups < 2:
        return failed(f"need at least 2 levels of {group}, got {n_groups}")
    spread = float(data[response].std(ddof=1))
    if not spread > 0:
        return failed(f"{response} is constant; nothing to model")
    # statsmodels flags a random-effect variance below 0.01 (absolute) as "on the boundary";
    # scores in [0, 1] have tiny variances, so fit on the response in units of its SD.
    data[response] = data[response] / spread
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = smf.mixedlm(formula, data, groups=data[group])
            if len(data) <= model.k_fe + 1:
                return failed(f"{len(data)} observations for {model.k_fe} fixed effects")
            result = model.fit(reml=True)
        except (ValueError, np.linalg.LinAlgError) as error:
            return failed(f"fit failed: {error}")
    return _mixed_model_rows(result, spread, formula, group, n_groups, caught)


def _mixed_model_rows(result, spread, formula, group, n_groups, caught) -> pd.DataFrame:
    """The fitted fixed effects in the response's own units, one row per term."""
    notes = sorted({str(w.message).splitlines()[0] for w in caught})
    fixed = result.fe_params.index
    ci = result.conf_int().loc[fixed]
    table = pd.DataFrame(
        {
            "term": fixed,
            "effect": result.fe_params.to_numpy() * spread,
            "se": result.bse_fe.to_numpy() * spread,
            "statistic": result.tvalues.loc[fixed].to_numpy(),
            "p": result.pvalues.loc[fixed].to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy() * spread,
            "ci_high": ci.iloc[:, 1].to_numpy() * spread,
        }
    )
    table["n_obs"] = int(result.nobs)
    table["n_groups"] = n_groups
    table["group_variance"] = float(np.asarray(result.cov_re)[0, 0]) * spread**2
    table["formula"] = f"{formula} + (1 | {group})"
    table["converged"] = bool(result.converged) and not notes
    table["note"] = "; ".join(notes)
    return table[list(MIXED_MODEL_COLUMNS)]
