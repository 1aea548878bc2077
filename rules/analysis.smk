# Analysis: every per-item evaluation file -> one summary table -> the statistics of the study.


rule summary:
    input:
        trained_eval_files() + untrained_eval_files(),
    output:
        "results/summary.parquet",
    log:
        "logs/analysis/summary.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../workflow_scripts/summarise.py"


rule stats:
    input:
        evaluations=trained_eval_files() + untrained_eval_files(),
        summary="results/summary.parquet",
        rankings="results/contexts/rankings.parquet",
    output:
        **{name: f"results/stats/{name}.parquet" for name in STATS_FILES},
    params:
        stats=config["stats"],
        seed=config["seed"],
    log:
        "logs/analysis/stats.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../workflow_scripts/compute_stats.py"


rule result_figures:
    input:
        **stats_tables(),
        summary="results/summary.parquet",
        rankings="results/contexts/rankings.parquet",
        logs=training_logs(),
        pool="results/pool/test/draw0",
    output:
        **{
            name: report(
                figure_png(name),
                caption=f"../reports/captions/{name}.rst",
                category="Results" if name != "example_triplets" else "Distortions",
            )
            for name in RESULT_FIGURES
        },
        svgs=[f"results/figures/{name}.svg" for name in RESULT_FIGURES],
    params:
        examples=config["figures"]["example_triplets"],
        seed=config["seed"],
    log:
        "logs/figures/result_figures.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../workflow_scripts/plot_result_figures.py"
