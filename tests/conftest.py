"""Shared fixtures: small images and paths; torch kept to one thread per test process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)


@pytest.fixture
def repo() -> Path:
    """The repository root (Snakefile, config/, scripts/)."""
    return REPO


@pytest.fixture
def random_images() -> np.ndarray:
    """Twenty random uint8 RGB images of 64x64, fixed seed."""
    return np.random.default_rng(7).integers(0, 256, size=(20, 3, 64, 64), dtype=np.uint8)
