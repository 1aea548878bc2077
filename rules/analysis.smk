# Analysis: every per-item evaluation file -> one summary table.


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
