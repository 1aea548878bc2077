"""The report's opening: the study's findings as plain sentences generated from the statistics.

Every sentence is computed from ``results/stats`` (never written by hand), names the test it
rests on, and says so when there is too little data for a claim.
"""

from __future__ import annotations

import math

import pandas as pd

from dpsim.names import UNTRAINED


def format_p(p: float) -> str:
    """A p-value as people write it: 3 significant digits, scientific below 0.001."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    return f"{p:.1e}" if p < 0.001 else f"{p:.3g}"


def signed(value: float, digits: int = 3) -> str:
    """A change with its sign (``+0.031``), or "n/a" when it is undefined."""
    return "n/a" if math.isnan(value) else f"{value:+.{digits}f}"


def _interval(low: float, high: float, digits: int = 3) -> str:
    if math.isnan(low) or math.isnan(high):
        return "CI n/a"
    return f"95% CI [{low:+.{digits}f}, {high:+.{digits}f}]"


#: How the context test of each kind of judge is named in sentences.
TEST_WORDS = {"mcnemar_exact": "exact McNemar test", "paired_bootstrap": "paired bootstrap test"}


def test_words(tests: pd.DataFrame) -> str:
    """The test(s) behind ``tests`` rows in words (McNemar for 0/1 judges, the paired bootstrap
    for shares); tables written before the ``test`` column were all McNemar."""
    used = sorted(set(tests["test"])) if "test" in tests else ["mcnemar_exact"]
    return " or ".join(TEST_WORDS.get(name, name) for name in used)


def context_findings(context_tests: pd.DataFrame, alpha: float) -> list[str]:
    """Per (network, variant): how many contexts improved, raw and significant after Holm."""
    if context_tests.empty:
        return ["No adapted metric was tested on its context (no trained variant in the grid)."]
    sentences = []
    for (network, variant), group in context_tests.groupby(["network", "variant"], sort=True):
        cases, improved = len(group), int(group["improved"].sum())
        significant = int(group["improved_significant"].sum())
        worse = int(((group["effect"] < 0) & (group["p_holm"] < alpha)).sum())
        sentences.append(
            f"{variant} ({network}) improved on the untrained baseline in {improved} of {cases} "
            f"context cases, {significant} of them significantly ({test_words(group)}, "
            f"Holm-adjusted p < {alpha:g}); {worse} got significantly worse. Median change "
            f"in context 2AFC score: {signed(float(group['effect'].median()))}."
        )
    return sentences


def overall_share(context_tests: pd.DataFrame, alpha: float) -> str:
    """The paper's headline: the share of (network, variant, context, seed) cases improved."""
    if context_tests.empty:
        return ""
    cases = len(context_tests)
    improved = context_tests["improved"].mean() * 100
    significant = context_tests["improved_significant"].mean() * 100
    return (
        f"Over all {cases} adapted cases (network x variant x context x seed), {improved:.0f}% "
        f"improved on their context and {significant:.0f}% significantly "
        f"(Holm-adjusted p < {alpha:g})."
    )


def bapps_findings(bapps_tests: pd.DataFrame, margin: float, alpha: float) -> list[str]:
    """Per (network, variant): on how many BAPPS subsets adaptation was shown non-inferior."""
    if bapps_tests.empty:
        return ["No BAPPS comparison was possible (no adapted metric or no baseline)."]
    sentences = []
    for (network, variant), group in bapps_tests.groupby(["network", "variant"], sort=True):
        shown = int(group["non_inferior"].sum())
        worst = group.loc[group["mean_delta"].idxmin()]
        sentence = (
            f"On BAPPS, {variant} ({network}) was shown non-inferior to the baseline within a "
            f"margin of {margin:g} on {shown} of {len(group)} subsets (one-sided t-test, "
            f"alpha {alpha:g}, n = {int(group['n'].max())} contexts x seeds); its largest mean "
            f"change was {signed(float(worst['mean_delta']), 4)} on {worst['kind']} "
            f"{worst['subset']} ({_interval(worst['ci_low'], worst['ci_high'], 4)})."
        )
        if shown < len(group):
            failed = group[~group["non_inferior"]]
            names = ", ".join(f"{r.kind} {r.subset}" for r in failed.itertuples())
            sentence += f" Non-inferiority could not be shown on: {names}."
        sentences.append(sentence)
    return sentences


