"""Rule bapps_cache: pack every BAPPS subset into memory-mapped uint8 arrays."""

from dpsim import pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
pipeline.pack_bapps(snakemake.params.bapps, snakemake.input.manifest, snakemake.output[0])
