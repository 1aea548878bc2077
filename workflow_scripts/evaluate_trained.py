"""Rule evaluate_trained: each context's trained metric on its test triplets and on BAPPS."""

from dpsim.steps import evaluate, run

run(snakemake, evaluate.evaluate_trained)
