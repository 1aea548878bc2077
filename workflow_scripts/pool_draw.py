"""Rule pool_draw: one draw of the shared triplet pool of a split."""

from dpsim.steps import contexts, run

run(snakemake, contexts.pool_draw)
