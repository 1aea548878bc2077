"""Rule readout_figures: the readout summary -> depth curves and the descriptor heatmap."""

from dpsim.steps import readout, run

run(snakemake, readout.readout_figures)
