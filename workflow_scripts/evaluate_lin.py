"""Rule evaluate_lin: every context's lin metric scored from the frozen statistics."""

from dpsim.steps import evaluate, run

run(snakemake, evaluate.evaluate_lin)
