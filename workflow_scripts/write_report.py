"""Rule report: statistics, summary, figures and provenance -> reports/report.html."""

from pathlib import Path

from dpsim import analysis, report, runtime

runtime.start_job(snakemake.log[0], snakemake.threads)
names = snakemake.params.figures
readout_names = snakemake.params.readout_figures
captions = Path(snakemake.params.captions)
figures = dict(zip(names, map(Path, snakemake.input.figures), strict=True))
readout_paths = list(snakemake.input.readout)  # summary, then one PNG per readout figure
figures.update(zip(readout_names, map(Path, readout_paths[1:]), strict=True))
inputs = report.ReportInputs(
    summary=Path(snakemake.input.summary),
    stats={name: Path(snakemake.input[name]) for name in analysis.STATS_FILES},
    rankings=Path(snakemake.input.rankings),
    bapps_manifest=Path(snakemake.input.bapps_manifest),
    figures=figures,
    captions={name: captions / f"{name}.rst" for name in [*names, *readout_names]},
    readout=Path(readout_paths[0]) if readout_paths else None,
    training_logs=[Path(p) for p in snakemake.input.logs],
)
report.build_report(snakemake.params.config, inputs, snakemake.output[0])
