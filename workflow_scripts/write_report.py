"""Rule report: statistics, summary, figures and provenance -> reports/report.html."""

from pathlib import Path

from dpsim import analysis, report, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
names = snakemake.params.figures
captions = Path(snakemake.params.captions)
inputs = report.ReportInputs(
    summary=Path(snakemake.input.summary),
    stats={name: Path(snakemake.input[name]) for name in analysis.STATS_FILES},
    rankings=Path(snakemake.input.rankings),
    bapps_manifest=Path(snakemake.input.bapps_manifest),
    figures={name: Path(path) for name, path in zip(names, snakemake.input.figures, strict=True)},
    captions={name: captions / f"{name}.rst" for name in names},
)
report.build_report(snakemake.params.config, inputs, snakemake.output[0])
