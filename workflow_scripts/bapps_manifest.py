"""Rule bapps_manifest: check the BAPPS fixture or local copy and write its manifest."""

from dpsim.steps import data, run

run(snakemake, data.bapps_manifest)
