"""A small, generated table of 2AFC judgments in the CSV layout a user brings (offline).

Each triplet is a smooth colour image and two noisy copies of it; the ``judge`` share (of
imagined people preferring p1) falls with p1's noise relative to p0's, so a metric that ranks
less noise as closer agrees with the judges. It serves the tests and the README's check of
``dpsim adapt --triplets`` where no one's real judgments are at hand; nothing in it is human.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

#: Default header: the columns ``contexts.judgments.columns`` expects by default.
DEFAULT_HEADER = ("ref", "p0", "p1", "judge")


def write_judgment_fixture(
    folder: str | Path,
    count: int = 60,
    size: int = 32,
    seed: int = 0,
    header: Sequence[str] = DEFAULT_HEADER,
) -> Path:
    """Write ``count`` triplets as PNGs under ``folder/images`` and ``folder/judgments.csv``
    (columns ``header``: reference, p0, p1, share); returns the CSV's path."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, size)
    lines = [",".join(header)]
    for i in range(count):
        base = np.stack(
            [np.outer(np.sin(x * (i % 7 + 1)), 1 - x), np.outer(1 - x, x), np.outer(x, x)]
        )
        sigmas = generator.uniform(0.02, 0.3, 2)
        for name, sigma in (("r", 0.0), ("a", sigmas[0]), ("b", sigmas[1])):
            noisy = np.clip(0.8 * base + 0.1 + generator.normal(0, sigma, base.shape), 0, 1)
            image = (noisy.transpose(1, 2, 0) * 255).astype(np.uint8)
            Image.fromarray(image).save(folder / "images" / f"{name}{i}.png")
        share = 1 / (1 + np.exp(-20 * (sigmas[0] - sigmas[1])))  # p1 closer when it is cleaner
        lines.append(f"images/r{i}.png,images/a{i}.png,images/b{i}.png,{share:.4f}")
    path = folder / "judgments.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
