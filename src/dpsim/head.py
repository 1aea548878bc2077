"""The ranking head G of LPIPS: from two distances to the probability that p1 is judged closer.

Inputs per triplet: ``(d0, d1, d0 - d1, d0 / (d1 + eps), d1 / (d0 + eps))`` with ``eps = 0.1``
(the value LPIPS uses), then 32 -> 32 -> 1 units with LeakyReLU(0.2) between layers and a
sigmoid. The loss is binary cross-entropy against the judge: a share of people in [0, 1] for
BAPPS, 0 or 1 for a context (1 = p1 is the closer image).

:class:`RankingHeads` holds one independent head per context, evaluated in one batched pass: with
``K`` contexts the parameters carry a leading ``K`` axis, inputs and outputs are ``(B, K)``.
Because the contexts share no parameter and the loss is a sum over contexts, training K heads
together is the same as training each alone (Adam's update is element-wise).

LPIPS's head is an unconstrained MLP, so it can learn to read the distances *backwards*: when a
metric ranks a context's triplets mostly the wrong way round (2AFC below 0.5, as a random-init
network can on a context far from natural similarity), the loss falls fastest by predicting "p1
is closer" when ``d1 > d0``, and the channel weights then learn to sharpen the wrong ranking.
:func:`head_2afc` measures the head's own agreement with the labels next to the metric's 2AFC
score, which exposes this. ``monotone=True`` rules it out: the inputs that grow with ``d1``
(``d1`` and ``d1 / (d0 + eps)``) enter negated and every weight is used through its absolute
value, so the logit can only rise with ``d0`` and fall with ``d1`` (LeakyReLU is increasing).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

EPS = 0.1
HIDDEN = 32
SLOPE = 0.2


#: Signs that make every head input non-decreasing in d0 and non-increasing in d1.
MONOTONE_SIGNS = (1.0, -1.0, 1.0, 1.0, -1.0)


def head_inputs(d0: torch.Tensor, d1: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """The five head inputs, stacked on a new last axis: ``(..., 5)``."""
    return torch.stack([d0, d1, d0 - d1, d0 / (d1 + eps), d1 / (d0 + eps)], dim=-1)


def head_2afc(logits: torch.Tensor, judge: torch.Tensor) -> torch.Tensor:
    """The head's own 2AFC score per context: its prediction read as the choice of p0 or p1.

    ``(sigmoid(logit) > 0.5) * judge + (sigmoid(logit) < 0.5) * (1 - judge) + 0.5 * (tie)``,
    averaged over the batch: ``(B, K)`` -> ``(K,)``. Far above the metric's 2AFC score (which
    reads the distances directly) it means the head reads the distances backwards.
    """
    judge = judge.to(logits.dtype)
    agree = (logits > 0) * judge + (logits < 0) * (1 - judge) + 0.5 * (logits == 0)
    return agree.mean(dim=0)


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan_in)  # the default initialisation of nn.Linear / nn.Conv2d
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class RankingHeads(nn.Module):
    """``K`` independent ranking heads. ``forward(d0, d1)`` with ``(B, K)`` distances -> logits."""

    signs: torch.Tensor

    def __init__(self, contexts: int = 1, monotone: bool = False) -> None:
        super().__init__()
        sizes = [(5, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 1)]
        self.weights = nn.ParameterList(_uniform((contexts, a, b), a) for a, b in sizes)
        self.biases = nn.ParameterList(_uniform((contexts, b), a) for a, b in sizes)
        self.monotone = monotone
        self.register_buffer("signs", torch.tensor(MONOTONE_SIGNS), persistent=False)

    @property
    def contexts(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, d0: torch.Tensor, d1: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, K)`` of "p1 is the closer image" (apply a sigmoid for probabilities)."""
        hidden = head_inputs(d0, d1)  # (B, K, 5)
        if self.monotone:
            hidden = hidden * self.signs.to(hidden.dtype)
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            used = weight.abs() if self.monotone else weight
            hidden = torch.einsum("bki,kij->bkj", hidden, used.to(hidden.dtype)) + bias
            if index < last:
                hidden = F.leaky_relu(hidden, SLOPE)
        return hidden.squeeze(-1)

    def loss(self, d0: torch.Tensor, d1: torch.Tensor, judge: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy, averaged over the batch and summed over contexts."""
        logits = self(d0, d1)
        per_item = F.binary_cross_entropy_with_logits(
            logits, judge.to(logits.dtype), reduction="none"
        )
        return per_item.mean(dim=0).sum()

    def select(self, context: int) -> RankingHeads:
        """A single-context head holding a copy of context ``context``'s parameters."""
        single = RankingHeads(1, monotone=self.monotone)
        with torch.no_grad():
            for target, source in zip(single.parameters(), self.parameters(), strict=True):
                target.copy_(source[context : context + 1])
        return single
