"""Step of ``rules/report.smk``: the study's answers in one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

from dpsim import report as html_report
from dpsim.figure_registry import FIGURES, report_input
from dpsim.names import STATS_FILES
from dpsim.steps.job import NO_JOB, Files, Job, Settings


def report(
    settings: Settings, inputs: Files, outputs: Files, *, captions: str, job: Job = NO_JOB
) -> None:
    """``outputs["report"]`` from the statistics, summary, rankings, BAPPS manifest, training
    logs, the registry's figures (inputs ``figure_<name>``; a figure the run does not draw is
    absent) and the readout summary (input ``readout``: a list, empty without a readout study).
    ``settings`` is the whole config, which the report shows; ``captions`` the caption folder."""
    job.start()
    drawn = [e for e in FIGURES if inputs.get(report_input(e.name))]
    inputs_of_report = html_report.ReportInputs(
        summary=Path(inputs["summary"]),
        stats={name: Path(inputs[name]) for name in STATS_FILES},
        rankings=Path(inputs["rankings"]),
        bapps_manifest=Path(inputs["bapps_manifest"]),
        figures={e.name: Path(inputs[report_input(e.name)]) for e in drawn},
        captions={e.name: Path(captions) / e.caption for e in drawn},
        readout=Path(inputs["readout"][0]) if inputs.get("readout") else None,
        training_logs=[Path(p) for p in inputs["logs"]],
    )
    html_report.build_report(settings, inputs_of_report, outputs["report"])
