"""One function per workflow step: what a rule's script calls, given the validated config.

Each function reads its inputs, calls the library, and writes its outputs atomically; none knows
about Snakemake, so each step can be run and tested from plain Python.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from dpsim import contexts, figures, io
from dpsim.data import pool, sources
from dpsim.runtime import resolve_device

log = logging.getLogger(__name__)


def prepare_images(
    images: dict, seed: int, image_paths: Sequence[str], index_paths: Sequence[str]
) -> None:
    """Build the image sets of :data:`~dpsim.data.sources.SPLITS`, in that order: .npy + .parquet.

    Args:
        images: the config's ``images`` section.
        seed: the config seed (the split of the images depends on it).
        image_paths, index_paths: one path per split for the images and their provenance.
    """
    splits = sources.build_image_splits(images, seed)
    for split, image_path, index_path in zip(sources.SPLITS, image_paths, index_paths, strict=True):
        log.info("%s split: %d images from source %s", split, len(splits[split]), images["source"])
        sources.write_split(splits[split], image_path, index_path)


def write_rankings(section: dict, path: str | Path) -> None:
    """The rankings table of the config's ``contexts`` section (``rankings.parquet``)."""
    chosen = contexts.contexts_from_config(section)
    seed = section["generator_seed"] if section["source"] == "generator" else None
    table = contexts.rankings_table(chosen, seed)
    log.info("%d contexts, %d distinct rankings", len(table), table["order_text"].nunique())
    io.write_parquet(table, path)


def build_pool_draw(
    section: dict,
    seed: int,
    device: str,
    images_path: str | Path,
    out_dir: str | Path,
    split: str,
    draw: int,
) -> None:
    """One draw of the shared triplet pool of ``split`` (``section``: the config's ``pool``)."""
    manifest = pool.build_pool(
        sources.read_split_images(images_path),
        out_dir,
        split=split,
        draw=draw,
        triplets=section["triplets"][split],
        shard_size=section["shard_size"],
        seed=seed,
        batch_size=section["batch_size"],
        device=resolve_device(device),
    )
    log.info("pool %s draw %d: %d shards", split, draw, len(manifest["shards"]))


def plot_distortion_examples(
    per_distortion: int,
    seed: int,
    images_path: str | Path,
    png_path: str | Path,
    svg_path: str | Path,
) -> None:
    """The figure of every distortion applied to the same reference images."""
    images = sources.read_split_images(images_path)
    figure = figures.distortion_examples(images, per_distortion, seed)
    figures.save_figure(figure, png_path, svg_path)
