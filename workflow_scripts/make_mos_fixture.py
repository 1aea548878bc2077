"""Rule mos_fixture: the test images -> the offline MOS set with synthetic scores."""

from dpsim import pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
pipeline.make_mos_fixture(
    snakemake.params.pairs, snakemake.params.seed, snakemake.input.images, snakemake.output[0]
)