def judgment_set_findings(tests: pd.DataFrame, margin: float, alpha: float) -> list[str]:
    """Per extra human set, network and variant: its score against the baseline's, and whether
    it was shown non-inferior (``results/stats/judgment_set_tests.parquet``)."""
    sentences = []
    for row in tests.itertuples():
        verdict = "shown" if row.non_inferior else "not shown"
        sentences.append(
            f"On {row.dataset} ({row.kind}), {row.variant} ({row.network}) scored "
            f"{row.score:.4f} against the baseline's {row.baseline_score:.4f}: a mean change of "
            f"{signed(float(row.mean_delta), 4)} ({_interval(row.ci_low, row.ci_high, 4)}), "
            f"non-inferiority within {margin:g} {verdict} (one-sided t-test, alpha {alpha:g}, "
            f"n = {int(row.n)} contexts x seeds)."
        )
    return sentences


def likelihood_findings(gains: pd.DataFrame) -> list[str]:
    """Per network, trained variant and human set: how much adaptation changed the
    log-likelihood of people's votes (:func:`dpsim.likelihood.likelihood_gains`)."""
    sentences = []
    for row in gains.itertuples():
        verb = "raises" if row.gain > 0 else "lowers"
        where = "BAPPS val" if row.dataset == "bapps" else row.dataset
        sentences.append(
            f"{row.variant} ({row.network}) {verb} the log-likelihood of the {where} votes by "
            f"{abs(row.gain):.4f} nats per triplet over the baseline (normalised between "
            f"chance and ceiling: {row.normalised:.3f} against {row.baseline_normalised:.3f}; "
            f"mean over {int(row.cases)} contexts x seeds x subsets)."
        )
    return sentences


def model_findings(mixed_models: pd.DataFrame, alpha: float, reference_network: str) -> list[str]:
    """The mixed model's variant effects on the context test triplets (vs. the baseline)."""
    if mixed_models.empty:
        return []
    on_context = mixed_models[mixed_models["dataset"] == "context"]
    failed = on_context[on_context["term"] == "(model)"]
    if not failed.empty:
        return [f"The mixed model on context scores was not fitted: {failed['note'].iloc[0]}."]
    sentences = []
    for row in on_context[on_context["term"].str.fullmatch(r"variant\[T\.[a-z]+\]")].itertuples():
        variant = row.term.split("T.")[1].rstrip("]")
        verdict = "significant" if row.p < alpha else "not significant"
        sentences.append(
            f"The mixed model (score ~ variant * network + (1 | context)) puts the effect of "
            f"{variant} on context 2AFC score, relative to the baseline for "
            f"{reference_network} (the reference level), at "
            f"{signed(row.effect)} ({_interval(row.ci_low, row.ci_high)}, p = {format_p(row.p)}"
            f", {verdict})."
        )
    return sentences


def difficulty_findings(difficulty: pd.DataFrame, alpha: float) -> list[str]:
    """Whether rank distance explains context difficulty, and baseline/adapted agreement."""
    if difficulty.empty:
        return []
    kendall = difficulty[
        (difficulty["analysis"] == "score_vs_rank_distance")
        & (difficulty["against"] == "kendall_distance")
    ]
    if kendall["rho"].isna().all():
        note = kendall["note"].iloc[0] if len(kendall) else "no context scores"
        return [f"Context difficulty was not related to rank distance: {note}."]
    defined = kendall.dropna(subset=["rho"])
    significant = int((defined["p"] < alpha).sum())
    sentences = [
        f"Context scores and the contexts' Kendall distance from the identity order: median "
        f"Spearman rho {defined['rho'].median():+.2f} over {len(defined)} metrics, {significant} "
        f"with p < {alpha:g} (exact permutation p-values for up to 8 contexts)."
    ]
    agreement = difficulty[difficulty["analysis"] == "baseline_vs_adapted"].dropna(subset=["rho"])
    if len(agreement):
        sentences.append(
            f"Do baseline and adapted metrics find the same contexts hard? Median Spearman rho "
            f"between their per-context scores: {agreement['rho'].median():+.2f} "
            f"({len(agreement)} adapted metrics)."
        )
    return sentences


#: How far on either side of 0.5 the head's and the metric's val 2AFC must lie for a run to
#: count as inverted (a few hundred val triplets put chance scores within about +-0.03).
INVERSION_MARGIN = 0.05


