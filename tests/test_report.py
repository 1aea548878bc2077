"""The HTML report: findings computed from the statistics, provenance, self-containment, and a
headless-Chromium check of the page a reader opens."""

from __future__ import annotations

import dataclasses
import json
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from browser import first_screen, inspect_page

from dpsim import io, likelihood, report
from dpsim.config import validate_config
from dpsim.figures import save_figure
from dpsim.names import STATS_FILES
from dpsim.report import answer, findings, fits, readout_study
from dpsim.report.provenance import provenance


def _context_tests() -> pd.DataFrame:
    effects = [0.10, 0.05, -0.02, 0.08]
    p_holm = [0.001, 0.20, 0.01, 0.03]
    return pd.DataFrame(
        {
            "network": "alexnet",
            "variant": "lin",
            "context": [f"c{i:03d}" for i in range(4)],
            "seed": 0,
            "effect": effects,
            "ci_low": [e - 0.03 for e in effects],
            "ci_high": [e + 0.03 for e in effects],
            "p": [p / 2 for p in p_holm],
            "p_holm": p_holm,
            "p_bh": p_holm,
            "n": 200,
            "improved": [e > 0 for e in effects],
            "improved_significant": [
                e > 0 and p < 0.05 for e, p in zip(effects, p_holm, strict=True)
            ],
            "adapted_score": [0.7 + e for e in effects],
            "baseline_score": 0.7,
            "hypothesis": "h",
            "statistic": 1.0,
        }
    )


def test_context_findings_count_improvements_by_hand() -> None:
    (sentence,) = findings.context_findings(_context_tests(), alpha=0.05)
    # Improved: c000, c001, c003 (3 of 4); significant after Holm: c000, c003; worse: c002.
    assert "lin (alexnet) improved on the untrained baseline in 3 of 4 context cases" in sentence
    assert "2 of them significantly" in sentence
    assert "1 got significantly worse" in sentence
    assert "Median change in context 2AFC score: +0.065" in sentence  # median(.1,.05,-.02,.08)
    share = findings.overall_share(_context_tests(), alpha=0.05)
    assert "Over all 4 adapted cases" in share and "75% improved" in share and "50% sig" in share


def test_bapps_findings_name_the_subsets_that_failed() -> None:
    tests = pd.DataFrame(
        {
            "network": "vgg16",
            "variant": "tune",
            "kind": ["2afc", "jnd"],
            "subset": ["traditional", "cnn"],
            "n": 10,
            "mean_delta": [-0.001, -0.03],
            "ci_low": [-0.004, -0.05],
            "ci_high": [0.002, -0.01],
            "non_inferior": [True, False],
        }
    )
    (sentence,) = findings.bapps_findings(tests, margin=0.02, alpha=0.05)
    assert "non-inferior to the baseline within a margin of 0.02 on 1 of 2 subsets" in sentence
    assert "largest mean change was -0.0300 on jnd cnn" in sentence
    assert "could not be shown on: jnd cnn" in sentence


def test_format_p() -> None:
    assert findings.format_p(0.0123456) == "0.0123"
    assert findings.format_p(0.00001234) == "1.2e-05"
    assert findings.format_p(float("nan")) == "n/a"


def _config(**changes) -> dict:
    return validate_config(changes)


def test_provenance_flags_every_demo_input() -> None:
    demo = provenance(_config(), {"source": "fixture", "fixture": {"synthetic_judgments": True}})
    assert demo.is_demo and len(demo.demo_reasons) == 3
    assert "SYNTHETIC" in demo.bapps and "RANDOM" in demo.weights
    real = provenance(
        _config(images={"source": "stl10"}, grid={"weights": "imagenet"}),
        {"source": "download", "root": "/data/bapps"},
    )
    assert not real.is_demo
    assert "ImageNet" in real.weights and "STL10" in real.images


