"""Rule readout_summary: every readout job's rows -> results/readout/summary.parquet."""

from dpsim.steps import readout, run

run(snakemake, readout.readout_summary)
