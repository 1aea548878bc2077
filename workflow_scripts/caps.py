"""Rule caps: the best linear readouts of a network's frozen features, fitted per context."""

from dpsim.steps import analysis, run

run(snakemake, analysis.caps)
