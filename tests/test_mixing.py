"""The mix form: a distance for any Q, lin at Q = 0, two equal computations; it learns mixing."""

from __future__ import annotations

import pytest
import torch

from dpsim.metric import channel_statistics, unit_normalise
from dpsim.mixing import (
    ChannelMixing,
    channel_moments,
    initial_mixing,
    mixing_from_maps,
    mixing_from_moments,
)


def _features(n: int, channels: int, side: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return unit_normalise(torch.randn(n, channels, side, side, generator=generator))


@pytest.fixture
def layers():
    """Two sides of two tapped layers (16 and 8 channels), unit-normalised like the metric's."""
    fx = [_features(6, 16, 4, 0), _features(6, 8, 2, 1)]
    fy = [_features(6, 16, 4, 2), _features(6, 8, 2, 3)]
    return fx, fy


def test_the_mixing_term_is_a_distance_for_any_q(layers):
    fx, fy = layers
    mixing = ChannelMixing([16, 8], rank=4, seed=5)
    with torch.no_grad():
        for q in mixing.mixing:
            q.mul_(100).add_(torch.randn_like(q))  # far from the small start, any sign
    forward, backward = mixing.layer_terms(fx, fy), mixing.layer_terms(fy, fx)
    assert (forward >= 0).all()
    torch.testing.assert_close(forward, backward)
    assert mixing.layer_terms(fx, fx).abs().max() == 0


def test_q_zero_is_lin_exactly(layers):
    fx, fy = layers
    mixing = ChannelMixing([16, 8], rank=4)
    with torch.no_grad():
        for q in mixing.mixing:
            q.zero_()
    assert mixing.layer_terms(fx, fy).abs().max() == 0
    w = torch.rand(16)
    lin = channel_statistics(fx[0], fy[0], "spatial", torch.nn.Identity()) @ w
    by_hand = ((fx[0] - fy[0]).square() * w.view(1, -1, 1, 1)).sum(dim=1).mean(dim=(1, 2))
    torch.testing.assert_close(lin, by_hand)  # the diagonal term mix adds Q's term to


def test_q_gets_no_gradient_at_zero_but_does_from_its_start(layers):
    fx, fy = layers
    zero = torch.zeros(4, 16, requires_grad=True)
    mixing_from_maps(fx[0] - fy[0], zero).sum().backward()
    assert zero.grad is not None and zero.grad.abs().max() == 0
    start = initial_mixing(16, 4, torch.Generator().manual_seed(0)).requires_grad_()
    mixing_from_maps(fx[0] - fy[0], start).sum().backward()
    assert start.grad is not None and start.grad.abs().max() > 0


def test_maps_and_second_moments_give_the_same_term(layers):
    fx, fy = layers
    difference = (fx[0] - fy[0]).double()
    q = torch.randn(5, 16, dtype=torch.float64)
    by_position = torch.stack(
        [
            torch.stack(
                [(q @ difference[n, :, i, j]).square().sum() for i in range(4) for j in range(4)]
            )
            for n in range(6)
        ]
    ).mean(dim=1)
    torch.testing.assert_close(mixing_from_maps(difference, q), by_position)
    torch.testing.assert_close(mixing_from_moments(channel_moments(difference), q), by_position)


def test_the_start_is_small_seeded_and_capped_at_the_channels():
    q = initial_mixing(256, 64, torch.Generator().manual_seed(3))
    assert q.shape == (64, 256)
    assert abs(q.std().item() - 0.1 / 16) < 0.1 / 16 * 0.05
    torch.testing.assert_close(q, initial_mixing(256, 64, torch.Generator().manual_seed(3)))
    mixing = ChannelMixing([4, 32], rank=8)
    assert [tuple(m.shape) for m in mixing.mixing] == [(4, 4), (8, 32)]
    assert mixing.parameter_count() == 16 + 256
    with pytest.raises(ValueError, match="rank and channels must be >= 1"):
        initial_mixing(8, 0, torch.Generator())


def test_readouts_without_a_spatial_mean_of_squares_are_refused():
    with pytest.raises(ValueError, match="channel mixing is defined for the readout"):
        ChannelMixing([8], rank=2, readout="mean")


def _fit(diffs: torch.Tensor, labels: torch.Tensor, rank: int, steps: int = 300) -> float:
    """Fit w >= 0 (and Q when rank > 0) by logistic loss on d0 - d1; the training agreement."""
    channels = diffs.shape[2]
    w = torch.full((channels,), channels**-0.5, requires_grad=True)
    params = [w]
    if rank:
        q = initial_mixing(channels, rank, torch.Generator().manual_seed(0)).requires_grad_()
        params.append(q)
    optimiser = torch.optim.Adam(params, lr=0.05)

    def distances() -> torch.Tensor:
        diag = (diffs.square() * w.view(1, 1, -1, 1, 1)).sum(dim=2).mean(dim=(2, 3))
        if not rank:
            return diag
        mixed = torch.stack([mixing_from_maps(diffs[:, k], q) for k in range(2)], dim=1)
        return diag + mixed

    for _ in range(steps):
        d = distances()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            10 * (d[:, 0] - d[:, 1]), labels
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            w.clamp_(min=0)
    with torch.no_grad():
        d = distances()
    return ((d[:, 0] > d[:, 1]).float() == labels).float().mean().item()


def test_mix_learns_a_planted_mixing_that_diagonal_weights_cannot():
    """Labels from a planted ||P D||^2 (P of rank 2): only the mixing term can fit them."""
    generator = torch.Generator().manual_seed(7)
    ref = unit_normalise(torch.randn(400, 12, 2, 2, generator=generator))
    sides = [unit_normalise(torch.randn(400, 12, 2, 2, generator=generator)) for _ in range(2)]
    diffs = torch.stack([ref - s for s in sides], dim=1)  # (N, 2, C, H, W)
    planted = torch.randn(2, 12, generator=generator)
    truth = torch.stack([mixing_from_maps(diffs[:, k], planted) for k in range(2)], dim=1)
    labels = (truth[:, 0] > truth[:, 1]).float()  # 1: p1 is closer under the planted metric
    diagonal, mixed = _fit(diffs, labels, rank=0), _fit(diffs, labels, rank=2)
    assert mixed > 0.9
    assert mixed > diagonal + 0.15
