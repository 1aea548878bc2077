"""Figures of the workflow (seaborn and matplotlib on the Agg backend, saved as PNG and SVG).

``examples`` draws images (distortions, example triplets), ``results`` the study's result
figures from its tables, ``readout`` those of the readout study, ``ladder`` the adaptation
ladder's trade-off, ``likelihood`` the calibration of the votes' likelihood, ``common`` what
they share (saving, style, input checks). Everything is
re-exported here, so callers write ``figures.save_figure(figures.bapps_heatmap(summary), ...)``.
"""

from __future__ import annotations

from dpsim.figures.common import no_data, save_figure, styled
from dpsim.figures.examples import distortion_examples, example_triplets
from dpsim.figures.ladder import adaptation_tradeoff
from dpsim.figures.likelihood import calibration
from dpsim.figures.pairs import pair_accuracy
from dpsim.figures.readout import readout_depth, readout_heatmap
from dpsim.figures.results import (
    bapps_forest,
    bapps_heatmap,
    context_scores,
    score_vs_rank_distance,
    training_curves,
)

__all__ = [
    "adaptation_tradeoff",
    "bapps_forest",
    "bapps_heatmap",
    "calibration",
    "context_scores",
    "distortion_examples",
    "example_triplets",
    "no_data",
    "pair_accuracy",
    "readout_depth",
    "readout_heatmap",
    "save_figure",
    "score_vs_rank_distance",
    "styled",
    "training_curves",
]
