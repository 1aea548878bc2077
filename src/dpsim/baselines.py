"""Non-learned baselines: pixel L2, SSIM, and the cosine distance of deep features.

SSIM comes from scikit-image (``skimage.metrics.structural_similarity``), not from our own code:
scikit-image is already a dependency, is maintained and tested, and with ``gaussian_weights=True,
sigma=1.5, use_sample_covariance=False`` it follows Wang et al. (2004) as the original MATLAB code
does. It runs on the CPU, image by image; at 64x64 that costs well under a millisecond an image.
All functions take images in [-1, 1] of shape ``(N, 3, H, W)`` and return distances ``(N,)``
(larger = more different).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity
from torch import nn

from dpsim.backbones import Backbone
from dpsim.metric import EPS, DPSMetric, ScalingLayer
from dpsim.names import NETWORK_BASELINES, UNTRAINED


def l2_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pixel L2: the mean squared difference per image."""
    return ((x - y) ** 2).flatten(1).mean(dim=1)


def ssim_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``1 - SSIM`` per image (scikit-image, Gaussian window sigma 1.5, channels averaged)."""
    a = x.detach().cpu().double().numpy()
    b = y.detach().cpu().double().numpy()
    values = [
        structural_similarity(
            a[i],
            b[i],
            data_range=2.0,
            channel_axis=0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for i in range(len(a))
    ]
    return torch.as_tensor(1.0 - np.asarray(values), dtype=x.dtype, device=x.device)


def cosine_layers(features_x: Sequence[torch.Tensor], features_y: Sequence[torch.Tensor]):
    """``1 - cos`` of each layer's flattened raw features, as ``(N, L)``."""
    return torch.stack(
        [
            1.0 - F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1, eps=EPS)
            for a, b in zip(features_x, features_y, strict=True)
        ],
        dim=1,
    )


class CosineDistance(nn.Module):
    """The seed study's deep baseline: cosine distance of flattened features, summed over taps.

    Inputs pass the same LPIPS scaling layer as :class:`dpsim.metric.DPSMetric`; features are
    not unit-normalised per position (that is what distinguishes it from the ``baseline``
    variant).
    """

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.scaling = ScalingLayer()
        self.backbone = backbone.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Distances ``(N,)``: the sum over taps of :meth:`distances_by_layer`."""
        return self.distances_by_layer(x, y).sum(dim=1)

    def distances_by_layer(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each tap's ``1 - cos`` of the flattened features, ``(N, L)``."""
        both = self.backbone(self.scaling(torch.cat([x, y])))
        return cosine_layers([f[: len(x)] for f in both], [f[len(x) :] for f in both])


def untrained_model(
    variant: str, baseline_metric: Callable[[], DPSMetric] | None = None
) -> nn.Module | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The model of an untrained comparison of :data:`UNTRAINED`.

    ``l2`` and ``ssim`` are functions on pixels; ``baseline`` is the network's metric with unit
    channel weights, built by ``baseline_metric``, and ``cosine`` compares that metric's raw
    backbone features (:class:`CosineDistance`).
    """
    if variant == "l2":
        return l2_distance
    if variant == "ssim":
        return ssim_distance
    if variant not in NETWORK_BASELINES:
        raise ValueError(f"unknown untrained comparison {variant!r}; choose from {UNTRAINED}")
    if baseline_metric is None:
        raise ValueError(f"the untrained comparison {variant!r} needs a network's metric")
    metric = baseline_metric()
    return metric if variant == "baseline" else CosineDistance(metric.backbone)
