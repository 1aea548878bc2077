"""Rule adapt_direct: one (network, variant, context, seed) trained on the pool images."""

from dpsim import experiment, runtime

runtime.start_job(
    snakemake.log[0],
    snakemake.threads,
    gpus=snakemake.resources.get("gpu", 0),
    label=snakemake.rule,
)
experiment.adapt_direct(
    grid=snakemake.params.grid,
    train_section=snakemake.params.train,
    config_seed=snakemake.params.seed,
    network=snakemake.wildcards.network,
    variant=snakemake.wildcards.variant,
    context=snakemake.wildcards.context,
    seed=int(snakemake.wildcards.seed),
    train_pools=list(snakemake.input.train),
    val_pool=snakemake.input.val,
    rankings_path=snakemake.input.rankings,
    paths=dict(snakemake.output.items()),
    state_file=snakemake.params.state,
    device=snakemake.params.device,
)
