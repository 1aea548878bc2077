"""Hypothesis tests for the study's two questions.

(1) Per context: is the adapted metric better than the untrained baseline on the *same* test
items?  Each item is scored by both metrics, so the samples are paired.  The exact McNemar test
uses only the discordant items (one metric right, the other wrong) and asks whether "adapted
better" and "baseline better" are equally likely; it is exact for small counts and makes no
normality assumption.  Ties (score 0.5) count as half-correct: an item is discordant in favour
of whichever metric scored higher.  The effect is the difference in mean score with a paired
bootstrap 95% CI.  Because the question is asked once per context, p-values are corrected
across contexts within each network (Holm for family-wise error, Benjamini-Hochberg for FDR).

(2) Across contexts: does adaptation hurt BAPPS?  Each context gives one delta (adapted minus
baseline score) per BAPPS subset.  There are few contexts and no reason to assume normality, so
the Wilcoxon signed-rank test checks for any shift.  But a non-significant difference is not
evidence of no harm, so "not significantly detrimental" is tested directly as non-inferiority:
H0: mean delta <= -margin against H1: mean delta > -margin (one-sided t-test, the one-sided half
of a TOST), with a margin declared in advance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

__all__ = [
    "context_improvement_table",
    "correct",
    "non_inferiority",
    "paired_context_test",
]

_METHODS = ("holm", "fdr_bh")
_TABLE_COLUMNS = [
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
]


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
    """Exact McNemar test of adapted vs baseline per-item scores on the same items.

    Returns a flat dict: statistic (McNemar exact statistic, min of the discordant counts),
    p (two-sided), effect (mean adapted - mean baseline), ci_low/ci_high (95% paired bootstrap),
    n, n_adapted_better, n_baseline_better.
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
    if n_a + n_b == 0:
        statistic, p = 0.0, 1.0
    else:
        table = np.array([[0, n_a], [n_b, 0]])
        res = mcnemar(table, exact=True)
        statistic, p = float(res.statistic), float(min(1.0, res.pvalue))
    diffs = a - b
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
    }


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


def _baseline_rows(base: pd.DataFrame, key: dict[str, Any]) -> pd.DataFrame:
    """Baseline rows for a group: same seed if present, else its only seed (untrained)."""
    sel = base[(base["network"] == key["network"]) & (base["context"] == key["context"])]
    if "seed" in key and "seed" in sel:
        same = sel[sel["seed"] == key["seed"]]
        if not same.empty or sel["seed"].nunique(dropna=False) != 1:
            return same
    return sel


def context_improvement_table(
    rows: pd.DataFrame,
    adapted_variant: str,
    baseline_variant: str = "baseline",
    alpha: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """One paired McNemar test per (network, context[, seed]) on the context test items.

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
    records: list[dict[str, Any]] = []
    for values, group in adapted.groupby(keys, sort=True, dropna=False):
        key = dict(zip(keys, values, strict=True))
        paired = _paired_scores(group, _baseline_rows(base, key))
        if paired.empty:
            continue
        res = paired_context_test(
            paired["score_adapted"].to_numpy(), paired["score_baseline"].to_numpy(), seed=seed
        )
        hypothesis = (
            f"{adapted_variant} beats {baseline_variant} on {key['context']} ({key['network']})"
        )
        records.append({"hypothesis": hypothesis, **key, "variant": adapted_variant, **res})
    if not records:
        return pd.DataFrame(columns=[*_TABLE_COLUMNS, *keys[2:]])
    table = pd.DataFrame.from_records(records)
    table["p_holm"] = table.groupby("network")["p"].transform(lambda p: correct(p, "holm"))
    table["p_bh"] = table.groupby("network")["p"].transform(lambda p: correct(p, "fdr_bh"))
    table["improved"] = table["effect"] > 0
    table["improved_significant"] = table["improved"] & (table["p_holm"] < alpha)
    extra = [c for c in keys[2:] if c not in _TABLE_COLUMNS]
    return table[[*_TABLE_COLUMNS, *extra]].reset_index(drop=True)


def _wilcoxon(deltas: np.ndarray) -> tuple[float, float, str]:
    """Two-sided Wilcoxon signed-rank; NaNs and a note when undefined."""
    if not np.any(deltas != 0):
        return np.nan, np.nan, "all deltas are zero; Wilcoxon undefined"
    res = sps.wilcoxon(deltas, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue), ""


def non_inferiority(deltas: np.ndarray, margin: float, alpha: float = 0.05) -> dict[str, Any]:
    """Wilcoxon signed-rank and a one-sided non-inferiority t-test on per-context deltas.

    H0: mean delta <= -margin, H1: mean delta > -margin.  ``non_inferior`` is ``ni_p < alpha``.
    Undefined tests (n < 2, zero spread, all-zero deltas) give NaN p-values and a ``note``.
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
    if sd == 0:
        notes.append("deltas have zero spread; t-test undefined")
    else:
        out["cohens_dz"] = out["mean_delta"] / sd
        low, high = sps.ttest_1samp(d, 0.0).confidence_interval(0.95)
        out.update(ci_low=float(low), ci_high=float(high))
        res = sps.ttest_1samp(d + margin, 0.0, alternative="greater")
        out.update(ni_statistic=float(res.statistic), ni_p=float(res.pvalue))
        out["non_inferior"] = bool(res.pvalue < alpha)
    out["note"] = "; ".join(n for n in notes if n)
    return out