def _summary() -> pd.DataFrame:
    rows = []
    for variant, context, score in (
        ("baseline", "all", 0.70),
        ("lin", "c000", 0.71),
        ("lin", "c001", 0.69),
    ):
        for subset in ("traditional", "cnn"):
            for checkpoint, change in (("last", 0.0), ("best", 0.01)):
                if variant == "baseline":
                    checkpoint, change = "none", 0.0
                row = (variant, context, 0, checkpoint, "bapps", "2afc", subset, score + change, 50)
                rows.append(("alexnet", *row))
    for context in ("c000", "c001"):
        rows.append(
            ("alexnet", "baseline", context, 0, "none", "context", "2afc", context, 0.6, 50)
        )
        rows.append(("alexnet", "lin", context, 0, "last", "context", "2afc", context, 0.7, 50))
        rows.append(("alexnet", "lin", context, 0, "best", "context", "2afc", context, 0.74, 50))
    columns = ["network", "variant", "context", "seed", "checkpoint", "dataset", "kind"]
    return pd.DataFrame(rows, columns=[*columns, "subset", "score", "n"])


def _report_inputs(tmp_path, manifest: dict) -> report.ReportInputs:
    from dpsim import analysis, ladder, pairs

    everything = _summary()
    summary = analysis.at_checkpoint(everything, "last")
    rankings = pd.DataFrame(
        {
            "context": ["c000", "c001"],
            "order": [["rotate", "translate", "darken", "color", "blur", "zoom_in"]] * 2,
            "order_text": ["a", "b"],
            "kendall_distance": [0, 3],
            "footrule": [0, 4],
        }
    )
    settings = analysis.StatsSettings(bootstrap_samples=100)
    tables = {
        "context_tests": _context_tests(),
        "bapps_deltas": analysis.bapps_deltas(summary, "baseline"),
        "mixed_models": analysis.mixed_models(summary, "baseline"),
        "difficulty": analysis.context_difficulty(summary, rankings, "baseline"),
        "checkpoints": analysis.checkpoint_differences(everything),
        "pairs": pd.DataFrame(columns=list(pairs.PAIR_COLUMNS)),
        "orderings": pd.DataFrame(columns=list(pairs.ORDERING_COLUMNS)),
        "caps": pd.DataFrame(columns=list(analysis.CAPS)),
    }
    tables["bapps_tests"] = analysis.bapps_tests(tables["bapps_deltas"], settings)
    tables["judgment_set_tests"] = analysis.judgment_set_tests(summary, settings)
    tables["likelihood"] = pd.DataFrame(columns=list(likelihood.COLUMNS))
    tables["calibration"] = pd.DataFrame(columns=list(likelihood.CALIBRATION_COLUMNS))
    tables["tradeoff"] = ladder.tradeoff_table(
        tables["context_tests"], tables["bapps_deltas"], pd.DataFrame()
    )
    paths = {}
    for name in STATS_FILES:
        paths[name] = tmp_path / f"{name}.parquet"
        io.write_parquet(tables[name], paths[name])
    io.write_parquet(everything, tmp_path / "summary.parquet")
    io.write_parquet(rankings, tmp_path / "rankings.parquet")
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    figure, axis = plt.subplots(figsize=(2, 2))
    axis.plot([0, 1], [0, 1])
    save_figure(figure, tmp_path / "plot.png")
    (tmp_path / "bapps_heatmap.rst").write_text("A heatmap of ``scores`` per *subset*.\n")
    return report.ReportInputs(
        summary=tmp_path / "summary.parquet",
        stats=paths,
        rankings=tmp_path / "rankings.parquet",
        bapps_manifest=tmp_path / "manifest.json",
        figures={"bapps_heatmap": tmp_path / "plot.png", "training_curves": tmp_path / "plot.png"},
        captions={"bapps_heatmap": tmp_path / "bapps_heatmap.rst"},
    )


