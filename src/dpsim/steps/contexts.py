"""Steps of ``rules/contexts.smk``: the rankings, the shared triplet pool, the distortion figure."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from dpsim import contexts, io
from dpsim.data import judgment_pool, pool, sources
from dpsim.distortions import DistortionSet
from dpsim.figure_registry import draw_figures
from dpsim.runtime import resolve_device
from dpsim.steps.job import NO_JOB, Files, Job, Settings

log = logging.getLogger(__name__)


def rankings(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """The table of contexts and their distances to the identity ranking (``rankings``)."""
    job.start()
    section, names = settings["contexts"], settings["distortions"]["set"]
    chosen = contexts.contexts_from_config(section, names)
    seed = section["generator_seed"] if section["source"] == "generator" else None
    table = contexts.rankings_table(chosen, seed, names)
    log.info("%d contexts, %d distinct rankings", len(table), table["order_text"].nunique())
    io.write_parquet(table, outputs["rankings"])


def pool_draw(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """One draw of the shared triplet pool of a split, from ``inputs["images"]``; for a
    judgments context, the split's rows of the user's judgments instead."""
    job.start()
    split, draw = settings["job"]["split"], settings["job"]["draw"]
    if settings.get("contexts", {}).get("source") == "judgments":
        manifest = judgment_pool.build_judgment_draw(
            settings["contexts"]["judgments"],
            outputs["pool"],
            split=split,
            seed=settings["seed"],
            shard_size=settings["pool"]["shard_size"],
            writer=job.rule,
        )
        log.info("judgments %s: %d triplets", split, manifest["spec"]["triplets"])
        return
    section = settings["pool"]
    manifest = pool.build_pool(
        sources.read_split_images(inputs["images"]),
        outputs["pool"],
        split=split,
        draw=draw,
        triplets=section["triplets"][split],
        shard_size=section["shard_size"],
        seed=settings["seed"],
        batch_size=section["batch_size"],
        device=resolve_device(settings["device"]),
        writer=job.rule,
        dset=DistortionSet.from_config(settings["distortions"]),
    )
    log.info("pool %s draw %d: %d shards", split, draw, len(manifest["shards"]))


@dataclass(frozen=True)
class ExampleImages:
    """What the distortion figure is drawn from: reference images, count per distortion, seed,
    and the run's distortion set."""

    images: np.ndarray
    per_distortion: int
    seed: int
    distortions: DistortionSet


def distortion_examples(
    settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB
) -> None:
    """Every distortion applied to the same reference images (its registry figures)."""
    job.start()
    data = ExampleImages(
        sources.read_split_images(inputs["images"]),
        settings["figures"]["examples_per_distortion"],
        settings["seed"],
        DistortionSet.from_config(settings["distortions"]),
    )
    draw_figures("distortion_examples", data, outputs)
