"""Rule bapps_cache: pack every BAPPS subset into memory-mapped uint8 arrays."""

from dpsim.steps import data, run

run(snakemake, data.bapps_cache)
