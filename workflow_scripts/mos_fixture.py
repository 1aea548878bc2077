"""Rule mos_fixture: the offline MOS set with synthetic scores, from the test images."""

from dpsim.steps import readout, run

run(snakemake, readout.mos_fixture)
