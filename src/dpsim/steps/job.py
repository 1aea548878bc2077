"""What every step shares: its calling convention and the set-up of its process.

A step is called as ``step(settings, inputs, outputs, job=..., **params)``:

- ``settings``: the config keys its rule passes (:mod:`dpsim.steps.keys`);
- ``inputs`` / ``outputs``: the rule's named files, name -> path or list of paths;
- ``job``: the process set-up (:class:`Job`: log file, threads, GPUs); the default sets nothing
  up, so tests and scripts call steps in-process;
- ``params``: the rule's other params (paths of state files, caption folders).

:func:`run` makes that call from a Snakemake ``script:``, so each ``workflow_scripts/<rule>.py``
is one line. Nothing here imports Snakemake: the ``snakemake`` object is read by duck typing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: The config keys a step reads (see :mod:`dpsim.steps.keys`).
Settings = Mapping[str, Any]
#: A rule's named inputs or outputs: name -> path, or name -> list of paths.
Files = Mapping[str, Any]


@dataclass(frozen=True)
class Job:
    """How a step's process is set up; the default (no log) sets nothing up.

    With a ``log`` file, everything the process prints goes there, torch uses ``threads``
    threads, and a job that declared ``gpus`` on a workstation holds a GPU slot of its own
    (:func:`dpsim.runtime.start_job`).
    """

    log: str | None = None
    threads: int = 1
    gpus: int = 0
    rule: str = ""
    #: The config's ``device`` when the rule reads it: CUDA is then checked as the job starts.
    device: str | None = None

    @classmethod
    def of(cls, snakemake: Any, device: str | None = None) -> Job:
        """The set-up a Snakemake job declared (its first log file, threads, ``gpu`` resource)."""
        return cls(
            log=str(snakemake.log[0]),
            threads=int(snakemake.threads),
            gpus=int(snakemake.resources.get("gpu", 0)),
            rule=str(snakemake.rule),
            device=device,
        )

    def start(self) -> None:
        """Set up the process (nothing without a log file); fail at once without the GPU asked for.

        On a cluster the submit host may have no GPU, so a job that reads ``device`` checks
        here, where it runs, that a requested CUDA device exists, before any work.
        """
        if self.log is None:
            return
        from dpsim import runtime  # torch: only once a job really starts

        runtime.start_job(self.log, self.threads, gpus=self.gpus, label=self.rule)
        if self.device is not None:
            require_device(self.device, self.rule)


NO_JOB = Job()


class DeviceUnavailableError(RuntimeError):
    """A job's configured CUDA device does not exist where the job runs."""


def require_device(device: str, rule: str) -> None:
    """Raise :class:`DeviceUnavailableError`, with the fix, when CUDA ``device`` is absent here."""
    from dpsim.preflight import check_gpu

    check = check_gpu(device)
    if check.failed:
        where = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
        raise DeviceUnavailableError(f"rule {rule} on {where}: {check.message}")


def named_files(files: Any, what: str, rule: str) -> dict[str, Any]:
    """A Snakemake input or output list as name -> path (or list of paths); all must be named."""
    named = {
        name: [str(f) for f in value] if isinstance(value, list) else str(value)
        for name, value in files.items()
    }
    covered = sum(len(v) if isinstance(v, list) else 1 for v in named.values())
    if covered != len(files):
        raise ValueError(
            f"rule {rule}: {len(files) - covered} of its {what} files have no name; steps read "
            f"their files by name, so give every {what} entry a name in the rule"
        )
    return named


def run(snakemake: Any, step: Callable[..., None]) -> None:
    """Call ``step`` with what Snakemake gave the job (see the module docstring)."""
    params = dict(snakemake.params.items())
    settings = params.pop("settings", {})
    rule = str(snakemake.rule)
    started = time.perf_counter()
    step(
        settings,
        named_files(snakemake.input, "input", rule),
        named_files(snakemake.output, "output", rule),
        job=Job.of(snakemake, device=settings.get("device")),
        **params,
    )
    # read by dpsim.run_profile (``dpsim profile``): the step's share of the job's time
    log.info("step finished in %.3f s", time.perf_counter() - started)
