"""Parameter-efficient rungs on the backbone: LoRA on its convolutions, or its biases alone.

Between lin (nothing of the network learns) and tune (all of it learns) the ladder has two
rungs that train a small part of the network with lin's channel weights:

- ``lora``: every convolution ``W`` of the backbone (which is cut after its last tap, so these
  are exactly the convolutions up to the last tap) becomes ``W + B A`` with ``A`` of shape
  ``(r, C_in k_h k_w / groups)`` and ``B`` of shape ``(C_out, r)``, reshaped like ``W``. ``B``
  starts at 0, so the network starts as the base network exactly, and ``A`` at Kaiming-uniform
  values, so ``B`` gets a gradient from the first step (LoRA's initialisation: Hu et al. 2021,
  whose low-rank updates of the weights match full tuning at a fraction of the numbers; for a
  convolution the update is of its kernel flattened to ``C_out x (C_in k k)``). ``W`` stays
  frozen.
- ``bitfit``: only the biases of the backbone's layers learn (Ben Zaken et al. 2022; on CNNs,
  TinyTL: Cai et al. 2020): a few thousand numbers, the cheapest change of the features.

In both the backbone stays in eval mode (batch-norm statistics frozen), and checkpoints keep
only what was trained beside the base weights they name (:func:`trained_backbone_keys`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "LoRAConv2d",
    "add_lora",
    "enable_bitfit",
    "trained_backbone_keys",
]

#: Default rank of ``lora``'s updates.
LORA_RANK = 4


class LoRAConv2d(nn.Conv2d):
    """A convolution whose kernel is its frozen ``weight`` plus a trained ``lora_b @ lora_a``.

    Built from an existing convolution (:meth:`wrapping`); its ``weight`` and ``bias`` keep
    their names, so the base network's state dict loads into it unchanged.
    """

    lora_a: nn.Parameter
    lora_b: nn.Parameter

    @classmethod
    def wrapping(cls, conv: nn.Conv2d, rank: int, generator: torch.Generator) -> LoRAConv2d:
        """The same convolution (same parameters, shared) with a rank-``rank`` update at 0;
        ``A`` drawn from ``generator``."""
        wrapped = cls.__new__(cls)
        nn.Module.__init__(wrapped)
        wrapped.__dict__.update(
            {k: v for k, v in conv.__dict__.items() if k not in ("_parameters", "_modules")}
        )
        wrapped._parameters = dict(conv._parameters)
        wrapped._modules = dict(conv._modules)
        fan_in = conv.weight[0].numel()
        chosen = min(rank, fan_in, conv.out_channels)
        # nn.Linear's default (Kaiming-uniform, a = sqrt(5)), as LoRA's code uses: +-1/sqrt(fan_in)
        bound = 1.0 / math.sqrt(fan_in)
        a = (torch.rand(chosen, fan_in, generator=generator) * 2 - 1) * bound
        wrapped.lora_a = nn.Parameter(a.to(conv.weight.device))
        wrapped.lora_b = nn.Parameter(torch.zeros(conv.out_channels, chosen, device=a.device))
        wrapped.weight.requires_grad_(False)
        if wrapped.bias is not None:
            wrapped.bias.requires_grad_(False)
        return wrapped

    @property
    def rank(self) -> int:
        return self.lora_a.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delta = (self.lora_b @ self.lora_a).view_as(self.weight).to(self.weight.dtype)
        return self._conv_forward(x, self.weight + delta, self.bias)


def add_lora(module: nn.Module, rank: int, seed: int = 0) -> int:
    """Replace every ``nn.Conv2d`` under ``module`` by a :class:`LoRAConv2d` of ``rank`` (their
    ``A`` drawn in module order from ``seed``); returns how many were wrapped. The FX graph of
    a backbone calls its submodules by name, so the replacements are what it runs."""
    if rank < 1:
        raise ValueError(f"the LoRA rank must be >= 1, got {rank}")
    generator = torch.Generator().manual_seed(seed)
    convolutions = [
        (name, child)
        for name, child in module.named_modules()
        if isinstance(child, nn.Conv2d) and not isinstance(child, LoRAConv2d)
    ]
    for name, child in convolutions:
        parent_name, _, leaf = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, leaf, LoRAConv2d.wrapping(child, rank, generator))
    if not convolutions:
        raise ValueError("variant lora needs a network with convolutions; this one has none")
    return len(convolutions)


def enable_bitfit(module: nn.Module) -> int:
    """Let only the biases of ``module`` learn; returns how many numbers that is."""
    module.requires_grad_(False)
    count = 0
    for name, parameter in module.named_parameters():
        if name.split(".")[-1] == "bias":
            parameter.requires_grad_(True)
            count += parameter.numel()
    if count == 0:
        raise ValueError("variant bitfit needs a network with biases; this one has none")
    return count


def trained_backbone_keys(backbone: nn.Module, variant: str) -> set[str]:
    """The backbone's state-dict keys (relative to it) that ``variant`` trains and saves."""
    keys = set()
    for name, parameter in backbone.named_parameters():
        leaf = name.split(".")[-1]
        adapter = variant == "lora" and leaf in ("lora_a", "lora_b")
        bias = variant == "bitfit" and leaf == "bias" and parameter.requires_grad
        if adapter or bias:
            keys.add(name)
    return keys
