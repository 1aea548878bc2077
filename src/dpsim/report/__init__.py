"""``reports/report.html``: the study's answers for a reader, in one self-contained file.

It opens with the answer: the title and the study's question, a banner when the run is a demo
(synthetic BAPPS judgments, random-init weights, embedded images), one table row per network and
adapted variant (:mod:`dpsim.report.answer`), the findings in plain sentences generated from
``results/stats``, and the figures that carry them (the registry's section ``key``). The detail
follows: provenance, methods, tables (long ones folded), the other figures, software versions
and the full configuration.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from dpsim import aggregate, analysis, distortion_params, io, likelihood, published
from dpsim.figure_registry import FIGURES
from dpsim.names import DISTORTIONS, UNTRAINED
from dpsim.report import answer, findings, fits, html, ladder
from dpsim.report.provenance import Provenance, provenance, software_versions
from dpsim.report.readout_study import mos_notes, readout_section

__all__ = ["QUESTION", "ReportInputs", "build_report", "render_report"]

#: The study's question, in the one line under the report's title.
QUESTION = (
    "Can a deep perceptual similarity metric learn a context of similarity (a ranking of "
    "distortions), and what does that cost it on human perception (BAPPS)?"
)


@dataclass(frozen=True)
class ReportInputs:
    """Paths of everything the report reads (outputs of earlier rules)."""

    summary: Path
    stats: Mapping[str, Path]
    rankings: Path
    bapps_manifest: Path
    figures: Mapping[str, Path]
    captions: Mapping[str, Path] = field(default_factory=dict)
    readout: Path | None = None
    training_logs: Sequence[Path] = ()


@dataclass(frozen=True)
class _Tables:
    summary: pd.DataFrame
    stats: dict[str, pd.DataFrame]
    rankings: pd.DataFrame
    training: pd.DataFrame


def caption_text(path: Path | None) -> str:
    """A caption's RST (shared with ``snakemake --report``) as plain text."""
    if path is None or not Path(path).is_file():
        return ""
    text = " ".join(Path(path).read_text().split())
    return re.sub(r"``([^`]+)``|\*([^*]+)\*", lambda m: m.group(1) or m.group(2), text)


def _figures_in(inputs: ReportInputs, section: str) -> str:
    """The run's figures that the registry places in report section ``section``."""
    return "".join(
        html.figure(inputs.figures[e.name], e.title, caption_text(inputs.captions.get(e.name)))
        for e in FIGURES
        if e.section == section and e.name in inputs.figures
    )


def _banner(origin: Provenance) -> str:
    if not origin.is_demo:
        return ""
    reasons = html.bullet_list(origin.demo_reasons)
    return (
        '<div class="banner"><strong>Demo run: these numbers are not evidence about the '
        "science.</strong> They show that the pipeline runs end to end, because:"
        f"{reasons}Use <code>config/paper.yaml</code> (real BAPPS, ImageNet weights) for "
        "results.</div>"
    )


def _findings_section(tables: _Tables, config: Mapping[str, Any]) -> html.Section:
    alpha, margin = config["stats"]["alpha"], config["stats"]["margin"]
    stats = tables.stats
    sentences = [
        findings.overall_share(stats["context_tests"], alpha),
        *findings.context_findings(stats["context_tests"], alpha),
        *findings.bapps_findings(stats["bapps_tests"], margin, alpha),
        *findings.judgment_set_findings(stats["judgment_set_tests"], margin, alpha),
        *findings.likelihood_findings(_likelihood_gains(stats["likelihood"], config)),
        *findings.model_findings(stats["mixed_models"], alpha, min(config["grid"]["networks"])),
        *findings.difficulty_findings(stats["difficulty"], alpha),
        *findings.pair_findings(stats["pairs"], stats["orderings"], config["stats"]["baseline"]),
        *findings.cap_findings(stats["caps"], tables.summary),
        *ladder.ladder_findings(stats["tradeoff"], stats["bapps_tests"]),
        *findings.head_findings(tables.training, config["train"]["head"]),
        findings.checkpoint_finding(stats["checkpoints"], config["stats"]["checkpoint"]),
    ]
    body = html.bullet_list([s for s in sentences if s], "findings")
    return html.Section("findings", "Findings", body)


