"""Rule rankings: the table of contexts and their distances to the identity ranking."""

from dpsim.steps import contexts, run

run(snakemake, contexts.rankings)
