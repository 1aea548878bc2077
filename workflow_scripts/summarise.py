"""Rule summary: all per-item evaluation files -> results/summary.parquet."""

from dpsim import aggregate, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
aggregate.write_summary(list(snakemake.input), snakemake.output[0])
