"""Rule adapt_mix_all_contexts: the mix metric of every chosen context, trained together on the
frozen backbone's difference maps."""

from dpsim.steps import adapt, run

run(snakemake, adapt.adapt_mix_all_contexts)
