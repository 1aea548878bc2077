"""Rule distortion_examples: every distortion applied to the same reference images."""

from dpsim.steps import contexts, run

run(snakemake, contexts.distortion_examples)
