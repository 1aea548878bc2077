"""Rule pool_statistics: per-channel readout statistics of the pool draws, frozen backbone."""

from dpsim import experiment, runtime

runtime.start_job(
    snakemake.log[0],
    snakemake.threads,
    gpus=snakemake.resources.get("gpu", 0),
    label=snakemake.rule,
)
experiment.cache_statistics(
    snakemake.params.grid,
    snakemake.wildcards.network,
    int(snakemake.wildcards.seed),
    pool_dirs=list(snakemake.input.pools),
    out_paths=list(snakemake.output),
    device=snakemake.params.device,
)
