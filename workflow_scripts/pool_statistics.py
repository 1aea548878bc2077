"""Rule pool_statistics: per-channel statistics of the pool draws under a frozen backbone."""

from dpsim.steps import adapt, run

run(snakemake, adapt.pool_statistics)
