"""Tests for dpsim.analysis: the study's tables on simulated evaluations with planted effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dpsim import aggregate, analysis, io
from dpsim.analysis import StatsSettings
from dpsim.names import UNTRAINED

SETTINGS = StatsSettings(alpha=0.05, margin=0.02, bootstrap_samples=200, seed=0)


def _checkpoint(variant: str) -> str:
    return "none" if variant in UNTRAINED else "last"


def _summary_row(network, variant, context, dataset, kind, subset, score, seed=0, checkpoint=None):
    return {
        "network": network,
        "variant": variant,
        "context": context,
        "seed": seed,
        "checkpoint": checkpoint or _checkpoint(variant),
        "dataset": dataset,
        "kind": kind,
        "subset": subset,
        "score": score,
        "n": 100,
    }


def test_bapps_deltas_subtract_the_same_networks_baseline() -> None:
    rows = [
        _summary_row("alex", "baseline", "all", "bapps", "2afc", "trad", 0.70),
        _summary_row("alex", "baseline", "all", "bapps", "jnd", "trad", 0.60),
        _summary_row("vgg", "baseline", "all", "bapps", "2afc", "trad", 0.75),
        _summary_row("alex", "lin", "c0", "bapps", "2afc", "trad", 0.72),
        _summary_row("alex", "lin", "c0", "bapps", "jnd", "trad", 0.55),
        _summary_row("vgg", "lin", "c0", "bapps", "2afc", "trad", 0.74),
        # A second training seed shares the one untrained baseline of its network.
        _summary_row("vgg", "lin", "c0", "bapps", "2afc", "trad", 0.78, seed=1),
        _summary_row("alex", "lin", "c0", "context", "2afc", "c0", 0.9),
    ]
    deltas = analysis.bapps_deltas(pd.DataFrame(rows), "baseline")
    got = {(r.network, r.kind, r.seed): round(r.delta, 10) for r in deltas.itertuples(index=False)}
    assert got == {
        ("alex", "2afc", 0): 0.02,
        ("alex", "jnd", 0): -0.05,
        ("vgg", "2afc", 0): -0.01,
        ("vgg", "2afc", 1): 0.03,
    }


def _bapps_summary(rng, networks, contexts, shift) -> pd.DataFrame:
    rows = []
    for network in networks:
        rows.append(_summary_row(network, "baseline", "all", "bapps", "2afc", "trad", 0.7))
        for c in range(contexts):
            score = 0.7 + shift + rng.normal(0, 0.005)
            rows.append(_summary_row(network, "lin", f"c{c}", "bapps", "2afc", "trad", score))
    return pd.DataFrame(rows)


def test_bapps_tests_flag_harm_and_its_absence() -> None:
    rng = np.random.default_rng(0)
    harmless = analysis.bapps_tests(
        analysis.bapps_deltas(_bapps_summary(rng, ["alex"], 20, 0.0), "baseline"), SETTINGS
    )
    harmful = analysis.bapps_tests(
        analysis.bapps_deltas(_bapps_summary(rng, ["alex"], 20, -0.05), "baseline"), SETTINGS
    )
    assert harmless["non_inferior"].item() and harmless["equivalent"].item()
    assert not harmful["non_inferior"].item()
    assert harmful["wilcoxon_p"].item() < 1e-4
    assert harmful["mean_delta"].item() == pytest.approx(-0.05, abs=0.003)
    assert harmful["n"].item() == 20
    assert "no worse than baseline - 0.02" in harmful["hypothesis"].item()


def _items(rng, contexts: dict[str, tuple[float, float]], n: int = 300) -> pd.DataFrame:
    """Per-item context scores: adapted (lin, per context) and one untrained baseline file."""
    frames = []
    for context, (p_adapted, p_base) in contexts.items():
        for variant, p, owner in (("lin", p_adapted, context), ("baseline", p_base, "all")):
            frames.append(
                pd.DataFrame(
                    {
                        "network": "alex",
                        "variant": variant,
                        "context": owner,
                        "seed": 0,
                        "checkpoint": _checkpoint(variant),
                        "dataset": "context",
                        "kind": "2afc",
                        "subset": context,
                        "item": np.arange(n),
                        "score": (rng.random(n) < p).astype(float),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def test_context_tests_find_the_planted_improvements(tmp_path) -> None:
    rng = np.random.default_rng(4)
    planted = {f"c{i}": (0.85, 0.6) for i in range(8)} | {"c8": (0.6, 0.6), "c9": (0.5, 0.7)}
    items = _items(rng, planted)
    paths = []
    for (variant, context), frame in items.groupby(["variant", "context"]):
        paths.append(tmp_path / f"{variant}_{context}.parquet")
        io.write_parquet(frame.assign(d0=0.0, d1=0.0, judge=0.0, same=np.nan), paths[-1])
    table = analysis.context_tests(analysis.read_context_items(paths), SETTINGS)
    by_context = table.set_index("context")
    assert len(table) == 10
    assert by_context.loc[[f"c{i}" for i in range(8)], "improved_significant"].all()
    assert not by_context.loc[["c8", "c9"], "improved_significant"].any()
    assert not by_context.loc["c9", "improved"]
    assert (table["p_holm"] >= table["p"]).all()


def test_context_difficulty_ranks_contexts_by_distance() -> None:
    rankings = pd.DataFrame(
        {
            "context": ["c0", "c1", "c2", "c3"],
            "kendall_distance": [2, 5, 9, 12],
            "footrule": [4, 8, 6, 14],
        }
    )
    rows = []
    for c, base, lin in (("c0", 0.9, 0.92), ("c1", 0.8, 0.85), ("c2", 0.6, 0.7), ("c3", 0.5, 0.6)):
        rows.append(_summary_row("alex", "baseline", c, "context", "2afc", c, base))
        rows.append(_summary_row("alex", "lin", c, "context", "2afc", c, lin))
    table = analysis.context_difficulty(pd.DataFrame(rows), rankings, "baseline")
    kendall = table[(table["analysis"] == "score_vs_rank_distance") & (table["variant"] == "lin")]
    kendall = kendall.set_index("against")
    # Scores fall as the Kendall distance grows: rho = -1, exact p = 2 / 4!.
    assert kendall.loc["kendall_distance", "rho"] == pytest.approx(-1.0)
    assert kendall.loc["kendall_distance", "p"] == pytest.approx(2 / 24)
    # Footrule ranks 1, 3, 2, 4 against scores ranked 4, 3, 2, 1: rho = 1 - 6*(9+0+0+9)/60.
    assert kendall.loc["footrule", "rho"] == pytest.approx(1 - 6 * 18 / 60)
    agreement = table[table["analysis"] == "baseline_vs_adapted"]
    assert agreement["rho"].item() == pytest.approx(1.0)
    assert agreement["n"].item() == 4


def test_mixed_models_use_trained_variants_on_bapps() -> None:
    rng = np.random.default_rng(9)
    context_rows = pd.DataFrame(
        [
            _summary_row(n, v, f"c{c}", "context", "2afc", f"c{c}", rng.random())
            for n in ("alex", "vgg")
            for v in ("baseline", "lin")
            for c in range(6)
        ]
    )
    summary = pd.concat([_bapps_summary(rng, ["alex", "vgg"], 6, 0.0), context_rows])
    table = analysis.mixed_models(summary, "baseline")
    assert set(table["dataset"]) == {"context", "bapps"}
    bapps_terms = set(table.loc[table["dataset"] == "bapps", "term"])
    assert not any("variant" in term for term in bapps_terms)  # only lin: variant drops out
    assert "variant[T.lin]" in set(table.loc[table["dataset"] == "context", "term"])


def _vote_rows(rng, metric: pd.Series) -> pd.DataFrame:
    """BAPPS fit (2 votes) and val (5 votes) rows of one metric, votes drawn from its ratio."""
    parts = []
    for dataset, votes in (("bapps_train", 2), ("bapps", 5)):
        d0, d1 = rng.lognormal(0, 0.5, 60), rng.lognormal(0, 0.5, 60)
        share = rng.binomial(votes, 1 / (1 + (d1 / d0) ** 2)) / votes
        rows = pd.DataFrame({"d0": d0, "d1": d1, "judge": share, "votes": float(votes)})
        identity = metric[["network", "variant", "context", "seed", "checkpoint"]].to_dict()
        parts.append(
            rows.assign(**identity, dataset=dataset, kind="2afc", subset="trad", item=range(60))
        )
    return pd.concat(parts, ignore_index=True)


def test_write_stats_writes_every_table(tmp_path) -> None:
    rng = np.random.default_rng(1)
    items = _items(rng, {"c0": (0.8, 0.6), "c1": (0.7, 0.6), "c2": (0.9, 0.5)}, n=50)
    eval_paths = []
    for (variant, context), frame in items.groupby(["variant", "context"]):
        eval_paths.append(tmp_path / f"{variant}_{context}.parquet")
        rows = frame.assign(d0=0.0, d1=0.0, judge=0.0, votes=np.nan, same=np.nan)
        io.write_parquet(pd.concat([rows, _vote_rows(rng, rows.iloc[0])]), eval_paths[-1])
    summary = pd.concat(
        [
            _bapps_summary(rng, ["alex"], 3, 0.0),
            _bapps_summary(rng, ["alex"], 3, 0.0).assign(dataset="nights", subset="nights"),
            items.groupby(["network", "variant", "subset"], as_index=False)["score"]
            .mean()
            .assign(context=lambda f: f["subset"], seed=0, dataset="context", kind="2afc", n=50)
            .assign(checkpoint=lambda f: f["variant"].map(_checkpoint)),
        ],
        ignore_index=True,
    )
    io.write_parquet(summary, tmp_path / "summary.parquet")
    rankings = pd.DataFrame(
        {"context": ["c0", "c1", "c2"], "kendall_distance": [1, 2, 3], "footrule": [2, 4, 6]}
    )
    io.write_parquet(rankings, tmp_path / "rankings.parquet")
    outs = {name: tmp_path / "stats" / f"{name}.parquet" for name in analysis.STATS_FILES}
    analysis.write_stats(
        eval_paths, tmp_path / "summary.parquet", tmp_path / "rankings.parquet", outs, SETTINGS
    )
    for name, path in outs.items():
        if name in ("pairs", "orderings", "caps"):  # they need the test pool, the fitted caps
            assert pd.read_parquet(path).empty, name
            continue
        assert len(pd.read_parquet(path)) > 0, name
    with pytest.raises(ValueError, match="no output path"):
        analysis.write_stats(eval_paths, "s", "r", {}, SETTINGS)


def test_the_statistics_score_the_chosen_checkpoint_and_compare_both(tmp_path) -> None:
    rng = np.random.default_rng(4)
    last = _items(rng, {"c0": (0.5, 0.7), "c1": (0.5, 0.7)})  # last epoch: worse than baseline
    best = _items(rng, {"c0": (0.95, 0.7), "c1": (0.95, 0.7)})  # best epoch: better
    best = best[best["variant"] == "lin"].assign(checkpoint="best")
    items = pd.concat([last, best], ignore_index=True)
    summary = aggregate.summarise_items(items.assign(d0=0.0, same=np.nan))
    rankings = pd.DataFrame(
        {"context": ["c0", "c1"], "kendall_distance": [1, 2], "footrule": [2, 4]}
    )
    for checkpoint, improved in (("last", False), ("best", True)):
        settings = StatsSettings(bootstrap_samples=100, checkpoint=checkpoint)
        tables = analysis.compute_stats(items, summary, rankings, settings)
        assert tables["context_tests"]["improved_significant"].eq(improved).all(), checkpoint
    table = tables["checkpoints"]
    (row,) = table.itertuples()
    scores = summary[summary["variant"] == "lin"].groupby("checkpoint")["score"].mean()
    assert (row.variant, row.subset, row.n) == ("lin", "all contexts", 2)
    assert row.last == pytest.approx(scores["last"]) and row.best == pytest.approx(scores["best"])
    assert row.mean_difference == pytest.approx(scores["best"] - scores["last"])
    assert (row.best_higher, row.best_lower) == (2, 0)
