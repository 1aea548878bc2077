"""Rule summary: all per-item evaluation files -> results/summary.parquet."""

from dpsim.steps import analysis, run

run(snakemake, analysis.summary)
