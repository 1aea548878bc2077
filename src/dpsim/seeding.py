"""Seeds derived from the config seed and a job's identity, so every random draw is reproducible.

Python's ``hash`` is salted per process; keys are hashed with SHA-256 instead, so the same config
and the same job give the same stream on any machine and in any process.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _key_to_int(key: str | int) -> int:
    digest = hashlib.sha256(f"{type(key).__name__}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def seed_sequence(seed: int, *keys: str | int) -> np.random.SeedSequence:
    """A SeedSequence for ``keys`` (e.g. ``"pool", "train", 0``) under the config ``seed``."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return np.random.SeedSequence([seed, *(_key_to_int(k) for k in keys)])


def rng(seed: int, *keys: str | int) -> np.random.Generator:
    """A NumPy generator for ``keys`` under the config ``seed``."""
    return np.random.default_rng(seed_sequence(seed, *keys))
