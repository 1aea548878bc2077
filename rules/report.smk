# Report: the study's answers in one self-contained HTML file (snakemake --report also works).


rule report:
    input:
        **stats_tables(),
        summary="results/summary.parquet",
        rankings="results/contexts/rankings.parquet",
        bapps_manifest="results/bapps/manifest.json",
        figures=[figure_png(name) for name in (*RESULT_FIGURES, "distortion_examples")],
        readout=readout_outputs(),
        logs=training_logs(),
    output:
        "reports/report.html",
    params:
        config=config,
        figures=[*RESULT_FIGURES, "distortion_examples"],
        readout_figures=list(READOUT_FIGURES) if READOUT["networks"] else [],
        captions=str(Path(workflow.basedir) / "reports" / "captions"),
    log:
        "logs/report/report.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../workflow_scripts/write_report.py"