def head_inversions(logs: pd.DataFrame) -> pd.DataFrame:
    """The last epoch of every trained run, with ``inverted`` True where its ranking head reads
    the distances backwards.

    A run (network, variant, context, seed) counts as inverted when, at its last epoch, the
    head's own val 2AFC is at least ``0.5 + INVERSION_MARGIN`` while the metric's is at most
    ``0.5 - INVERSION_MARGIN`` (see :mod:`dpsim.head`). Logs without ``val_head_2afc`` (older
    runs) give an empty table: the count is then unknown, not zero.
    """
    if logs.empty or "val_head_2afc" not in logs:
        return pd.DataFrame(columns=[*RUN_KEYS, "val_2afc", "val_head_2afc", "inverted"])
    last = logs.sort_values("epoch").groupby(list(RUN_KEYS), sort=True).tail(1)
    last = last.dropna(subset=["val_head_2afc", "val_2afc"]).sort_values(list(RUN_KEYS))
    high, low = 0.5 + INVERSION_MARGIN, 0.5 - INVERSION_MARGIN
    return last.assign(inverted=(last["val_head_2afc"] >= high) & (last["val_2afc"] <= low))


#: What identifies one trained run in the training logs.
RUN_KEYS: tuple[str, ...] = ("network", "variant", "context", "seed")


def head_findings(logs: pd.DataFrame, head: str) -> list[str]:
    """How many trained runs ended with the ranking head reading the distances backwards
    (:func:`head_inversions`); logs without the head's own score give no sentence."""
    last = head_inversions(logs)
    if last.empty:
        return []
    high, low = 0.5 + INVERSION_MARGIN, 0.5 - INVERSION_MARGIN
    inverted = last[last["inverted"]]
    rule = (
        f"the head's own val 2AFC at least {high:g} while the metric's is at most {low:g}: the "
        "head reads the distances backwards and the metric learns the wrong ranking"
    )
    if inverted.empty:
        return [f"No trained run ended with an inverted ranking head ({rule}; {head} head)."]
    runs = "; ".join(
        f"{r.network} {r.variant} {r.context} (head {r.val_head_2afc:.2f}, metric {r.val_2afc:.2f})"
        for r in inverted.head(5).itertuples()
    )
    more = f" and {len(inverted) - 5} more" if len(inverted) > 5 else ""
    remedy = " train.head: monotone rules this out." if head == "lpips" else ""
    return [
        f"The ranking head ended inverted in {len(inverted)} of {len(last)} trained runs "
        f"({rule}): {runs}{more}.{remedy}"
    ]


def checkpoint_finding(checkpoints: pd.DataFrame, chosen: str) -> str:
    """Which checkpoint the statistics score, and what the other one would change on contexts."""
    rows = checkpoints[checkpoints["dataset"] == "context"]
    if rows.empty:
        return ""
    other = "best" if chosen == "last" else "last"
    sign = 1 if chosen == "last" else -1
    changes = ", ".join(
        f"{signed(sign * row.mean_difference)} ({row.variant}, {row.network})"
        for row in rows.itertuples()
    )
    study = ", as the study does" if chosen == "last" else " (the study scores the last epoch)"
    noun = "last epoch" if chosen == "last" else "best validation epoch"
    return (
        f"The statistics score adapted metrics at their {noun}{study}; the {other} checkpoint "
        f"would change the mean context 2AFC score by {changes}."
    )


def pair_findings(pairs: pd.DataFrame, orderings: pd.DataFrame, baseline: str) -> list[str]:
    """Per adapted metric: its score on pairs of adjacent ranks against pairs farthest apart,
    and how often its implied ordering of the distortions is the context's, beside the
    untrained ``baseline`` on the same contexts."""
    if pairs.empty or orderings.empty:
        return []
    sentences = []
    adapted = pairs[pairs["variant"] != baseline]
    for (network, variant), rows in adapted.groupby(["network", "variant"], sort=True):
        if variant in UNTRAINED:
            continue
        contexts = set(rows["context"])
        base = pairs[
            (pairs["network"] == network)
            & (pairs["variant"] == baseline)
            & pairs["context"].isin(contexts)
        ]
        far = int(rows["gap"].max())
        mine, theirs = _gap_means(rows, far), _gap_means(base, far)
        order = _matches(orderings, network, variant, contexts)
        base_order = _matches(orderings, network, baseline, contexts)
        sentences.append(
            f"{variant} ({network}) scores {mine[0]:.3f} on pairs of adjacent ranks and "
            f"{mine[1]:.3f} on pairs {far} ranks apart ({baseline}: {theirs[0]:.3f} and "
            f"{theirs[1]:.3f}); its own ordering of the distortions (by mean distance) is the "
            f"context's ranking in {order[0]} of {len(contexts)} contexts, median Kendall tau "
            f"{signed(order[1], 2)} ({baseline}: {base_order[0]}, {signed(base_order[1], 2)})."
        )
    return sentences


