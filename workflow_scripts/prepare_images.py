"""Rule prepare_images: the train / val / test image sets of the configured source."""

from dpsim import pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
pipeline.prepare_images(
    snakemake.params.images,
    snakemake.params.seed,
    image_paths=snakemake.output.images,
    index_paths=snakemake.output.index,
)