def test_report_is_self_contained_and_warns_on_a_demo(tmp_path) -> None:
    inputs = _report_inputs(tmp_path, {"source": "fixture", "fixture": {"synthetic_judgments": 1}})
    out = tmp_path / "report.html"
    report.build_report(_config(), inputs, out)
    text = out.read_text()
    assert 'class="banner"' in text and "SYNTHETIC judgments" in text
    assert not re.search(r"(src|href)=\"(https?:)?//", text), "the report must not fetch anything"
    assert text.count("data:image/png;base64,") == 2
    assert "A heatmap of scores per subset." in text  # the RST caption as plain text
    findings_section = text.split('id="findings"')[1].split("</section>")[0]
    assert "3 of 4 context cases" in findings_section
    assert "torch" in text and "margin: 0.02" in text  # software versions and the config
    assert "Not shown: this run scored the BAPPS fixture" in text
    assert '<section id="ladder">' in text and "The adaptation ladder" in text
    assert "lin trains one non-negative weight per channel" in text  # the methods' variants


def test_report_without_demo_inputs_has_no_banner(tmp_path) -> None:
    inputs = _report_inputs(tmp_path, {"source": "download", "root": "/data/bapps"})
    config = _config(images={"source": "stl10"}, grid={"weights": "imagenet"})
    html_text = report.render_report(config, inputs)
    assert 'class="banner"' not in html_text and "Full inputs" in html_text
    # Real BAPPS, but the toy summary lacks the six val subsets: the section says so.
    assert "No metric of this run has a published counterpart" in html_text


def test_published_section_puts_a_readout_lin_beside_lpips_lin(tmp_path) -> None:
    from dpsim.published import LAYER_TAPS, VAL_SUBSETS

    inputs = _report_inputs(tmp_path, {"source": "download", "root": "/data/bapps"})
    rows = [
        {
            "network": "alexnet",
            "weights": "imagenet",
            "descriptor": "spatial",
            "weighting": weighting,
            "layers": layers,
            "dataset": "bapps",
            "kind": "2afc",
            "subset": subset,
            "score": 0.791,
            "n": 100,
        }
        for weighting in ("unit", "learned")
        for layers in ("all", *LAYER_TAPS["alexnet"]["lpips"])
        for subset in VAL_SUBSETS
    ]
    io.write_parquet(pd.DataFrame(rows), tmp_path / "readout.parquet")
    inputs = dataclasses.replace(inputs, readout=tmp_path / "readout.parquet")
    config = _config(images={"source": "stl10"}, grid={"weights": "imagenet"})
    section = report.render_report(config, inputs).split('id="published"')[1].split("</section>")[0]
    assert "readout study" in section and "78.7" in section and "79.1" in section  # lin
    assert "76.8" in section  # the readout's unit weights stand for the baseline


@pytest.mark.slow
@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path) -> None:
    inputs = _report_inputs(tmp_path, {"source": "fixture"})
    out = tmp_path / "report.html"
    report.build_report(_config(), inputs, out)
    page = inspect_page(out, tmp_path / "report.png")
    assert page.console_errors == [] and page.broken_images == []
    assert page.external_requests == [] and page.empty_sections == []
    assert page.images == 2 and "findings" in page.sections
    assert (tmp_path / "report.png").stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("window", [(1280, 800), (1024, 768)], ids=["1280x800", "1024x768"])
def test_first_screen_holds_the_answer_and_no_cell_outgrows_the_window(tmp_path, window) -> None:
    inputs = _report_inputs(tmp_path, {"source": "fixture", "fixture": {"synthetic_judgments": 1}})
    # Mixed models of a few contexts: each degenerate fit repeats all its messages on every
    # term (shown in the table, they made one cell 1,470 px tall at 1024x768).
    models = pd.concat([_mixed_models()] * 4, ignore_index=True)
    models["subset"] = [f"{subset} {i // 5}" for i, subset in enumerate(models["subset"])]
    io.write_parquet(models, inputs.stats["mixed_models"])
    out = tmp_path / "report.html"
    report.build_report(_config(), inputs, out)
    width, height = window
    screen = first_screen(out, width=width, height=height)
    assert screen.answer_top is not None, "the report has no answer table"
    assert 0 <= screen.answer_top < screen.answer_bottom <= height, screen
    assert screen.answer_rows == 1  # alexnet lin, the one adapted metric of the toy results
    assert screen.tallest_cell <= height, screen


