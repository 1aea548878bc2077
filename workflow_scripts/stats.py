"""Rule stats: evaluations, summary and rankings -> results/stats/*.parquet."""

from dpsim.steps import analysis, run

run(snakemake, analysis.stats)
