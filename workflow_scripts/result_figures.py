"""Rule result_figures: summary, statistics, logs and test triplets -> the result figures."""

from dpsim.steps import analysis, run

run(snakemake, analysis.result_figures)
