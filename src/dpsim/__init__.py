"""dpsim: adapt deep perceptual similarity metrics to contexts, and measure the cost on BAPPS.

The package is a plain library; the Snakemake workflow in the repository root only schedules it.
Importing it costs no torch: :func:`load_metric` imports the metric when it is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dpsim.metric import DPSMetric

__version__ = "0.1.0"
__all__ = ["__version__", "load_metric"]


def load_metric(path: str | Path, cache_dir: str | Path = "resources/torch") -> DPSMetric:
    """A trained metric checkpoint (any variant, e.g. ``results/metrics/alexnet/lin/c000/
    seed0/best.pt``) as a frozen module in eval mode: ``metric(x, y)`` on two image batches
    ``(N, 3, H, W)`` in [-1, 1] (or ``input_range="0,1"``) gives their ``(N,)`` distances, and
    gradients flow to the images, so it serves as a loss. Its own parameters do not learn
    (``metric.requires_grad_()`` to fine-tune it). ``cache_dir`` is where ImageNet weights are
    looked up when the checkpoint names them.
    """
    from dpsim.metric import load_metric as rebuild

    metric = rebuild(path, cache_dir=cache_dir).eval()
    metric.requires_grad_(False)
    return metric
