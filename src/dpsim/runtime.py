"""Process set-up shared by workflow scripts and the command line: logging, threads, device."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import torch

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
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its kernels
    return choice


def configure_threads(threads: int) -> None:
    """Limit torch's CPU threads to the job's declared ``threads``."""
    torch.set_num_threads(max(1, int(threads)))


def start_job(log_file: str | Path, threads: int = 1) -> None:
    """Set up a workflow job: everything it prints (logging, tqdm, tracebacks) goes to ``log_file``.

    The process's stdout and stderr file descriptors are redirected, so output of C extensions and
    an uncaught exception's traceback also land in the rule's log.
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
    log.info("job started: pid %d, %d thread(s)", os.getpid(), threads)
