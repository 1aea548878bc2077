"""Rule prepare_images: the train / val / test image sets of the configured source."""

from dpsim.steps import data, run

run(snakemake, data.prepare_images)