def _key_figures_section(inputs: ReportInputs) -> list[html.Section]:
    """The figures that carry the findings; no section when the run drew none of them."""
    body = _figures_in(inputs, "key")
    return [html.Section("key", "Key figures", body)] if body else []


def _opening(
    inputs: ReportInputs, tables: _Tables, config: Mapping[str, Any]
) -> list[html.Section]:
    """What the first screen and the next hold: the answer table, the findings, key figures."""
    stats = tables.stats
    table = answer.answer_table(stats["context_tests"], stats["bapps_tests"], tables.training)
    alpha, margin = config["stats"]["alpha"], config["stats"]["margin"]
    return [
        answer.answer_section(table, alpha, margin),
        _findings_section(tables, config),
        *_key_figures_section(inputs),
    ]


def distortions_text(section: Mapping[str, Any]) -> str:
    """The run's distortion set in words: the study's six, or the set with its plug-ins and the
    ranges it changed."""
    names = list(section["set"])
    params = section["params"]
    changed = [
        f"{n}: {params[n]}"
        for n in names
        if n in params and params[n] != distortion_params.defaults(n)
    ]
    if names == list(DISTORTIONS) and not changed:
        return "the study's six, PROTOCOL §2 ranges: " + ", ".join(names)
    shown = [
        f"{n} (plug-in {section['plugins'][n]})" if n in section["plugins"] else n for n in names
    ]
    text = f"{len(names)}: " + ", ".join(shown)
    return text + (f"; ranges changed: {'; '.join(changed)}" if changed else "")


def _provenance_section(config: Mapping[str, Any], origin: Provenance) -> html.Section:
    grid, train, pool = config["grid"], config["train"], config["pool"]["triplets"]
    rows = [
        ("Context images", origin.images),
        ("Distortions", distortions_text(config["distortions"])),
        ("Contexts", origin.contexts),
        (
            "Triplet pool",
            f"train {pool['train']} x {config['pool']['train_draws']} draws, "
            f"val {pool['val']}, test {pool['test']}",
        ),
        ("Networks", ", ".join(grid["networks"])),
        ("Backbone weights", origin.weights),
        ("Variants", ", ".join(grid["variants"])),
        ("Seeds", ", ".join(str(s) for s in grid["seeds"])),
        ("Training", _training_text(train)),
        ("BAPPS", origin.bapps),
        ("Untrained comparisons", ", ".join(config["evaluate"]["baselines"])),
        ("Device", str(config["device"])),
        ("Seed", str(config["seed"])),
    ]
    return html.Section("provenance", "Data and provenance", html.key_values(rows))


def _training_text(train: Mapping[str, Any]) -> str:
    chosen = {k: v for k, v in train.items() if k != "preset" and v is not None}
    overrides = ", ".join(f"{k} {v}" for k, v in sorted(chosen.items())) or "none"
    return f"preset {train['preset']}; overrides: {overrides}"


#: What each adapted variant trains, for the methods section.
VARIANT_WORDS = {
    "lin": "lin trains one non-negative weight per channel on the frozen network",
    "mix": (
        "mix trains lin's weights and, per tapped layer, a rank-{rank} matrix Q mixing the "
        "channels of the features' difference (mean over positions of ||Q D||^2 added to "
        "lin's distance; still a distance), on the frozen network, on {contexts}"
    ),
    "bitfit": "bitfit trains lin's weights and the network's biases, on {direct}",
    "lora": (
        "lora trains lin's weights and a rank-{lora} update B A of every convolution of the "
        "network (B starts at 0: the base network), on {direct}"
    ),
    "tune": "tune trains the channel weights and the whole network, on {direct}",
    "scratch": "scratch trains both from a random network, on {direct}",
}