def _gap_means(rows: pd.DataFrame, far: int) -> tuple[float, float]:
    means = rows.groupby("gap")["score"].mean()
    return float(means.get(1, float("nan"))), float(means.get(far, float("nan")))


def _matches(
    orderings: pd.DataFrame, network: str, variant: str, contexts: set
) -> tuple[int, float]:
    rows = orderings[
        (orderings["network"] == network)
        & (orderings["variant"] == variant)
        & orderings["context"].isin(contexts)
    ]
    return int(rows["matches"].sum()), float(rows["kendall_tau"].median())


def cap_comparison(caps: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Per (network, seed, adapted variant), over the contexts that variant was trained on: the
    mean test 2AFC of each fitted readout, of lin and of the variant (``summary`` at the
    statistics' checkpoint), and the share of the gap from lin to the unconstrained readout
    that the variant closes (``gap closed``; none for lin itself)."""
    if caps.empty:
        return pd.DataFrame()
    keys = ["network", "seed"]
    wide = caps.pivot_table(
        index=[*keys, "context"], columns="weighting", values="score", aggfunc="mean"
    )
    wide.columns = [f"{name} cap" for name in wide.columns]
    rows = summary[(summary["dataset"] == "context") & ~summary["variant"].isin(UNTRAINED)]
    scores = rows.pivot_table(
        index=[*keys, "context"], columns="variant", values="score", aggfunc="mean"
    )
    joined = wide.join(scores, how="inner")
    records = []
    for variant in sorted(scores.columns, key=_variant_rank):
        for (network, seed), group in joined.dropna(subset=[variant]).groupby(keys):
            means = group.mean(numeric_only=True)
            record = {"network": network, "seed": seed, "variant": variant}
            record |= {"contexts": len(group), **{c: means[c] for c in wide.columns}}
            record |= {"lin": means.get("lin", float("nan")), "score": means[variant]}
            gap = record["unconstrained cap"] - record["lin"]
            closed = (record["score"] - record["lin"]) / gap if variant != "lin" else None
            records.append({**record, "gap closed": closed})
    return pd.DataFrame(records)


def _variant_rank(variant: str) -> tuple[int, str]:
    order = ("lin", "mix", "bitfit", "lora", "tune", "scratch")
    return (order.index(variant) if variant in order else len(order), variant)


def cap_findings(caps: pd.DataFrame, summary: pd.DataFrame) -> list[str]:
    """Whether lin falls short of what its metric form allows on these features, or the form
    itself is the limit (:mod:`dpsim.caps`); and how much of the gap to an unconstrained
    readout ``mix`` closes on its contexts."""
    table = cap_comparison(caps, summary)
    if table.empty or "nonnegative cap" not in table:
        return []
    sentences = []
    for row in table[table["variant"] == "lin"].to_dict("records"):
        lin, cap = row["lin"], row["nonnegative cap"]
        verdict = (
            "the metric form, not the trainer, is what limits lin here"
            if lin >= cap - 0.02
            else f"lin stays {cap - lin:.3f} below what its form allows: the trainer falls short"
        )
        sentences.append(
            f"On {row['network']}'s frozen features (seed {row['seed']}) the best linear "
            f"readouts of the {row['contexts']} contexts, fitted on their training triplets, "
            f"reach a mean test 2AFC of {row['unit cap']:.3f} with unit weights, {cap:.3f} with "
            f"non-negative channel weights (lin's form) and {row['unconstrained cap']:.3f} with "
            f"unconstrained ones; lin reaches {lin:.3f}: {verdict}."
        )
    for row in table[table["variant"] == "mix"].to_dict("records"):
        closed = row["gap closed"]
        verdict = "at least half" if closed >= 0.5 else "less than half"
        sentences.append(
            f"On the {row['contexts']} contexts mix trains on, {row['network']} (seed "
            f"{row['seed']}): lin {row['lin']:.3f}, mix {row['score']:.3f}, the unconstrained "
            f"linear readout {row['unconstrained cap']:.3f}: the channel mixing closes "
            f"{closed:.0%} of the gap from lin to it ({verdict})."
        )
    return sentences
