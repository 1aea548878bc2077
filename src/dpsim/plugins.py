"""A user's own distortion, named by import path: ``package.module:function``.

The contract (also in the README, "Your own context")::

    def my_distortion(images: torch.Tensor, generator: torch.Generator)
            -> tuple[torch.Tensor, ArrayLike]:
        '''images: uint8 (N, 3, H, W), on the run's device; generator: a CPU torch.Generator,
        seeded by dpsim. Return the distorted uint8 batch (same shape) and the parameters drawn
        for each image, (N,) or (N, k) with k <= 4 numbers.'''

dpsim seeds the generator from the pool's seed, split, draw, shard and the plug-in's name, so a
plug-in that draws every random choice from it is as reproducible as the built-ins. The parameters
it returns are stored in the pool beside the built-ins' (zero-padded to 4), and shown in figures.
:func:`check_plugin` calls it once on a tiny batch before any job runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import torch

from dpsim.seeding import seed_sequence

Plugin = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, Any]]


class PluginError(ValueError):
    """A plug-in that cannot be imported, or that breaks the contract."""


@cache
def load(path: str) -> Plugin:
    """The function at ``package.module:function``; a :class:`PluginError` saying what failed."""
    module_name, _, function_name = path.partition(":")
    if not module_name or not function_name:
        raise PluginError(f"plug-in {path!r}: write it as package.module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any import-time failure of the user's module
        raise PluginError(
            f"plug-in {path!r}: cannot import {module_name!r} ({type(error).__name__}: {error}); "
            "install its package into the venv or put its folder on PYTHONPATH"
        ) from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise PluginError(f"plug-in {path!r}: {module_name} has no function {function_name!r}")
    return function


def generator_for(seed: int, name: str) -> torch.Generator:
    """The CPU generator a plug-in gets: seeded by ``seed`` (the caller's) and its name."""
    state = seed_sequence(seed, "plugin", name).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & (2**63 - 1))


def call(
    path: str, name: str, pixels: torch.Tensor, generator: torch.Generator, width: int
) -> tuple[torch.Tensor, np.ndarray]:
    """Call the plug-in on uint8 ``pixels`` and check what it returns against the contract."""
    where = f"plug-in {name} ({path})"
    try:
        returned = load(path)(pixels, generator)
    except PluginError:
        raise
    except Exception as error:
        raise PluginError(f"{where} failed: {type(error).__name__}: {error}") from error
    if not isinstance(returned, tuple) or len(returned) != 2:
        raise PluginError(f"{where} must return (images, params), got {type(returned).__name__}")
    result, params = returned
    if not isinstance(result, torch.Tensor) or result.dtype != torch.uint8:
        kind = getattr(result, "dtype", type(result).__name__)
        raise PluginError(f"{where} must return a uint8 torch.Tensor, got {kind}")
    if tuple(result.shape) != tuple(pixels.shape):
        raise PluginError(
            f"{where} returned images of shape {tuple(result.shape)} for a batch of "
            f"{tuple(pixels.shape)}: it must keep the shape"
        )
    drawn = np.asarray(params.cpu() if isinstance(params, torch.Tensor) else params, float)
    drawn = drawn.reshape(len(pixels), -1) if drawn.ndim == 1 else drawn
    if drawn.ndim != 2 or len(drawn) != len(pixels) or drawn.shape[1] > width:
        raise PluginError(
            f"{where} returned parameters of shape {tuple(np.shape(drawn))}: give (N,) or (N, k) "
            f"with N = {len(pixels)} images and k <= {width}"
        )
    padded = np.zeros((len(pixels), width))
    padded[:, : drawn.shape[1]] = drawn
    return result.to(pixels.device), padded


def check_plugin(path: str, name: str, width: int = 4) -> None:
    """Import ``path`` and call it on a tiny random batch: a broken plug-in fails before any job."""
    pixels = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator())
    call(path, name, pixels, generator_for(0, name), width)