def _variants_text(grid: Mapping[str, Any]) -> str:
    """One sentence naming what each adapted variant of the grid trains, and on which contexts."""

    def first(count: int | None) -> str:
        return "every context" if count is None else f"the first {count} contexts"

    values = {
        "rank": grid["mix"]["rank"],
        "lora": grid["lora"]["rank"],
        "contexts": first(grid["mix"]["contexts"]),
        "direct": first(grid["direct"]["contexts"]),
    }
    parts = [VARIANT_WORDS[v].format(**values) for v in grid["variants"] if v in VARIANT_WORDS]
    if not parts:
        return ""
    return "Adapted variants, all with the same trainer (train section): " + "; ".join(parts) + "."


def _methods_section(config: Mapping[str, Any]) -> html.Section:
    alpha, margin = config["stats"]["alpha"], config["stats"]["margin"]
    when = CHECKPOINT_WORDS[config["stats"]["checkpoint"]]
    text = [
        _variants_text(config["grid"]),
        f"Every adapted metric is scored {when} (stats.checkpoint); the section 'Last vs. best "
        "epoch' compares the two. Each adapted metric is compared with the untrained "
        f"{config['stats']['baseline']} metric of the same network on the same held-out test "
        "triplets of its context: an exact McNemar test on the items where exactly one metric "
        "is right (where the judges are shares rather than 0 or 1, the paired bootstrap test "
        "of the mean score difference instead), a paired bootstrap 95% CI of the score "
        "difference, and Holm (family-wise) "
        "and Benjamini-Hochberg (FDR) corrections across the contexts of a network.",
        "On BAPPS, each adapted metric gives one change (adapted minus baseline score) per "
        "subset. Across contexts and seeds these are tested with the Wilcoxon signed-rank test "
        f"(any shift), a one-sided t-test of non-inferiority against a margin of {margin:g} "
        "declared in the config, and TOST for equivalence within the margin. "
        "Effect sizes are the mean change with its 95% t interval and Cohen's d_z.",
        "A linear mixed model, score ~ variant * network + (1 | context), fitted by REML, "
        "separates the variants and networks from how hard each context is. On BAPPS only "
        "trained variants enter (an untrained score does not vary with the context).",
        "Context difficulty: Spearman correlations of per-context scores with the Kendall and "
        "footrule distances of each context's ranking from the identity order (exact "
        "permutation p-values for up to 8 contexts), and of baseline with adapted per-context "
        f"scores. Significance level: {alpha:g}.",
    ]
    return html.Section("methods", "Methods", "".join(html.paragraph(t) for t in text if t))


#: How the report names each checkpoint.
CHECKPOINT_WORDS = {
    "last": "after its last epoch, as the adaptation study does",
    "best": "at its best validation epoch (the study scores the last epoch)",
}


def _checkpoint_section(tables: _Tables, config: Mapping[str, Any]) -> html.Section:
    table = tables.stats["checkpoints"]
    chosen = config["stats"]["checkpoint"]
    text = (
        "Mean score of each adapted metric after its last epoch and at its best validation epoch "
        "(chosen by the context's validation triplets), over contexts and seeds; best_higher and "
        "best_lower count the cases where the best epoch scores above or below the last. The "
        f"statistics above use '{chosen}'."
    )
    body = html.paragraph(text) + (
        html.table(table) if len(table) else html.paragraph("No adapted metric in this run.")
    )
    return html.Section("checkpoints", "Last vs. best epoch", body)


