"""Rule bapps_download: download, extract and check the real BAPPS, then write its manifest."""

from dpsim.steps import data, run

run(snakemake, data.bapps_download)
