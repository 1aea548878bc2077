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


def _triplet_images(index: int, size: int, generator: np.random.Generator):
    """A smooth colour image and two noisy copies (uint8 HWC), and p1's share of the votes."""
    x = np.linspace(0.0, 1.0, size)
    base = np.stack(
        [np.outer(np.sin(x * (index % 7 + 1)), 1 - x), np.outer(1 - x, x), np.outer(x, x)]
    )
    sigmas = generator.uniform(0.02, 0.3, 2)
    images = []
    for sigma in (0.0, sigmas[0], sigmas[1]):
        noisy = np.clip(0.8 * base + 0.1 + generator.normal(0, sigma, base.shape), 0, 1)
        images.append((noisy.transpose(1, 2, 0) * 255).astype(np.uint8))
    share = 1 / (1 + np.exp(-20 * (sigmas[0] - sigmas[1])))  # p1 closer when it is cleaner
    return images, float(share)


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
    lines = [",".join(header)]
    for i in range(count):
        images, share = _triplet_images(i, size, generator)
        for name, image in zip(("r", "a", "b"), images, strict=True):
            Image.fromarray(image).save(folder / "images" / f"{name}{i}.png")
        lines.append(f"images/r{i}.png,images/a{i}.png,images/b{i}.png,{share:.4f}")
    path = folder / "judgments.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


#: NIGHTS's ``data.csv`` header (PROTOCOL §10: read by position, column 2 the share of the
#: second distortion, 4-6 the images; ``votes``, ``split``).
NIGHTS_HEADER = (
    "id",
    "left_vote",
    "right_vote",
    "prompt",
    "ref_path",
    "left_path",
    "right_path",
    "votes",
    "split",
    "is_imagenet",
)


def write_nights_fixture(
    folder: str | Path, count: int = 48, size: int = 32, seed: int = 0
) -> Path:
    """Write ``count`` triplets in NIGHTS's layout: ``ref/NNN/MMM.png``, ``distort/NNN/MMM_0.png``
    and ``MMM_1.png``, and ``data.csv`` (vote shares from 6 imagined people, 5 for every fourth
    row; splits train / val / test in turn); returns the CSV's path."""
    folder = Path(folder)
    generator = np.random.default_rng(seed)
    lines = [",".join(NIGHTS_HEADER)]
    for i in range(count):
        images, share = _triplet_images(i, size, generator)
        group, stem = f"{i // 100:03d}", f"{i % 100:03d}"
        paths = (f"ref/{group}/{stem}.png", *(f"distort/{group}/{stem}_{k}.png" for k in (0, 1)))
        for relative, image in zip(paths, images, strict=True):
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / relative)
        votes = 5 if i % 4 == 3 else 6
        right = round(share * votes) / votes
        split = ("train", "val", "test")[i % 3]
        row = (i, f"{1 - right:.4f}", f"{right:.4f}", "a photo", *paths, votes, split, "False")
        lines.append(",".join(str(v) for v in row))
    table = folder / "data.csv"
    table.write_text("\n".join(lines) + "\n")
    return table
