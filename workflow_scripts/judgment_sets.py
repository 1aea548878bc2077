"""Rule judgment_sets: pack the extra human 2AFC sets beside BAPPS's cache."""

from dpsim.steps import data, run

run(snakemake, data.judgment_sets)
