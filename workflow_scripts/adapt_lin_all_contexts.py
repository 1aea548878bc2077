"""Rule adapt_lin_all_contexts: lin weights of every context, trained together on the cache."""

from dpsim.steps import adapt, run

run(snakemake, adapt.adapt_lin_all_contexts)
