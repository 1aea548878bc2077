"""Plug-in distortions for the tests: one that keeps the contract, and one per way to break it."""

from __future__ import annotations

import torch


def stripes(images: torch.Tensor, generator: torch.Generator):
    """Halve every p-th row, p drawn from 2..5 with dpsim's generator."""
    periods = torch.randint(2, 6, (len(images),), generator=generator)
    out = images.clone()
    for i, period in enumerate(periods.tolist()):
        out[i, :, ::period, :] //= 2
    return out, periods


def float_out(images, generator):
    return images.float(), torch.zeros(len(images))


def cropped(images, generator):
    return images[..., 1:], torch.zeros(len(images))


def too_many_params(images, generator):
    return images, torch.zeros(len(images), 5)


def one_thing(images, generator):
    return images


def raises(images, generator):
    raise RuntimeError("boom")
