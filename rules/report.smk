# Report: the study's answers in one self-contained HTML file (snakemake --report also works).


rule report:
    input:
        **stats_tables(),
        summary="results/summary.parquet",
        rankings="results/contexts/rankings.parquet",
        bapps_manifest="results/bapps/manifest.json",
        **{report_input(name): figure_png(name) for name in drawn_figures()},
        readout=readout_summary(),
        logs=training_logs(),
    output:
        report="reports/report.html",
    params:
        settings=settings("report"),
        captions=str(Path(workflow.basedir) / "reports" / "captions"),
    log:
        "logs/report/report.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../workflow_scripts/report.py"
