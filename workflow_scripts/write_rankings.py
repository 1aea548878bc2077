"""Rule rankings: the table of contexts and their distances to the identity ranking."""

from dpsim import pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
pipeline.write_rankings(snakemake.params.contexts, snakemake.output[0])
