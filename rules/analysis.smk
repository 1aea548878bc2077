# Analysis: every per-item evaluation file -> one summary table -> the statistics of the study.


rule summary:
    input:
        evaluations=trained_eval_files() + untrained_eval_files(),
    output:
        summary="results/summary.parquet",
    log:
        "logs/analysis/summary.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../workflow_scripts/summary.py"


rule caps:
    input:
        train=train_caches,
        test="results/cache/{network}/seed{seed}/test_draw0.npz",
    output:
        caps="results/caps/{network}/seed{seed}.parquet",
    params:
        settings=settings("caps"),
    log:
        "logs/analysis/caps_{network}_seed{seed}.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../workflow_scripts/caps.py"


rule stats:
    input:
        evaluations=trained_eval_files() + untrained_eval_files(),
        summary="results/summary.parquet",
        rankings="results/contexts/rankings.parquet",
        pool="results/pool/test/draw0",
        caps=cap_files(),
        logs=training_logs(),
    output:
        **stats_tables(),
    params:
        settings=settings("stats"),
    log:
        "logs/analysis/stats.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../workflow_scripts/stats.py"


rule result_figures:
    input:
        **stats_tables(),
        summary="results/summary.parquet",
        rankings="results/contexts/rankings.parquet",
        logs=training_logs(),
        pool="results/pool/test/draw0",
    output:
        **figure_outputs("result_figures"),
    params:
        settings=settings("result_figures"),
    log:
        "logs/figures/result_figures.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    script:
        "../workflow_scripts/result_figures.py"
