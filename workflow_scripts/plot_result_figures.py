"""Rule result_figures: summary, statistics, logs and test triplets -> the result figures."""

from dpsim import analysis, pipeline, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
names = pipeline.RESULT_FIGURES
pipeline.plot_result_figures(
    summary_path=snakemake.input.summary,
    stats_paths={name: snakemake.input[name] for name in analysis.STATS_FILES},
    rankings_path=snakemake.input.rankings,
    log_paths=list(snakemake.input.logs),
    test_pool_dir=snakemake.input.pool,
    example_count=snakemake.params.examples,
    seed=snakemake.params.seed,
    outputs={
        name: (snakemake.output[name], snakemake.output.svgs[i]) for i, name in enumerate(names)
    },
)
