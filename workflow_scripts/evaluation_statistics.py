"""Rule evaluation_statistics: frozen-backbone statistics of the test draw and BAPPS val."""

from dpsim.steps import evaluate, run

run(snakemake, evaluate.evaluation_statistics)
