"""Rule evaluate_untrained: an untrained comparison on every context's test set and on BAPPS."""

from dpsim.steps import evaluate, run

run(snakemake, evaluate.evaluate_untrained)
