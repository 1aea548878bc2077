"""Rule readout: one network and weights of the readout study -> its rows."""

from dpsim.steps import readout, run

run(snakemake, readout.readout)
