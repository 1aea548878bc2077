"""Rule bapps_fixture: the offline BAPPS-format set with synthetic judgments."""

from dpsim import pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
pipeline.make_bapps_fixture(snakemake.params.bapps, snakemake.params.seed, snakemake.output[0])
