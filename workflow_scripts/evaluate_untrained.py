"""Rule evaluate_untrained: an untrained comparison on every context's test set and on BAPPS."""

from dpsim import experiment, runtime

runtime.start_job(
    snakemake.log[0],
    snakemake.threads,
    gpus=snakemake.resources.get("gpu", 0),
    label=snakemake.rule,
)
experiment.evaluate_untrained(
    grid=snakemake.params.grid,
    network=snakemake.wildcards.network,
    variant=snakemake.wildcards.untrained,
    seed=int(snakemake.wildcards.seed),
    pool_test=snakemake.input.pool,
    rankings_path=snakemake.input.rankings,
    bapps_cache=snakemake.input.bapps,
    out_path=snakemake.output[0],
    device=snakemake.params.device,
    batch_size=snakemake.params.batch_size,
)
