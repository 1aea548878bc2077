"""The workflow's steps: one module per ``rules/*.smk`` file, one function per rule, same names.

``workflow_scripts/<rule>.py`` calls ``dpsim.steps.<rules file>.<rule>`` through
:func:`~dpsim.steps.job.run` and nothing else; the step reads its inputs, calls the library and
writes its outputs atomically. Steps know files and settings, not Snakemake, so each can be run
and tested from plain Python (:mod:`dpsim.steps.job` gives the calling convention,
:mod:`dpsim.steps.keys` the config keys each rule passes).

=================  ======================================================================
module             rules
=================  ======================================================================
``data``           prepare_images, bapps_download, bapps_fixture, bapps_manifest, bapps_cache,
                   judgment_sets
``contexts``       rankings, pool_draw, distortion_examples
``adapt``          pool_statistics, adapt_lin_all_contexts, adapt_mix_all_contexts,
                   adapt_direct
``evaluate``       evaluation_statistics, evaluate_lin, evaluate_trained, evaluate_mix,
                   evaluate_untrained
``analysis``       summary, caps, stats, result_figures
``readout``        mos_fixture, readout, readout_summary, readout_figures
``report``         report
=================  ======================================================================

Importing this package is cheap (no torch): the workflow imports :mod:`dpsim.steps.keys` while
it builds the DAG; each step module imports what its steps need. Outside the workflow (scripts,
notebooks), :func:`call` runs a rule's step on a config with the keys the rule would pass.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from dpsim.steps import keys
from dpsim.steps.job import NO_JOB, Files, Job, Settings, run

__all__ = ["MODULES", "NO_JOB", "Files", "Job", "Settings", "call", "run", "step"]

#: The step module (= rules file) of every rule, as in the table above.
MODULES: dict[str, str] = {
    **dict.fromkeys(
        [
            "prepare_images",
            "bapps_download",
            "bapps_fixture",
            "bapps_manifest",
            "bapps_cache",
            "judgment_sets",
        ],
        "data",
    ),
    **dict.fromkeys(["rankings", "pool_draw", "distortion_examples"], "contexts"),
    **dict.fromkeys(
        ["pool_statistics", "adapt_lin_all_contexts", "adapt_mix_all_contexts", "adapt_direct"],
        "adapt",
    ),
    **dict.fromkeys(
        [
            "evaluation_statistics",
            "evaluate_lin",
            "evaluate_trained",
            "evaluate_mix",
            "evaluate_untrained",
        ],
        "evaluate",
    ),
    **dict.fromkeys(["summary", "caps", "stats", "result_figures"], "analysis"),
    **dict.fromkeys(["mos_fixture", "readout", "readout_summary", "readout_figures"], "readout"),
    "report": "report",
}


def step(rule: str) -> Callable[..., None]:
    """The step function of ``rule``."""
    if rule not in MODULES:
        raise KeyError(f"no rule named {rule!r}; the rules are {', '.join(MODULES)}")
    return getattr(importlib.import_module(f"dpsim.steps.{MODULES[rule]}"), rule)


def call(
    rule: str,
    config: Mapping[str, Any],
    inputs: Files,
    outputs: Files,
    wildcards: Mapping[str, Any] | None = None,
    **params: Any,
) -> None:
    """Run ``rule``'s step in this process on a validated ``config``, as a job of the workflow
    would run it: with the config keys the rule passes (:mod:`dpsim.steps.keys`) for those
    ``wildcards`` (values may be numbers), the named ``inputs`` and ``outputs``, and the rule's
    other ``params``."""
    named = {k: str(v) for k, v in (wildcards or {}).items()}
    settings = keys.settings(rule, config, named) if rule in keys.RULES else {}
    step(rule)(settings, inputs, outputs, **params)
