"""Figures of images: the distortions on shared references, and example triplets with labels.

They show what the study's inputs look like: what each distortion does at the drawn strengths, and
how different contexts judge the same triplet (which distorted image a context calls closer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from dpsim import distortions
from dpsim.distortions import STUDY, DistortionSet
from dpsim.figures.common import no_data
from dpsim.seeding import rng

if TYPE_CHECKING:
    from dpsim.contexts import Context
    from dpsim.data.pool import Pool

#: At most this many contexts are named under each triplet (more would not fit).
MAX_CONTEXTS = 3


def distortion_examples(
    images: np.ndarray, per_distortion: int, seed: int, dset: DistortionSet = STUDY
) -> plt.Figure:
    """A grid: the top row shows reference images, each further row one distortion of the run's
    set applied to them.

    References and parameters are drawn with ``seed``; each panel is titled with its parameters.
    """
    generator = rng(seed, "figure", "distortion_examples")
    count = min(per_distortion, len(images))
    refs = np.ascontiguousarray(
        images[np.sort(generator.choice(len(images), count, replace=False))]
    )
    names = dset.names
    figure, axes = plt.subplots(
        len(names) + 1, count, figsize=(1.9 * count, 2.0 * (len(names) + 1)), squeeze=False
    )
    rows = [("reference", refs, [""] * count)]
    for index, name in enumerate(names):
        ids = np.full(count, index)
        params = dset.draw_params(generator, ids, refs.shape[-1])
        distorted, params = dset.distort_uint8(
            torch.from_numpy(refs), ids, params, seed=int(generator.integers(2**62))
        )
        rows.append((name, distorted.numpy(), [dset.describe(index, p) for p in params]))
    for row, (label, batch, titles) in enumerate(rows):
        for col in range(count):
            axis = axes[row, col]
            axis.imshow(batch[col].transpose(1, 2, 0), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(titles[col].split(" (")[-1].rstrip(")"), fontsize=7)
            if col == 0:
                axis.set_ylabel(label, fontsize=9)
    figure.suptitle(f"The {len(names)} distortions applied to the same references", fontsize=10)
    figure.tight_layout()
    return figure


def example_triplets(pool: Pool, contexts: Sequence[Context], count: int, seed: int) -> plt.Figure:
    """Rows of triplets ref | p0 | p1, each image titled with its distortion and parameters.

    Under p0 and p1 the figure names which of the first three ``contexts`` call that image the
    closer one, so one sees that the images are shared and only the judge changes with the context.
    Triplets are drawn without replacement from a generator seeded by ``seed``.
    """
    title = "Example triplets and how contexts judge them"
    if count < 1 or len(pool) == 0:
        return no_data("no triplets to show (empty pool or count < 1)", title)
    generator = rng(seed, "figure", "example_triplets")
    picks = np.sort(generator.choice(len(pool), min(count, len(pool)), replace=False))
    shown = list(contexts)[:MAX_CONTEXTS]
    labels = {c.name: pool.judged.rows(picks).labels(c.ranking) for c in shown}
    figure, axes = plt.subplots(len(picks), 3, figsize=(6.6, 2.6 * len(picks)), squeeze=False)
    for row, index in enumerate(picks):
        images = (pool.ref[index], pool.p0[index], pool.p1[index])
        titles = (
            f"reference (triplet {int(pool.triplet[index])})",
            _image_title(pool, index, 0),
            _image_title(pool, index, 1),
        )
        for col, (image, text) in enumerate(zip(images, titles, strict=True)):
            axis = axes[row, col]
            axis.imshow(image.transpose(1, 2, 0), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(text, fontsize=7.5)
            if col > 0 and shown and pool.judge is None:
                closer = [name for name, label in labels.items() if label[row] == col - 1]
                axis.set_xlabel(
                    "closer for: " + (", ".join(closer) or "none of these contexts"), fontsize=8
                )
            elif col > 0 and pool.judge is not None:
                share = float(pool.judge[index]) if col == 2 else 1 - float(pool.judge[index])
                axis.set_xlabel(f"closer for {100 * share:.0f}% of the judges", fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.text(0.5, 0.005, _ranking_caption(shown), ha="center", va="bottom", fontsize=7.5)
    caption_inches = 0.08 + 0.14 * (len(shown) + 1)
    height = figure.get_figheight()
    figure.tight_layout(rect=(0, caption_inches / height, 1, 1 - 0.35 / height), h_pad=2.5)
    return figure


def _image_title(pool: Pool, index: int, side: int) -> str:
    """``p0: blur (k=11, s=4.2)``; for judged triplets (no distortion ids) ``p0``."""
    ids, params = (pool.d0, pool.params0) if side == 0 else (pool.d1, pool.params1)
    if pool.judge is not None:
        return f"p{side}"
    name = pool.distortions[int(ids[index])]
    return f"p{side}: " + distortions.describe_named(name, params[index])


def _ranking_caption(shown: Sequence[Context]) -> str:
    """One line per context: its ranking from most similar to most changed."""
    if not shown:
        return "no contexts given: no judge shown"
    lines = [
        f"{c.name}: {' > '.join(c.ranking) or 'ranked by people (the shares shown)'}" for c in shown
    ]
    return "contexts rank distortions from most similar to most changed\n" + "\n".join(lines)
