"""Low-rank channel mixing: the ``mix`` rung between lin's diagonal weights and full tuning.

Per tapped layer ``l``, with ``D = y_x - y_y`` the difference of the unit-normalised features
at each spatial position (``C_l`` channels), the mixed distance is

    d_l = mean_hw [ sum_c w_c D_c^2 + || Q_l D ||^2 ]

with lin's non-negative ``w`` and ``Q_l`` of shape ``(r, C_l)``. Both terms are squared norms,
so ``d >= 0``, ``d(x, y) = d(y, x)`` and ``d(x, x) = 0`` for any ``Q``, and ``Q = 0`` is lin
exactly. Q must not start at 0: the term is quadratic in ``Q``, its gradient vanishes there and
``Q`` never moves (issue 16 measured ``mix`` ending equal to lin that way). It starts at small
Gaussian entries of standard deviation ``0.1 / sqrt(C_l)`` instead, drawn from a seeded
generator.

The mixing term can be computed from the maps (``N r C HW`` multiply-adds) or from each
comparison's channel second moments ``G = mean_hw D D^T`` as ``trace(Q G Q^T)`` (``N r C^2``,
but ``G`` is ``C^2`` numbers per comparison); :func:`mixing_from_maps` and
:func:`mixing_from_moments` give the same number, so the trainer can store whichever is smaller.

This module is the form; :mod:`dpsim.frozen_maps` trains it for many contexts at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "MIXING_READOUTS",
    "ChannelMixing",
    "channel_moments",
    "initial_layers",
    "initial_mixing",
    "mixing_from_maps",
    "mixing_from_moments",
]

#: Readouts the mixing term is defined for: the spatial mean of a per-position squared norm.
MIXING_READOUTS = ("spatial",)
#: Scale of the initial entries of Q, relative to ``1 / sqrt(C)`` (issue 16's measurement).
INITIAL_SCALE = 0.1


def initial_mixing(channels: int, rank: int, generator: torch.Generator) -> torch.Tensor:
    """A ``(rank, channels)`` starting Q: Gaussian entries, standard deviation 0.1 / sqrt(C)."""
    if rank < 1 or channels < 1:
        raise ValueError(f"rank and channels must be >= 1, got rank {rank}, channels {channels}")
    noise = torch.randn(rank, channels, generator=generator)
    return noise * (INITIAL_SCALE / channels**0.5)


def mixing_from_maps(difference: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
    """``mean_hw ||Q D||^2`` per comparison ``(N,)`` from difference maps ``D`` ``(N, C, H, W)``."""
    projected = torch.einsum("rc,nchw->nrhw", mixing.to(difference.dtype), difference)
    return projected.square().sum(dim=1).mean(dim=(1, 2))


def channel_moments(difference: torch.Tensor) -> torch.Tensor:
    """Each comparison's channel second moments ``G = mean_hw D D^T`` ``(N, C, C)``."""
    flat = difference.flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[2]


def mixing_from_moments(moments: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
    """``trace(Q G Q^T)`` per comparison ``(N,)``: the same number as :func:`mixing_from_maps`."""
    q = mixing.to(moments.dtype)
    return torch.einsum("rc,ncd,rd->n", q, moments, q)


def initial_layers(channels: Sequence[int], rank: int, seed: int) -> list[torch.Tensor]:
    """Every tapped layer's starting Q (at most ``rank`` rows, at most its channels), drawn in
    layer order from one generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(int(seed))
    return [initial_mixing(c, min(rank, c), generator) for c in channels]


class ChannelMixing(nn.Module):
    """The low-rank mixing matrices ``Q_l`` of every tapped layer.

    Args:
        channels: channels of each tapped layer.
        rank: rows of each ``Q_l`` (at most its layer's channels).
        seed: seed of the starting values (:func:`initial_mixing`).
        readout: the metric's readout; only ``spatial`` has a mixing term.
    """

    def __init__(
        self, channels: Sequence[int], rank: int, seed: int = 0, readout: str = "spatial"
    ) -> None:
        super().__init__()
        if readout not in MIXING_READOUTS:
            raise ValueError(
                f"channel mixing is defined for the readout(s) {', '.join(MIXING_READOUTS)} "
                f"(a spatial mean of squared norms), not {readout!r}; use variant lin for the "
                "other readouts"
            )
        self.rank = rank
        self.mixing = nn.ParameterList(
            nn.Parameter(q) for q in initial_layers(channels, rank, seed)
        )

    def layer_terms(
        self,
        fx: Sequence[torch.Tensor],
        fy: Sequence[torch.Tensor],
        dropout: nn.Module | None = None,
    ) -> torch.Tensor:
        """The mixing term of each layer ``(N, L)`` from unit-normalised features of both sides.

        ``dropout`` (lin's, in training) is applied to ``D`` before it is mixed.
        """
        columns = []
        for a, b, q in zip(fx, fy, self.mixing, strict=True):
            difference = a - b
            if dropout is not None:
                difference = dropout(difference)
            columns.append(mixing_from_maps(difference, q))
        return torch.stack(columns, dim=1)

    def parameter_count(self) -> int:
        """Numbers trained in the mixing matrices (lin's weights not counted)."""
        return sum(q.numel() for q in self.mixing)
