"""Rule readout_figures: the readout table -> depth curves and the descriptor heatmap."""

from dpsim import pipeline, runtime
from dpsim.names import READOUT_FIGURES

runtime.start_job(snakemake.log[0], snakemake.threads)
names = READOUT_FIGURES
pipeline.plot_readout_figures(
    snakemake.input[0],
    {name: (snakemake.output[name], snakemake.output.svgs[i]) for i, name in enumerate(names)},
)
