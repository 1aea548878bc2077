"""dpsim: adapt deep perceptual similarity metrics to contexts, and measure the cost on BAPPS.

The package is a plain library; the Snakemake workflow in the repository root only schedules it.
"""

__version__ = "0.1.0"
