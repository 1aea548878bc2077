"""Rule stats: evaluations + summary + rankings -> results/stats/*.parquet."""

from dpsim import analysis, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
analysis.write_stats(
    eval_paths=list(snakemake.input.evaluations),
    summary_path=snakemake.input.summary,
    rankings_path=snakemake.input.rankings,
    out_paths={name: snakemake.output[name] for name in analysis.STATS_FILES},
    settings=analysis.StatsSettings.from_config(snakemake.params.stats, snakemake.params.seed),
)