def _context_section(inputs: ReportInputs, tables: _Tables) -> html.Section:
    tests = tables.stats["context_tests"]
    parts = [_figures_in(inputs, "contexts")]
    if not tests.empty:
        share = (
            tests.groupby(["network", "variant"])
            .agg(
                cases=("effect", "size"),
                improved=("improved", "sum"),
                improved_holm=("improved_significant", "sum"),
                median_effect=("effect", "median"),
                mean_adapted=("adapted_score", "mean"),
                mean_baseline=("baseline_score", "mean"),
            )
            .reset_index()
        )
        parts.append(html.table(share))
        caps = findings.cap_comparison(tables.stats["caps"], tables.summary)
        if len(caps):
            parts.append(
                html.paragraph(
                    "What the frozen features allow: the mean test 2AFC score of the best unit, "
                    "non-negative and unconstrained linear readout of each network's features, "
                    "fitted per context on its training triplets (results/stats/caps.parquet), "
                    "beside each adapted variant and lin, averaged over the contexts that "
                    "variant was trained on; <em>gap closed</em>: the share of the gap from lin "
                    "to the unconstrained readout that the variant closes."
                )
                + html.table(caps)
            )
        columns = ["network", "variant", "context", "seed", "adapted_score", "baseline_score"]
        columns += ["effect", "ci_low", "ci_high", "p", "p_holm", "p_bh", "improved_significant"]
        parts.append(
            html.collapsible(
                f"Every test ({len(tests)} rows)",
                html.table(tests[columns], note="Full table: results/stats/context_tests.parquet"),
            )
        )
    else:
        parts.append(html.paragraph("No adapted metric in this run."))
    return html.Section("contexts", "Context adaptation", "".join(parts))


def bapps_score_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean BAPPS score per metric (trained metrics averaged over contexts and seeds)."""
    bapps = summary[summary["dataset"] == "bapps"]
    if bapps.empty:
        return pd.DataFrame()
    wide = bapps.pivot_table(
        index=["network", "variant"], columns=["kind", "subset"], values="score", aggfunc="mean"
    )
    wide.columns = [f"{kind} {subset}" for kind, subset in wide.columns]
    return wide.reset_index()


def _bapps_section(inputs: ReportInputs, tables: _Tables) -> html.Section:
    tests = tables.stats["bapps_tests"]
    columns = ["network", "variant", "kind", "subset", "n", "mean_delta", "ci_low", "ci_high"]
    columns += ["cohens_dz", "wilcoxon_p", "wilcoxon_p_holm", "ni_p", "non_inferior", "tost_p"]
    parts = [
        _figures_in(inputs, "bapps"),
        html.table(bapps_score_table(tables.summary), note="2AFC: mean score; JND: mAP."),
        html.folded_table(
            "Every subset's tests",
            tests[columns] if not tests.empty else tests,
            note="Margin in score units.",
        ),
    ]
    return html.Section("bapps", "Human perception (BAPPS)", "".join(parts))


def judgment_set_score_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean 2AFC score per metric on each extra human set (trained metrics averaged over
    contexts and seeds), one column per set."""
    rows = summary[summary["dataset"].isin(analysis.judgment_set_datasets(summary))]
    if rows.empty:
        return pd.DataFrame()
    wide = rows.pivot_table(
        index=["network", "variant"], columns="dataset", values="score", aggfunc="mean"
    )
    items = rows.groupby("dataset")["n"].max()
    wide.columns = [f"{dataset} (n = {items[dataset]})" for dataset in wide.columns]
    return wide.reset_index()


def _judgment_sets_section(config: Mapping[str, Any], tables: _Tables) -> list[html.Section]:
    """The extra human sets (``evaluate.judgment_sets``), scored and tested as BAPPS is."""
    sets = config["evaluate"]["judgment_sets"]
    if not sets:
        return []
    tests = tables.stats["judgment_set_tests"]
    columns = ["dataset", "network", "variant", "n", "score", "baseline_score", "mean_delta"]
    columns += ["ci_low", "ci_high", "wilcoxon_p", "ni_p", "non_inferior", "tost_p"]
    sources = ", ".join(
        f"{name}: {html.escape(str(section['path']))} ({section['format']}, rows "
        f"{section['split'] or 'all'})"
        for name, section in sorted(sets.items())
    )
    parts = [
        html.paragraph(
            "Every metric scored on people's 2AFC judgments beside BAPPS, as BAPPS's 2AFC "
            f"subsets are (mean 2AFC score; the adapted metrics tested against the baseline "
            f"with the same tests). Sets: {sources}."
        ),
        html.table(judgment_set_score_table(tables.summary), note="Mean 2AFC score."),
        html.folded_table(
            "Every set's tests",
            tests[columns] if not tests.empty else tests,
            note="Full table: results/stats/judgment_set_tests.parquet. Margin in score units.",
        ),
    ]
    return [html.Section("judgment-sets", "Human perception (other judgment sets)", "".join(parts))]


