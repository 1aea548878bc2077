"""Figures of the workflow (matplotlib, written as PNG and SVG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from dpsim import distortions, io
from dpsim.seeding import rng


def distortion_examples(images: np.ndarray, per_distortion: int, seed: int) -> plt.Figure:
    """A grid: the top row shows reference images, each further row one distortion applied to them.

    References and parameters are drawn with ``seed``; each panel is titled with its parameters.
    """
    generator = rng(seed, "figure", "distortion_examples")
    count = min(per_distortion, len(images))
    refs = np.ascontiguousarray(
        images[np.sort(generator.choice(len(images), count, replace=False))]
    )
    names = distortions.DISTORTIONS
    figure, axes = plt.subplots(
        len(names) + 1, count, figsize=(1.9 * count, 2.0 * (len(names) + 1)), squeeze=False
    )
    rows = [("reference", refs, [""] * count)]
    for index, _name in enumerate(names):
        ids = np.full(count, index)
        params = distortions.draw_params(generator, ids, refs.shape[-1])
        distorted = distortions.apply_uint8(torch.from_numpy(refs), ids, params).numpy()
        rows.append(
            (names[index], distorted, [distortions.describe_params(index, p) for p in params])
        )
    for row, (label, batch, titles) in enumerate(rows):
        for col in range(count):
            axis = axes[row, col]
            axis.imshow(batch[col].transpose(1, 2, 0), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(titles[col].split(" (")[-1].rstrip(")"), fontsize=7)
            if col == 0:
                axis.set_ylabel(label, fontsize=9)
    figure.suptitle("The six distortions applied to the same references", fontsize=10)
    figure.tight_layout()
    return figure


def save_figure(figure: plt.Figure, png_path: str | Path, svg_path: str | Path | None = None):
    """Write ``figure`` atomically as PNG (and SVG when a path is given), then close it."""
    with io.atomic_path(png_path) as temp:
        figure.savefig(temp, format="png", dpi=130)
    if svg_path is not None:
        with io.atomic_path(svg_path) as temp:
            figure.savefig(temp, format="svg")
    plt.close(figure)
