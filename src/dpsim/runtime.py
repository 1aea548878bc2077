"""Process set-up shared by workflow scripts and the command line: logging, threads, device."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

import torch

from dpsim.gpu import assign_gpu

log = logging.getLogger(__name__)


def configure_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> None:
    """Send dpsim's log records (and warnings) to ``log_file`` and to stderr."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    logging.captureWarnings(True)


def resolve_device(requested: str = "auto") -> str:
    """The torch device: ``DPSIM_DEVICE`` if set, else ``requested`` (``auto``: CUDA if any)."""
    choice = os.environ.get("DPSIM_DEVICE", requested)
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {choice!r} was requested but CUDA is not available here; "
                "set device: auto or cpu in the config (or DPSIM_DEVICE=cpu)"
            )
        # No cuDNN autotuning: measured on an H100 (scripts/gpu_job_timing.py), it cost 8-19 s
        # per tune job at the paper's sizes and saved < 0.1 s per epoch afterwards.
        torch.backends.cudnn.benchmark = False
    return choice


def configure_threads(threads: int) -> None:
    """Limit torch's CPU threads to the job's declared ``threads``."""
    torch.set_num_threads(max(1, int(threads)))


#: Where workflow jobs on one workstation coordinate their GPU slots (see :mod:`dpsim.gpu`).
GPU_SLOTS_DIR = Path(".snakemake") / "dpsim-gpu-slots"
_held_for_the_process = contextlib.ExitStack()


def seconds_since_process_start() -> float | None:
    """How long this process has run (Linux: its start time in ``/proc``, to 10 ms); None where
    the system does not say."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def start_job(log_file: str | Path, threads: int = 1, gpus: int = 0, label: str = "") -> None:
    """Set up a workflow job: everything it prints (logging, tqdm, tracebacks) goes to ``log_file``.

    The process's stdout and stderr file descriptors are redirected, so output of C extensions and
    an uncaught exception's traceback also land in the rule's log. A job that declared ``gpus``
    on a workstation gets a GPU of its own (a slot held until the process ends, even if it is
    killed); under SLURM the scheduler has already assigned one, so nothing is done there.
    """
    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the job's process
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(handle.fileno(), 1)
    os.dup2(handle.fileno(), 2)
    configure_logging()
    configure_threads(threads)
    slurm_job = os.environ.get("SLURM_JOB_ID")
    where = f", SLURM job {slurm_job}" if slurm_job else ""
    if slurm_job and "CUDA_VISIBLE_DEVICES" in os.environ:  # the GPUs SLURM assigned
        where += f", CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}"
    started = seconds_since_process_start()
    if started is not None:  # what the interpreter, Snakemake's preamble and imports took
        where += f", {started:.2f} s after the process started"
    log.info("job started: pid %d, %d thread(s)%s", os.getpid(), threads, where)
    if gpus and not slurm_job:
        slot = _held_for_the_process.enter_context(assign_gpu(GPU_SLOTS_DIR, label=label))
        if slot is not None:
            log.info("GPU slot %d: CUDA_VISIBLE_DEVICES=%s", slot.index, slot.device)
