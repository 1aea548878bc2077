"""Steps of ``rules/readout.smk``: the readout study's MOS fixture, jobs, summary and figures."""

from __future__ import annotations

import logging

import pandas as pd

from dpsim import io
from dpsim import readout as study
from dpsim.backbones import DEFAULT_RESIZE
from dpsim.data import mos, sources
from dpsim.data import mos_fixture as fixture
from dpsim.figure_registry import draw_figures
from dpsim.runtime import resolve_device
from dpsim.steps.job import NO_JOB, Files, Job, Settings

log = logging.getLogger(__name__)


def mos_fixture(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """The offline MOS set (synthetic scores) from the test images (``outputs["fixture"]``)."""
    job.start()
    images = sources.read_split_images(inputs["images"])
    pairs = settings["mos"]["fixture_pairs"]
    fixture.write_mos_fixture(outputs["fixture"], images, pairs, settings["seed"])


def readout(settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB) -> None:
    """One network and weights of the readout study -> its rows (:data:`dpsim.readout.COLUMNS`)
    in ``outputs["table"]``, from the BAPPS cache and the MOS sets (the fixture from
    ``inputs["mos_fixture"]`` when the config lists it)."""
    job.start()
    network, weights = settings["job"]["network"], settings["job"]["weights"]
    fixture_dir = inputs["mos_fixture"][0] if inputs.get("mos_fixture") else None
    section = settings["mos"]
    table = study.readout_table(
        network,
        weights,
        inputs["bapps"],
        mos.read_mos_sets(section, fixture_dir),
        study.ReadoutSettings.from_config(
            settings["readout"],
            settings["seed"],
            network,
            settings["grid"].get("input_resize", DEFAULT_RESIZE),
        ),
        mos_size=section["image_size"],
        mos_resize=section["resize"],
        device=resolve_device(settings["device"]),
        weights_dir=settings["grid"]["weights_dir"],
    )
    log.info("readout %s %s: %d rows", network, weights, len(table))
    io.write_parquet(table, outputs["table"])


def readout_summary(
    settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB
) -> None:
    """Every readout job's rows (``inputs["tables"]``) in one table (``outputs["summary"]``)."""
    job.start()
    tables = [pd.read_parquet(path) for path in inputs["tables"]]
    io.write_parquet(pd.concat(tables, ignore_index=True), outputs["summary"])


def readout_figures(
    settings: Settings, inputs: Files, outputs: Files, *, job: Job = NO_JOB
) -> None:
    """The registry's readout figures (depth curves, descriptor heatmap) from the summary."""
    job.start()
    draw_figures("readout_figures", pd.read_parquet(inputs["summary"]), outputs)
