"""Non-learned baselines: L2, SSIM (scikit-image), cosine distance of deep features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from dpsim import baselines
from dpsim.backbones import build_backbone


def _images(seed: int, n: int = 3) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_l2_by_hand():
    x = torch.zeros(1, 3, 2, 2)
    y = torch.zeros(1, 3, 2, 2)
    y[0, 0, 0, 0] = 1.0
    y[0, 2, 1, 1] = -2.0
    assert float(baselines.l2_distance(x, y)[0]) == pytest.approx((1.0 + 4.0) / 12)


def test_ssim_distance_properties():
    x = _images(1)
    assert torch.allclose(baselines.ssim_distance(x, x), torch.zeros(3), atol=1e-12)
    generator = torch.Generator().manual_seed(2)
    noise = torch.randn(x.shape, generator=generator)
    little = baselines.ssim_distance(x, (x + 0.05 * noise).clamp(-1, 1))
    lots = baselines.ssim_distance(x, (x + 0.5 * noise).clamp(-1, 1))
    assert (little > 0).all() and (lots > little).all()
    y = _images(5)
    torch.testing.assert_close(baselines.ssim_distance(x, y), baselines.ssim_distance(y, x))


def test_ssim_of_constant_images_matches_the_closed_form():
    """Constant images: SSIM is its luminance term (2 mx my + C1) / (mx^2 + my^2 + C1)."""
    x, y = torch.full((1, 3, 16, 16), 0.2), torch.full((1, 3, 16, 16), -0.4)
    c1 = (0.01 * 2.0) ** 2  # K1 = 0.01 and data range 2 for [-1, 1]
    expected = 1 - (2 * 0.2 * -0.4 + c1) / (0.2**2 + 0.4**2 + c1)
    assert np.isclose(float(baselines.ssim_distance(x, y)[0]), expected, atol=1e-9)


def test_cosine_distance_of_flattened_features():
    backbone = build_backbone("alexnet", ["features.1", "features.4"], weights="random", seed=0)
    cosine = baselines.CosineDistance(backbone)
    x, y = _images(3), _images(4)
    total, layers = cosine(x, y), cosine.distances_by_layer(x, y)
    model = torchvision.models.alexnet()
    tapped = {k.split("features.", 1)[1]: v for k, v in backbone.state_dict().items()}
    model.features[:5].load_state_dict(tapped)  # the backbone is cut after its last tap
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    with torch.no_grad():
        for k, stop in enumerate((2, 5)):
            fx = model.features[:stop]((x - shift) / scale).flatten(1).double().numpy()
            fy = model.features[:stop]((y - shift) / scale).flatten(1).double().numpy()
            cos = (fx * fy).sum(1) / np.linalg.norm(fx, axis=1) / np.linalg.norm(fy, axis=1)
            np.testing.assert_allclose(layers[:, k].detach().numpy(), 1 - cos, atol=1e-5)
    torch.testing.assert_close(total, layers.sum(dim=1))
