"""Rule adapt_direct: one (network, variant, context, seed) trained on the pool images."""

from dpsim.steps import adapt, run

run(snakemake, adapt.adapt_direct)
