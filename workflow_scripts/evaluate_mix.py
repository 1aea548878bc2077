"""Rule evaluate_mix: every context's mix metric scored in one pass of the frozen backbone."""

from dpsim.steps import evaluate, run

run(snakemake, evaluate.evaluate_mix)