@pytest.mark.slow
@pytest.mark.browser
def test_the_browser_check_catches_a_broken_page(tmp_path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><section id='a'><h2>A</h2></section>"
        "<img src='data:image/png;base64,AAAA' alt='broken'>"
        "<script>console.error('boom')</script></body></html>"
    )
    page = inspect_page(bad, tmp_path / "bad.png")
    assert page.console_errors == ["boom"]
    assert page.broken_images == ["broken"]
    assert page.empty_sections == ["a"]
    assert page.images == 1


def _readout_rows() -> pd.DataFrame:
    rows = []
    for network, scores in (("alexnet", (0.70, 0.60, 0.65)), ("vgg16", (0.74, 0.75, 0.72))):
        all_layers, first, second = scores
        for layers, index, score in (("all", -1, all_layers), ("a", 0, first), ("b", 1, second)):
            for weighting, shift in (("unit", 0.0), ("learned", 0.01)):
                rows.append(
                    {
                        "network": network,
                        "weights": "random",
                        "descriptor": "spatial",
                        "weighting": weighting,
                        "layers": layers,
                        "layer_index": index,
                        "n_layers": 2,
                        "dataset": "bapps",
                        "kind": "2afc",
                        "subset": "traditional",
                        "score": score + shift,
                        "n": 10,
                    }
                )
    return pd.DataFrame(rows)


def test_readout_findings_by_hand() -> None:
    table = _readout_rows()
    # alexnet: all 0.70 beats its best single layer (b, 0.65); vgg16: layer a 0.75 beats all 0.74.
    sentence = readout_study.layers_finding(table)
    assert "for 1 of 2 networks" in sentence
    assert "alexnet (random) b; vgg16 (random) a" in sentence
    weighting = readout_study.weighting_finding(table)
    assert "beat unit weights in 2 of 2" in weighting and "median change +0.0100" in weighting
    assert "spatial 0.720" in readout_study.best_descriptor(table)  # mean of 0.70 and 0.74


def test_mos_notes_say_how_images_were_sized_and_when_scores_are_synthetic() -> None:
    bapps_only = _readout_rows()
    with_mos = pd.concat([bapps_only, bapps_only.head(1).assign(kind="mos", dataset="mos")])
    fixture = {"sets": [{"format": "fixture"}], "image_size": 64, "resize": "keep_aspect"}
    assert readout_study.mos_notes(fixture, bapps_only) == []
    notes = readout_study.mos_notes(fixture, with_mos)
    assert notes[0] == (
        "MOS images were scored with their short side resized to 64 px (aspect ratio kept), "
        "resampled with PIL's bicubic filter."
    )
    assert "simulated observer" in notes[1]
    real = {"sets": [{"format": "kadid10k", "path": "k"}], "image_size": 96, "resize": "squash"}
    assert readout_study.mos_notes(real, with_mos) == [
        "MOS images were scored resized to 96x96 px (non-square images distorted), resampled "
        "with PIL's bicubic filter."
    ]


def test_head_findings_count_runs_whose_last_epoch_reads_distances_backwards() -> None:
    columns = ["network", "variant", "context", "seed", "epoch", "val_2afc", "val_head_2afc"]
    logs = pd.DataFrame(
        [
            ("alexnet", "lin", "c000", 0, 1, 0.30, 0.80),  # inverted at the last epoch
            ("alexnet", "lin", "c000", 0, 0, 0.60, 0.60),
            ("alexnet", "lin", "c001", 0, 0, 0.20, 0.90),  # inverted early, not at the end
            ("alexnet", "lin", "c001", 0, 1, 0.60, 0.70),
            ("alexnet", "tune", "c000", 0, 1, 0.45, 0.45),  # wrong, but the head is wrong too
            ("vgg16", "lin", "c000", 0, 1, 0.47, 0.52),  # within the margin around 0.5
        ],
        columns=columns,
    )
    (sentence,) = findings.head_findings(logs, "lpips")
    assert sentence.startswith("The ranking head ended inverted in 1 of 4 trained runs")
    assert "at least 0.55 while the metric's is at most 0.45" in sentence
    assert "alexnet lin c000 (head 0.80, metric 0.30)" in sentence
    assert sentence.endswith("train.head: monotone rules this out.")
    fine = logs[logs["context"] != "c000"].assign(val_head_2afc=0.4)
    assert findings.head_findings(fine, "monotone")[0].startswith("No trained run ended with")
    assert findings.head_findings(logs.drop(columns="val_head_2afc"), "lpips") == []


