"""Rule pool_draw: one draw of the shared triplet pool of a split."""

from dpsim import pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
pipeline.build_pool_draw(
    snakemake.params.pool,
    snakemake.params.seed,
    snakemake.params.device,
    images_path=snakemake.input.images,
    out_dir=snakemake.output[0],
    split=snakemake.wildcards.split,
    draw=int(snakemake.wildcards.draw),
)
