"""Steps of ``rules/data.smk``: the context images, and BAPPS (or its fixture) packed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from dpsim import io
from dpsim.data import bapps, bapps_fetch, fixture, sources
from dpsim.data import judgment_sets as judgment_set_data
from dpsim.names import SPLITS
from dpsim.steps.job import NO_JOB, Files, Job, Settings

log = logging.getLogger(__name__)


def prepare_images(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """The image sets of :data:`~dpsim.names.SPLITS`: ``outputs["images"]`` (``.npy``, one per
    split in that order) and ``outputs["index"]`` (provenance ``.parquet``)."""
    job.start()
    section = settings["images"]
    splits = sources.build_image_splits(section, settings["seed"])
    for split, images, index in zip(SPLITS, outputs["images"], outputs["index"], strict=True):
        log.info("%s split: %d images from source %s", split, len(splits[split]), section["source"])
        sources.write_split(splits[split], images, index)


def bapps_download(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """Download, extract and check the real BAPPS; write ``outputs["manifest"]``."""
    job.start()
    _write_manifest(bapps_fetch.fetch_bapps(settings["bapps"]), outputs["manifest"])


def bapps_fixture(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """The offline BAPPS-format fixture (synthetic judgments) in ``outputs["fixture"]``."""
    job.start()
    tiles = sources.embedded_images(
        list(sources.EMBEDDED_PHOTOS), size=64, scales=[1.0, 0.5], min_std=8.0
    ).images
    size = settings["bapps"]["fixture"]
    spec = fixture.FixtureSpec(
        train_items=size["train_items"],
        val_items=size["val_items"],
        jnd_items=size["jnd_items"],
        seed=settings["seed"],
    )
    with io.atomic_dir(outputs["fixture"]) as temp:
        description = fixture.write_fixture(temp, tiles, spec)
        io.write_json(description, temp / "fixture.json")


def bapps_manifest(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """Check the fixture (``inputs["fixture"]``) or the user's tree (``bapps.source: local``)
    and write ``outputs["manifest"]``, which every later stage reads."""
    job.start()
    section = settings["bapps"]
    if section["source"] == "local":
        data = bapps_fetch.verified_manifest(Path(section["path"]), section, source="local")
    else:
        (folder,) = inputs["fixture"]
        spec = json.loads((Path(folder) / "fixture.json").read_text())
        subsets = bapps.scan(folder)
        data = bapps.manifest(
            folder, subsets, source="fixture", synthetic_judgments=True, fixture=spec
        )
    _write_manifest(data, outputs["manifest"])


def _write_manifest(data: dict[str, Any], path: str) -> None:
    for entry in data["subsets"]:
        log.info("BAPPS %(kind)s/%(split)s/%(subset)s: %(items)d items", entry)
    io.write_json(data, path)


def bapps_cache(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """Every BAPPS subset packed into memory-mapped uint8 arrays at the evaluation size, decoded
    by the job's threads (the rule declares ``bapps.workers`` of them), and of each 2AFC train
    subset a seeded sample of ``bapps.fit_items`` triplets that every metric is scored on too
    (the likelihood's fit: :mod:`dpsim.likelihood`)."""
    job.start()
    with io.atomic_dir(outputs["cache"]) as temp:
        size, fit = settings["bapps"]["image_size"], settings["bapps"]["fit_items"]
        bapps.pack_all(
            inputs["manifest"],
            temp,
            size,
            workers=job.threads,
            writer=job.rule,
            fit_items=fit,
            seed=settings["seed"],
        )


def judgment_sets(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """The extra human 2AFC sets (``evaluate.judgment_sets``; their tables are ``inputs``)
    packed beside BAPPS's cache, in its layout, as ``outputs["cache"]``: every evaluation
    scores them as BAPPS subsets (:mod:`dpsim.data.judgment_sets`)."""
    job.start()
    sets = settings["evaluate"]["judgment_sets"]
    with io.atomic_dir(outputs["cache"]) as temp:
        index = judgment_set_data.pack_judgment_sets(sets, temp, writer=job.rule)
    for entry in index["subsets"]:
        log.info("judgment set %(name)s: %(items)d triplets (rows: %(split)s)", entry)
