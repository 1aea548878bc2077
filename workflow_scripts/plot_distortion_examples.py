"""Rule distortion_examples: every distortion applied to the same reference images."""

from dpsim import pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
pipeline.plot_distortion_examples(
    snakemake.params.per_distortion,
    snakemake.params.seed,
    images_path=snakemake.input.images,
    png_path=snakemake.output.png,
    svg_path=snakemake.output.svg,
)
