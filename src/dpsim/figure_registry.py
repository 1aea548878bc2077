"""Every figure of the workflow, one entry each: what rules, steps and the report read.

An entry names the figure (its files are ``results/figures/{name}.png`` and ``.svg``), gives its
title, its category in ``snakemake --report``, the section of ``reports/report.html`` it appears
in (``key``: the key figures under the findings, the ones that carry them), its caption file
under ``reports/captions/``, the rule that draws it, and the function that draws it from that
rule's data. Adding a figure is one entry here and one caption file: the rule's
outputs, the step's loop, the report's section and ``snakemake --report`` all follow.

The drawing functions are looked up when called, so importing this module costs no matplotlib
(the workflow reads it while it builds the DAG). What a drawing function receives depends on its
rule: ``distortion_examples`` and ``result_figures`` pass the objects their steps describe,
``readout_figures`` the readout summary table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FIGURES",
    "FigureEntry",
    "draw_figures",
    "figure",
    "figures_of",
    "report_input",
    "svg_output",
]

log = logging.getLogger(__name__)


def _figures() -> Any:
    import dpsim.figures  # matplotlib and seaborn: only once a figure is drawn

    return dpsim.figures


@dataclass(frozen=True)
class FigureEntry:
    """One figure: name, title, snakemake-report category, report section, rule, drawing."""

    name: str
    title: str
    category: str
    section: str
    rule: str
    draw: Callable[[Any], Any]

    @property
    def caption(self) -> str:
        """The caption's file name under ``reports/captions/`` (RST, shared by both reports)."""
        return f"{self.name}.rst"


FIGURES: tuple[FigureEntry, ...] = (
    FigureEntry(
        "distortion_examples",
        "The six distortions",
        "Distortions",
        "examples",
        "distortion_examples",
        lambda data: _figures().distortion_examples(
            data.images, data.per_distortion, data.seed, data.distortions
        ),
    ),
    FigureEntry(
        "context_scores",
        "Adapted vs. baseline on each context",
        "Results",
        "key",
        "result_figures",
        lambda data: _figures().context_scores(data.stats["context_tests"]),
    ),
    FigureEntry(
        "bapps_heatmap",
        "BAPPS scores by network and variant",
        "Results",
        "bapps",
        "result_figures",
        lambda data: _figures().bapps_heatmap(data.summary),
    ),
    FigureEntry(
        "bapps_forest",
        "BAPPS change after adaptation, with the non-inferiority margin",
        "Results",
        "key",
        "result_figures",
        lambda data: _figures().bapps_forest(data.stats["bapps_tests"], data.stats["bapps_deltas"]),
    ),
    FigureEntry(
        "adaptation_tradeoff",
        "Context gain against BAPPS change, per rung of the adaptation ladder",
        "Results",
        "key",
        "result_figures",
        lambda data: _figures().adaptation_tradeoff(data.stats["tradeoff"], data.margin),
    ),
    FigureEntry(
        "calibration",
        "Calibration of each metric's fitted psychometric function on people's votes",
        "Results",
        "likelihood",
        "result_figures",
        lambda data: _figures().calibration(data.stats["calibration"]),
    ),
    FigureEntry(
        "score_vs_rank_distance",
        "Context score against rank distance",
        "Results",
        "difficulty",
        "result_figures",
        lambda data: _figures().score_vs_rank_distance(data.summary, data.rankings),
    ),
    FigureEntry(
        "pair_accuracy",
        "2AFC score per pair of rank positions",
        "Results",
        "difficulty",
        "result_figures",
        lambda data: _figures().pair_accuracy(data.stats["pairs"]),
    ),
    FigureEntry(
        "training_curves",
        "Training curves",
        "Results",
        "training",
        "result_figures",
        lambda data: _figures().training_curves(data.training_logs),
    ),
    FigureEntry(
        "example_triplets",
        "Example test triplets and each context's verdict",
        "Distortions",
        "examples",
        "result_figures",
        lambda data: _figures().example_triplets(
            data.test_pool, data.contexts, data.example_count, data.seed
        ),
    ),
    FigureEntry(
        "readout_depth",
        "Score against layer depth, per architecture",
        "Readout study",
        "readout",
        "readout_figures",
        lambda table: _figures().readout_depth(table),
    ),
    FigureEntry(
        "readout_heatmap",
        "Descriptor x architecture",
        "Readout study",
        "readout",
        "readout_figures",
        lambda table: _figures().readout_heatmap(table),
    ),
)


def figures_of(rule: str) -> tuple[FigureEntry, ...]:
    """The figures ``rule`` draws, in registry order."""
    return tuple(entry for entry in FIGURES if entry.rule == rule)


def figure(name: str) -> FigureEntry:
    """The entry of figure ``name``."""
    for entry in FIGURES:
        if entry.name == name:
            return entry
    known = ", ".join(entry.name for entry in FIGURES)
    raise KeyError(f"no figure named {name!r}; the figures are {known}")


def svg_output(name: str) -> str:
    """The name of the rule output that holds figure ``name``'s SVG (the PNG's is ``name``)."""
    return f"{name}_svg"


def report_input(name: str) -> str:
    """The name of the report rule's input that holds figure ``name``'s PNG."""
    return f"figure_{name}"


def draw_figures(rule: str, data: Any, outputs: Mapping[str, str]) -> None:
    """Draw every figure of ``rule`` from ``data`` into its rule outputs (PNG and SVG)."""
    for entry in figures_of(rule):
        png = outputs[entry.name]
        _figures().save_figure(entry.draw(data), png, outputs[svg_output(entry.name)])
        log.info("figure %s -> %s", entry.name, png)