def _likelihood_gains(table: pd.DataFrame, config: Mapping[str, Any]) -> pd.DataFrame:
    trained = [v for v in config["grid"]["variants"] if v not in UNTRAINED]
    return likelihood.likelihood_gains(table, config["stats"]["baseline"], trained)


def likelihood_score_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per (network, variant, human set): the likelihood's scores, means over contexts, seeds
    and subsets."""
    if table.empty:
        return table
    columns = ["log_likelihood", "chance", "ceiling", "normalised", "brier", "brier_chance"]
    grouped = table.groupby(["network", "variant", "dataset"], as_index=False)
    return grouped.agg(
        slope=("slope", "mean"), **{c: (c, "mean") for c in columns}, rows=("items", "size")
    )


def _likelihood_section(inputs: ReportInputs, tables: _Tables) -> html.Section:
    table = tables.stats["likelihood"]
    intro = html.paragraph(
        "How probable each metric makes people's votes (PROTOCOL §11): the k votes for p1 of "
        "a triplet's n judgments are Binomial(n, p) with p = sigmoid(slope x log(d0 / d1)), "
        "one family for every metric: it reads the distances only through their ratio (blind "
        "to a metric's scale), exchanging p0 and p1 gives 1 - p, and a slope of 0 is chance. "
        "The slope is fitted by maximum likelihood on a sample of the BAPPS train triplets "
        "(2 judgments each, bapps.fit_items per subset) and scored on BAPPS val (5 each) and "
        "on every judgment set with vote counts; a context's ranking head is not used (it "
        "models its context's labels, not people). Log-likelihoods are mean nats per triplet; "
        "chance is p = 0.5, the ceiling p = k/n; normalised = (score - chance) / (ceiling - "
        "chance); Brier = mean (p - k/n)^2."
    )
    if table.empty:
        note = html.paragraph("No likelihood: no human set with vote counts or bapps.fit_items 0.")
        return html.Section("likelihood", "Likelihood of the votes", intro + note)
    parts = [
        intro,
        html.table(
            likelihood_score_table(table),
            note="Full table: results/stats/likelihood.parquet (one row per metric and subset).",
        ),
        _figures_in(inputs, "likelihood"),
    ]
    return html.Section("likelihood", "Likelihood of the votes", "".join(parts))


def _difficulty_section(inputs: ReportInputs, tables: _Tables) -> html.Section:
    difficulty = tables.stats["difficulty"]
    rankings = tables.rankings[["context", "order_text", "kendall_distance", "footrule"]]
    parts = [
        _figures_in(inputs, "difficulty"),
        html.folded_table("Every correlation", difficulty),
        html.collapsible(f"The {len(rankings)} contexts", html.table(rankings)),
    ]
    return html.Section("difficulty", "Context difficulty", "".join(parts))


def _figures_section(inputs: ReportInputs, id_: str, title: str) -> html.Section:
    body = _figures_in(inputs, id_)
    return html.Section(id_, title, body or html.paragraph("No figure in this run."))


def _published_section(
    config: Mapping[str, Any], inputs: ReportInputs, tables: _Tables, manifest: Mapping[str, Any]
) -> html.Section:
    title = "Comparison with published numbers"
    if not published.comparable(manifest):
        text = (
            "Not shown: this run scored the BAPPS fixture, whose judgments are synthetic; the "
            "published LPIPS figures are on human judgments. Runs on the real BAPPS (bapps.source "
            "download or local) put their scores here beside the published table."
        )
        return html.Section("published", title, html.paragraph(text))
    parts = [published.comparison_table(tables.summary, config["grid"])]
    if inputs.readout is not None:
        parts.append(published.readout_comparison(pd.read_parquet(inputs.readout)))
    table = pd.concat(parts, ignore_index=True)
    note = (
        f"Published: {published.SOURCE}. Ours: mean of the six val subsets' 2AFC scores "
        "(and item-weighted), in percent. Source 'evaluation': L2, SSIM, and the untrained "
        "baseline when grid.taps reads LPIPS's layers; 'readout study': LPIPS's layers read out "
        "spatially with unit weights (baseline), channel weights learned on the BAPPS 2AFC "
        "train split (lin) or the network tuned with them (tune); readout.taps lpips for "
        "alexnet, vgg16, squeezenet1_1. Our "
        "context-adapted lin/tune are not LPIPS's and are not compared. Humans: "
        + ", ".join(f"{k} {v}" for k, v in published.HUMAN_2AFC.items())
        + "."
    )
    empty = "No metric of this run has a published counterpart on all six val subsets."
    return html.Section(
        "published",
        title,
        html.table(table, note=note) if len(table) else html.paragraph(empty + " " + note),
    )


def _readout_sections(config: Mapping[str, Any], inputs: ReportInputs) -> list[html.Section]:
    if inputs.readout is None:
        return []
    table = pd.read_parquet(inputs.readout)
    notes = mos_notes(config["mos"], table)
    return [readout_section(table, _figures_in(inputs, "readout"), notes)]


def _software_section() -> html.Section:
    return html.Section("software", "Software", html.key_values(list(software_versions().items())))


def _config_section(config: Mapping[str, Any]) -> html.Section:
    text = yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False)
    body = html.paragraph("The validated configuration (defaults filled in):")
    return html.Section("config", "Configuration", body + f"<pre>{html.escape(text)}</pre>")


def _read_tables(inputs: ReportInputs, checkpoint: str) -> _Tables:
    return _Tables(
        summary=analysis.at_checkpoint(pd.read_parquet(inputs.summary), checkpoint),
        stats={name: pd.read_parquet(path) for name, path in inputs.stats.items()},
        rankings=pd.read_parquet(inputs.rankings),
        training=aggregate.read_training_logs(inputs.training_logs),
    )


def render_report(
    config: Mapping[str, Any],
    inputs: ReportInputs,
    extra_sections: Sequence[html.Section] = (),
) -> str:
    """The report as one HTML string (see the module docstring for its parts)."""
    tables = _read_tables(inputs, config["stats"]["checkpoint"])
    manifest = json.loads(Path(inputs.bapps_manifest).read_text())
    origin = provenance(config, manifest)
    detail = [
        _provenance_section(config, origin),
        _methods_section(config),
        _context_section(inputs, tables),
        ladder.ladder_section(tables.stats["tradeoff"], tables.stats["bapps_tests"]),
        _bapps_section(inputs, tables),
        *_judgment_sets_section(config, tables),
        _likelihood_section(inputs, tables),
        _published_section(config, inputs, tables, manifest),
        fits.models_section(tables.stats["mixed_models"]),
        _difficulty_section(inputs, tables),
        _checkpoint_section(tables, config),
        *_readout_sections(config, inputs),
        *extra_sections,
        _figures_section(inputs, "training", "Training"),
        _figures_section(inputs, "examples", "Examples"),
        _software_section(),
        _config_section(config),
    ]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"Generated {stamp} by dpsim. " + (
        "DEMO RUN (see the banner)." if origin.is_demo else "Full inputs (see provenance)."
    )
    title = "dpsim: adapting a perceptual similarity metric to contexts"
    opening = _opening(inputs, tables, config)
    return html.page(title, QUESTION, subtitle, _banner(origin), opening, detail)


def build_report(
    config: Mapping[str, Any],
    inputs: ReportInputs,
    out_path: str | Path,
    extra_sections: Sequence[html.Section] = (),
) -> None:
    """Render the report and write it atomically to ``out_path``."""
    document = render_report(config, inputs, extra_sections)
    with io.atomic_path(out_path) as temp:
        Path(temp).write_text(document, encoding="utf-8")
