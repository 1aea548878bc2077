"""Rule adapt_lin_all_contexts: lin weights of every context, trained together on the cache."""

from dpsim import experiment, runtime

runtime.start_job(
    snakemake.log[0],
    snakemake.threads,
    gpus=snakemake.resources.get("gpu", 0),
    label=snakemake.rule,
)
outputs = {
    context: {"best": best, "last": last, "log": log}
    for context, best, last, log in zip(
        snakemake.params.contexts,
        snakemake.output.best,
        snakemake.output.last,
        snakemake.output.log,
        strict=True,
    )
}
experiment.adapt_lin_contexts(
    grid=snakemake.params.grid,
    train_section=snakemake.params.train,
    config_seed=snakemake.params.seed,
    network=snakemake.wildcards.network,
    seed=int(snakemake.wildcards.seed),
    train_caches=list(snakemake.input.train),
    val_cache=snakemake.input.val,
    rankings_path=snakemake.input.rankings,
    outputs=outputs,
    state_file=snakemake.params.state,
    device=snakemake.params.device,
)
