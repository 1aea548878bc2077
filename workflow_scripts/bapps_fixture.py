"""Rule bapps_fixture: the offline BAPPS-format set with synthetic judgments."""

from dpsim.steps import data, run

run(snakemake, data.bapps_fixture)
