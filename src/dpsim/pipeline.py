"""One function per workflow step: what a rule's script calls, given the validated config.

Each function reads its inputs, calls the library, and writes its outputs atomically; none knows
about Snakemake, so each step can be run and tested from plain Python.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from dpsim import contexts, figures, io
from dpsim.data import bapps, bapps_fetch, fixture, pool, sources
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


def make_bapps_fixture(section: dict, seed: int, out_dir: str | Path) -> None:
    """The offline BAPPS-format fixture (synthetic judgments) from the embedded photographs."""
    tiles = sources.embedded_images(
        list(sources.EMBEDDED_PHOTOS), size=64, scales=[1.0, 0.5], min_std=8.0
    ).images
    options = section["fixture"]
    spec = fixture.FixtureSpec(
        train_items=options["train_items"],
        val_items=options["val_items"],
        jnd_items=options["jnd_items"],
        seed=seed,
    )
    with io.atomic_dir(out_dir) as temp:
        description = fixture.write_fixture(temp, tiles, spec)
        io.write_json(description, temp / "fixture.json")


def write_bapps_manifest(section: dict, fixture_dir: str | None, out_path: str | Path) -> None:
    """Check the BAPPS tree of the configured source and write the manifest later stages read.

    ``fixture``: the generated tree; ``local``: the user's tree (published counts checked);
    ``download``: fetch, extract and check first.
    """
    source = section["source"]
    if source == "download":
        data = bapps_fetch.fetch_bapps(section)
    elif source == "local":
        data = bapps_fetch.verified_manifest(Path(section["path"]), section, source="local")
    else:
        spec = json.loads((Path(fixture_dir) / "fixture.json").read_text())
        data = bapps.manifest(
            fixture_dir,
            bapps.scan(fixture_dir),
            source="fixture",
            synthetic_judgments=True,
            fixture=spec,
        )
    for entry in data["subsets"]:
        log.info("BAPPS %(kind)s/%(split)s/%(subset)s: %(items)d items", entry)
    io.write_json(data, out_path)


def pack_bapps(section: dict, manifest_path: str | Path, cache_dir: str | Path) -> None:
    """Pack every BAPPS subset into memory-mapped uint8 caches at the evaluation size."""
    with io.atomic_dir(cache_dir) as temp:
        bapps.pack_all(manifest_path, temp, section["image_size"], section["workers"])
