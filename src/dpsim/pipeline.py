"""One function per workflow step: what a rule's script calls, given the validated config.

Each function reads its inputs, calls the library, and writes its outputs atomically; none knows
about Snakemake, so each step can be run and tested from plain Python.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dpsim import aggregate, contexts, experiment, figures, io, readout
from dpsim.data import bapps, bapps_fetch, fixture, mos, mos_fixture, pool, sources
from dpsim.names import RESULT_FIGURES, SPLITS
from dpsim.runtime import resolve_device
from dpsim.taps import readout_taps
from dpsim.train import TrainSettings

log = logging.getLogger(__name__)


def prepare_images(
    images: dict, seed: int, image_paths: Sequence[str], index_paths: Sequence[str]
) -> None:
    """Build the image sets of :data:`~dpsim.names.SPLITS`, in that order: .npy + .parquet.

    Args:
        images: the config's ``images`` section.
        seed: the config seed (the split of the images depends on it).
        image_paths, index_paths: one path per split for the images and their provenance.
    """
    splits = sources.build_image_splits(images, seed)
    for split, image_path, index_path in zip(SPLITS, image_paths, index_paths, strict=True):
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


def plot_result_figures(
    summary_path: str | Path,
    stats_paths: dict[str, str | Path],
    rankings_path: str | Path,
    log_paths: Sequence[str | Path],
    test_pool_dir: str | Path,
    example_count: int,
    seed: int,
    outputs: dict[str, tuple[str | Path, str | Path]],
) -> None:
    """Every result figure, each to ``outputs[name] = (png, svg)`` (see :data:`RESULT_FIGURES`)."""
    summary = pd.read_parquet(summary_path)
    stats = {name: pd.read_parquet(path) for name, path in stats_paths.items()}
    rankings = pd.read_parquet(rankings_path)
    drawn = {
        "context_scores": lambda: figures.context_scores(stats["context_tests"]),
        "bapps_heatmap": lambda: figures.bapps_heatmap(summary),
        "bapps_forest": lambda: figures.bapps_forest(stats["bapps_tests"], stats["bapps_deltas"]),
        "score_vs_rank_distance": lambda: figures.score_vs_rank_distance(summary, rankings),
        "training_curves": lambda: figures.training_curves(aggregate.read_training_logs(log_paths)),
        "example_triplets": lambda: figures.example_triplets(
            pool.load_pool(test_pool_dir),
            experiment.read_contexts(rankings_path),
            example_count,
            seed,
        ),
    }
    for name in RESULT_FIGURES:
        png, svg = outputs[name]
        figures.save_figure(drawn[name](), png, svg)
        log.info("figure %s -> %s", name, png)


# ---------------------------------------------------------------- the readout study


def make_mos_fixture(pairs: int, seed: int, images_path: str | Path, out_dir: str | Path) -> None:
    """The offline MOS set (synthetic scores) from the test images."""
    images = sources.read_split_images(images_path)
    mos_fixture.write_mos_fixture(out_dir, images, pairs, seed)


def mos_sets(section: dict, fixture_dir: str | Path | None) -> list[mos.MosSet]:
    """The MOS sets of the config's ``mos`` section (the fixture read from ``fixture_dir``)."""
    chosen = []
    for entry in section["sets"]:
        spec = dict(entry)
        if spec["format"] == "fixture":
            spec["path"] = str(fixture_dir)
        chosen.append(mos.read_mos_set(spec))
    return chosen


def readout_settings(section: dict, seed: int, network: str) -> readout.ReadoutSettings:
    """The readout study's settings for ``network`` from the config's ``readout`` section."""
    decay = section["epochs"] // 2
    learned = TrainSettings(
        lr=section["lr"],
        beta1=0.5,
        beta2=0.999,
        batch_size=section["batch_size"],
        epochs_constant=section["epochs"] - decay,
        epochs_decay=decay,
    )
    return readout.ReadoutSettings(
        descriptors=tuple(section["descriptors"]),
        weightings=tuple(section["weightings"]),
        taps=readout_taps(section, network),
        train=learned,
        seed=seed,
    )


def readout_job(
    config: dict,
    network: str,
    weights: str,
    bapps_cache: str | Path,
    mos_fixture_dir: str | Path | None,
    out_path: str | Path,
) -> None:
    """One network and weights of the readout study -> its rows (see :data:`readout.COLUMNS`)."""
    table = readout.readout_table(
        network,
        weights,
        bapps_cache,
        mos_sets(config["mos"], mos_fixture_dir),
        readout_settings(config["readout"], config["seed"], network),
        mos_size=config["mos"]["image_size"],
        mos_resize=config["mos"]["resize"],
        device=resolve_device(config["device"]),
        weights_dir=config["grid"]["weights_dir"],
    )
    log.info("readout %s %s: %d rows", network, weights, len(table))
    io.write_parquet(table, out_path)


def summarise_readout(paths: Sequence[str | Path], out_path: str | Path) -> None:
    """Every readout job's rows in one table."""
    io.write_parquet(pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True), out_path)


def plot_readout_figures(summary_path: str | Path, outputs: dict[str, tuple]) -> None:
    """Score vs. layer depth per architecture, and the descriptor x architecture heatmap."""
    table = pd.read_parquet(summary_path)
    drawn = {"readout_depth": figures.readout_depth, "readout_heatmap": figures.readout_heatmap}
    for name, (png, svg) in outputs.items():
        figures.save_figure(drawn[name](table), png, svg)
