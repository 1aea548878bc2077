"""Rule report: statistics, summary, figures and provenance -> reports/report.html."""

from dpsim.steps import report, run

run(snakemake, report.report)
