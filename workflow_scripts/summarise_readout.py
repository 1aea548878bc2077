"""Rule readout_summary: every readout job's rows -> results/readout/summary.parquet."""

from dpsim import pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
pipeline.summarise_readout(list(snakemake.input), snakemake.output[0])
