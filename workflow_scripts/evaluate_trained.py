"""Rule evaluate_trained: each context's trained metric on its test triplets and on BAPPS."""

from dpsim import experiment, runtime

runtime.start_job(
    snakemake.log[0],
    snakemake.threads,
    gpus=snakemake.resources.get("gpu", 0),
    label=snakemake.rule,
)
for context, checkpoint, out_path in zip(
    snakemake.params.contexts, snakemake.input.metrics, snakemake.output, strict=True
):
    experiment.evaluate_trained(
        checkpoint=checkpoint,
        context=context,
        seed=int(snakemake.wildcards.seed),
        pool_test=snakemake.input.pool,
        rankings_path=snakemake.input.rankings,
        bapps_cache=snakemake.input.bapps,
        out_path=out_path,
        device=snakemake.params.device,
        batch_size=snakemake.params.batch_size,
    )