def test_tuning_finding_by_hand() -> None:
    table = _readout_rows()  # all layers: alexnet unit 0.70 / learned 0.71, vgg16 0.74 / 0.75
    assert readout_study.tuning_finding(table) == ""
    tuned = table[(table["weighting"] == "unit") & (table["layers"] == "all")].copy()
    tuned["weighting"] = "tuned"
    tuned["score"] = tuned["network"].map({"alexnet": 0.80, "vgg16": 0.70})
    sentence = readout_study.tuning_finding(pd.concat([table, tuned]))
    assert "beat 1 of 2 over unit weights and 1 of 2 over learned weights" in sentence


def _answer_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Context tests, BAPPS tests and training logs small enough to count by hand."""
    context_tests = pd.concat(
        [
            _context_tests(),  # alexnet lin: effects .10 .05 -.02 .08; significant c000, c003
            pd.DataFrame(
                {
                    "network": "alexnet",
                    "variant": "tune",
                    "context": ["c000", "c001"],
                    "seed": 0,
                    "effect": [-0.01, 0.03],
                    "improved": [False, True],
                    "improved_significant": [False, False],
                }
            ),
        ],
        ignore_index=True,
    )
    bapps_tests = pd.DataFrame(
        {
            "network": ["alexnet"] * 5 + ["vgg16"],
            "variant": ["lin", "lin", "lin", "tune", "tune", "lin"],
            "kind": ["2afc", "2afc", "jnd", "2afc", "jnd", "2afc"],
            "subset": ["traditional", "cnn", "traditional", "traditional", "traditional", "cnn"],
            "non_inferior": [True, True, False, False, False, True],
        }
    )
    logs = pd.DataFrame(
        [
            ("alexnet", "lin", "c000", 0, 0, 0.60, 0.60),
            ("alexnet", "lin", "c000", 0, 1, 0.30, 0.80),  # inverted at its last epoch
            ("alexnet", "lin", "c001", 0, 0, 0.20, 0.90),  # inverted early only
            ("alexnet", "lin", "c001", 0, 1, 0.60, 0.70),
            ("alexnet", "tune", "c000", 0, 1, 0.45, 0.45),
        ],
        columns=["network", "variant", "context", "seed", "epoch", "val_2afc", "val_head_2afc"],
    )
    return context_tests, bapps_tests, logs


def test_answer_table_counts_each_metric_by_hand() -> None:
    table = answer.answer_table(*_answer_inputs())
    expected = pd.DataFrame(
        {
            "network": ["alexnet", "alexnet", "vgg16"],
            "variant": ["lin", "tune", "lin"],
            # lin: 3 of 4 improved, 2 significant, median(.10, .05, -.02, .08) = .065;
            # tune: 1 of 2 improved, none significant, median(-.01, .03) = .01; vgg16: no test.
            "context_cases": [4, 2, None],
            "improved": [3, 1, None],
            "significant": [2, 0, None],
            "median_gain": [0.065, 0.01, None],
            # Non-inferior on 2 of lin's 3 subsets, none of tune's 2, vgg16's one.
            "bapps_subsets": [3, 2, 1],
            "non_inferior": [2, 0, 1],
            # lin's c000 run ends inverted, c001's only started so; tune's head is wrong too.
            "runs": [2, 1, None],
            "inverted_heads": [1, 0, None],
        }
    )
    assert list(table.columns) == list(answer.ANSWER_COLUMNS)
    pd.testing.assert_frame_equal(
        table.astype({c: float for c in table.columns[2:]}),
        expected.astype({c: float for c in expected.columns[2:]}),
    )
    shown = answer.displayed(table)
    assert shown.iloc[0, 2:].tolist() == ["3 of 4", "2 of 4", "+0.065", "2 of 3", "1 of 2"]
    assert shown.iloc[1, 2:].tolist() == ["1 of 2", "0 of 2", "+0.010", "0 of 2", "0 of 1"]
    assert shown.iloc[2, 2:].tolist() == ["n/a", "n/a", "n/a", "1 of 1", "n/a"]


def test_answer_table_without_adapted_metrics_is_empty() -> None:
    empty = pd.DataFrame()
    assert answer.answer_table(empty, empty, empty).empty
    section = answer.answer_section(answer.answer_table(empty, empty, empty), 0.05, 0.02)
    assert "No adapted metric" in section.body


#: What ``stats.mixed_model`` records on a degenerate fit (every optimizer of statsmodels'
#: MixedLM failing in turn, the variance on the boundary): statsmodels' and numpy's messages.
_FIT_MESSAGES = "; ".join(
    [
        "Gradient optimization failed, |grad| = 0.381250",
        "Gradient optimization failed, |grad| = 2.115023",
        "Maximum Likelihood optimization failed to converge. Check mle_retvals",
        "MixedLM optimization failed, trying a different optimizer may help.",
        "Retrying MixedLM optimization with cg",
        "Retrying MixedLM optimization with lbfgs",
        "The Hessian matrix at the estimated parameter values is not positive definite.",
        "The MLE may be on the boundary of the parameter space.",
        "The random effects covariance matrix is singular.",
        "divide by zero encountered in divide",
        "divide by zero encountered in log",
        "invalid value encountered in divide",
        "invalid value encountered in multiply",
        "invalid value encountered in sqrt",
        "overflow encountered in exp",
    ]
)


def _mixed_models() -> pd.DataFrame:
    """Three fits: one clean, one on the boundary (two terms), one that could not be fitted."""
    rows = [
        ("context", "2afc", "all contexts", "Intercept", 0.6, 100, 0.02, True, ""),
        ("context", "2afc", "all contexts", "variant[T.lin]", 0.03, 100, 0.02, True, ""),
        ("bapps", "2afc", "cnn", "Intercept", 0.7, 3, 0.0, False, _FIT_MESSAGES),
        ("bapps", "2afc", "cnn", "variant[T.tune]", -0.01, 3, 0.0, False, _FIT_MESSAGES),
        ("bapps", "jnd", "traditional", "(model)", None, 1, None, False, "need 2 contexts"),
    ]
    columns = ["dataset", "kind", "subset", "term", "effect", "n_groups", "group_variance"]
    frame = pd.DataFrame(rows, columns=[*columns, "converged", "note"])
    return frame.assign(ci_low=frame["effect"], ci_high=frame["effect"], p=0.5, n_obs=10)


def test_mixed_model_warnings_become_one_note_with_the_messages_folded() -> None:
    section = fits.models_section(_mixed_models())
    table, rest = section.body.split("</table>", 1)
    assert "Maximum Likelihood" not in table and "need 2 contexts" not in table  # no note column
    assert "1 of 3 fits warned (1 with the between-context variance on the boundary" in rest
    assert "1 could not be fitted" in rest
    folded = rest.split("<details>")[1].split("</details>")[0]
    assert "Messages of 2 fits" in folded
    assert folded.count("Maximum Likelihood") == 1  # once per fit, not once per term
    assert (
        "bapps 2afc cnn (3 contexts)" in folded
        and "jnd traditional (1 contexts, not fitted)" in folded
    )
    assert section.body.count("What &#x27;on the boundary&#x27; means") == 1
    clean = _mixed_models().iloc[:2]
    assert "None of the 1 fits warned" in fits.models_section(clean).body
    assert "on the boundary" not in fits.models_section(clean).body


def test_the_methods_name_what_each_variant_trains():
    from dpsim.config import validate_config

    grid = validate_config(
        {"grid": {"variants": ["lin", "mix", "tune"], "mix": {"rank": 8, "contexts": 4}}}
    )["grid"]
    text = report._variants_text(grid)
    assert "mix trains lin's weights and, per tapped layer, a rank-8 matrix" in text
    assert (
        "on the first 4 contexts" in text
        and "tune trains the channel weights and the whole network, on every context" in text
    )
