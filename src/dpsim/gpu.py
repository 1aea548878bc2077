"""One GPU per running job on a multi-GPU workstation: a slot allocator built on ``flock``.

The problem
    Snakemake treats GPUs as a counted resource (``resources: gpu=1`` with ``--resources gpu=4``):
    it never starts more GPU jobs than there are GPUs, but it does not tell a job *which* GPU to
    use. Every job would then see all GPUs, and PyTorch would put them all on ``cuda:0`` while
    the other cards idle (or run out of memory). This module hands each running job its own
    device and frees it when the job ends, however it ends.

The design: one lock file per slot, held with ``flock``
    Every slot (normally one per GPU) is a file ``gpu-<device>.lock`` in a run folder shared by
    the jobs of a workflow. A job opens the files in turn, starting at a rotating offset
    (``pid % n``, so jobs spread over the GPUs rather than all polling GPU 0 first), and takes
    the first it can lock with ``fcntl.flock(fd, LOCK_EX | LOCK_NB)``. The descriptor stays open
    for as long as the job holds the slot; closing it releases the lock. If no slot is free the
    job polls until one is, or until its timeout (:class:`SlotTimeout`).

    Why lock files with ``flock`` rather than pid files: a ``flock`` lock belongs to an open
    file description, and the kernel drops it when the last descriptor to it is closed, which
    includes the process dying for any reason (an exception, ``kill -9``, the OOM killer, a
    segfault in an extension). A killed job's slot is therefore free again at once, with no
    stale-lock detection, no pid liveness checks (which pid reuse defeats), and no cleanup step.
    Lock files are never deleted (deleting a file others may be about to lock is racy); they
    are a few bytes each. While a slot is held its file holds JSON
    ``{"pid", "label", "device", "since"}`` for diagnostics (``cat .snakemake/dpsim-gpu-slots/*``
    shows who runs where); the content is cleared on release but stays behind after a crash,
    so only the lock, never the content, says whether a slot is taken.

    Lock files are named after the device, not after the position in the list, so two jobs
    given the same GPUs in a different order still exclude each other per GPU. Listing a device
    twice (``DPSIM_GPUS=0,0,1,1``) makes two slots on it (``gpu-0.lock``, ``gpu-0.1.lock``), for
    running two small jobs per card.

How a job uses it
    Call :func:`assign_gpu` at the very start of the job, before anything touches CUDA::

        from dpsim.gpu import assign_gpu

        with assign_gpu(".snakemake/dpsim-gpu-slots", label="train ctx=color") as slot:
            import torch  # or any code that initialises CUDA, only inside the block
            device = "cuda" if slot is not None else "cpu"
            ...

    Inside the block ``CUDA_VISIBLE_DEVICES`` is the slot's device alone, so the process sees
    one GPU, ``cuda:0``. **CUDA reads ``CUDA_VISIBLE_DEVICES`` once, when it initialises** (the
    first ``torch.cuda`` call that needs the driver), so setting it later has no effect;
    :func:`assign_gpu` refuses with :class:`RuntimeError` if it finds CUDA already initialised.
    Importing torch alone does not initialise CUDA. With no GPUs configured :func:`assign_gpu`
    yields ``None`` and changes nothing (a CPU run). The workflow passes the run folder
    ``.snakemake/dpsim-gpu-slots`` (under the working directory, so each workflow directory has
    its own set of slots). :func:`gpu_slot` is the lower-level allocator without the
    environment handling.

    The devices come from :func:`available_devices`: ``DPSIM_GPUS`` (``"0,1,3"``), else
    ``CUDA_VISIBLE_DEVICES``, else the GPUs ``nvidia-smi -L`` lists. Keep the Snakemake
    ``gpu`` resource equal to the number of slots, or jobs will wait here for a slot instead of
    waiting in Snakemake's queue (harmless, but they show as running).

Limitations
    - The run folder must be on a local filesystem. ``flock`` is not reliable on some network
      filesystems (older NFS clients emulate it with POSIX locks or ignore it; some FUSE and
      SMB mounts accept the call without locking across hosts), so two jobs could get the same
      GPU. Jobs on one machine sharing a local disk are the intended case.
    - It is for workstations and single servers. On a SLURM cluster the scheduler assigns GPUs
      itself (it sets ``CUDA_VISIBLE_DEVICES`` per job through ``--gres``/``--gpus``), and a
      slot would mean nothing on another node. Do not call :func:`assign_gpu` for jobs SLURM
      runs: their ``CUDA_VISIBLE_DEVICES`` would make every job's slot ``gpu-0.lock`` in one
      shared run folder, which either serialises jobs on different nodes needlessly (where the
      network filesystem honours ``flock``) or locks nothing (where it does not).
    - A child process forked without ``exec`` (e.g. a ``fork``-started DataLoader worker)
      shares the lock descriptor, so the slot stays held until those children exit as well;
      they use the GPU too, so that is correct. ``exec``-ed children do not inherit it (Python
      opens descriptors non-inheritable).
    - The allocator does not check the GPUs are real or idle: it only keeps the jobs that use it
      from sharing one. Other users of the machine are invisible to it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["Slot", "SlotTimeout", "assign_gpu", "available_devices", "gpu_slot"]

#: Environment variable listing the GPU ids dpsim jobs may use ("0,1,3"; empty: none).
ENV_GPUS = "DPSIM_GPUS"

#: Seconds ``nvidia-smi -L`` may take before it is given up on (a hung driver must not hang us).
NVIDIA_SMI_TIMEOUT = 5.0

_NVIDIA_SMI_GPU = re.compile(r"^GPU (\d+):")
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def _split_ids(value: str) -> list[str]:
    """The non-empty, stripped entries of a comma-separated id list."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _nvidia_smi_indices() -> list[str]:
    """The GPU indices ``nvidia-smi -L`` lists, or ``[]`` if it is missing, fails or hangs."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        result = subprocess.run(
            [exe, "-L"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("nvidia-smi -L failed (%s); assuming no GPUs", exc)
        return []
    if result.returncode != 0:
        logger.warning(
            "nvidia-smi -L exited with %d (%s); assuming no GPUs",
            result.returncode,
            result.stderr.strip() or "no message",
        )
        return []
    return [
        match.group(1)
        for line in result.stdout.splitlines()
        if (match := _NVIDIA_SMI_GPU.match(line.strip()))
    ]


def available_devices(environ: Mapping[str, str] | None = None) -> list[str]:
    """The GPU ids jobs may use, one slot each, in the order they are given.

    In order of precedence:

    1. ``DPSIM_GPUS`` if set: a comma-separated list (``"0,1,3"``); empty means no GPU. This is
       the knob for keeping some GPUs free or running two jobs per GPU (``"0,0,1,1"``).
    2. ``CUDA_VISIBLE_DEVICES`` if set, as given (indices or ``GPU-...``/``MIG-...`` UUIDs);
       empty or ``-1`` means no GPU. As in CUDA, an entry ``-1`` ends the list.
    3. The indices ``nvidia-smi -L`` lists, if ``nvidia-smi`` is on ``PATH`` (given
       :data:`NVIDIA_SMI_TIMEOUT` seconds; any failure means no GPU).
    4. Otherwise none: ``[]``.

    ``environ`` defaults to ``os.environ``. Torch is deliberately not imported: asking torch
    would initialise CUDA in this process, which must not happen before a slot is chosen.
    """
    env = os.environ if environ is None else environ
    if ENV_GPUS in env:
        return _split_ids(env[ENV_GPUS])
    if "CUDA_VISIBLE_DEVICES" in env:
        ids = _split_ids(env["CUDA_VISIBLE_DEVICES"])
        if "-1" in ids:
            ids = ids[: ids.index("-1")]
        return ids
    return _nvidia_smi_indices()


@dataclass(frozen=True)
class Slot:
    """A held GPU slot: its position in the device list, the device id and its lock file."""

    index: int
    device: str
    lock_path: Path


class SlotTimeout(TimeoutError):  # noqa: N818 (a TimeoutError; the name says what timed out)
    """No GPU slot became free within the timeout; the message says who holds the slots."""


def _lock_paths(run_dir: Path, devices: Sequence[str]) -> list[Path]:
    """One lock file per slot, named after its device (``gpu-0.lock``, repeats ``gpu-0.1.lock``)."""
    seen: dict[str, int] = {}
    paths = []
    for device in devices:
        safe = _UNSAFE_NAME_CHARS.sub("_", device)
        count = seen.get(safe, 0)
        seen[safe] = count + 1
        suffix = f".{count}" if count else ""
        paths.append(run_dir / f"gpu-{safe}{suffix}.lock")
    return paths


def _try_lock(path: Path) -> int | None:
    """Open ``path`` and lock it exclusively without blocking: the descriptor, or ``None`` if held.

    Raises OSError for anything but "already locked", e.g. a filesystem without ``flock``.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return None
        raise OSError(
            exc.errno,
            f"cannot flock GPU slot file {path}: {exc.strerror}. The slot run folder must be on "
            "a local filesystem that supports flock (not NFS/SMB); pass another run folder",
        ) from exc
    return fd


def _read_holder(path: Path) -> str:
    """A short description of who holds the slot ``path``, from its diagnostic content."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "holder unknown"
    if not isinstance(info, dict):
        return "holder unknown"
    parts = [f"pid {info.get('pid', '?')}"]
    if info.get("label"):
        parts.append(f"label {info['label']!r}")
    since = info.get("since")
    if isinstance(since, int | float):
        parts.append(f"for {max(0.0, time.time() - since):.0f} s")
    return ", ".join(parts)


@contextlib.contextmanager
def gpu_slot(
    run_dir: str | Path,
    devices: Sequence[str],
    *,
    timeout: float | None = None,
    poll: float = 0.1,
    label: str = "",
) -> Iterator[Slot]:
    """Hold a free slot among ``devices`` for the duration of the ``with`` block.

    Slots are lock files under ``run_dir`` (created if missing), one per entry of ``devices``;
    a slot is held by an exclusive ``flock`` on a descriptor kept open until the block exits, so
    a process that dies releases its slot with it. The search starts at ``pid % len(devices)``
    to spread jobs over the GPUs. While no slot is free the call polls every ``poll`` seconds,
    forever if ``timeout`` is ``None``, else raising :class:`SlotTimeout` after ``timeout``
    seconds (``0``: a single try). ``label`` is written into the lock file with the pid, the
    device and the time, to say who holds what.

    This does not set ``CUDA_VISIBLE_DEVICES``; :func:`assign_gpu` does.
    """
    if not devices:
        raise ValueError(
            f"this job asked for a GPU slot but no GPU is configured (devices={list(devices)!r}). "
            f"Set {ENV_GPUS} to the GPU ids to use, e.g. {ENV_GPUS}=0,1, or run the job on CPU"
        )
    if poll <= 0:
        raise ValueError(f"poll must be a positive number of seconds, got {poll!r}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = _lock_paths(run_dir, devices)
    n = len(paths)
    start = os.getpid() % n
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    waited = False

    while True:
        for step in range(n):
            index = (start + step) % n
            fd = _try_lock(paths[index])
            if fd is None:
                continue
            slot = Slot(index=index, device=str(devices[index]), lock_path=paths[index])
            try:
                info = {"pid": os.getpid(), "label": label, "device": slot.device}
                info["since"] = time.time()
                os.ftruncate(fd, 0)
                os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
                logger.info(
                    "GPU slot %d (device %s) acquired by pid %d%s",
                    index,
                    slot.device,
                    os.getpid(),
                    f" ({label})" if label else "",
                )
                yield slot
            finally:
                # Clear the diagnostics before unlocking, so a free slot never names a holder.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                os.close(fd)  # releases the flock
                logger.debug("GPU slot %d (device %s) released", index, slot.device)
            return

        now = time.monotonic()
        if deadline is not None and now >= deadline:
            holders = "; ".join(
                f"device {devices[i]} ({paths[i].name}): {_read_holder(paths[i])}" for i in range(n)
            )
            raise SlotTimeout(
                f"no free GPU slot after {timeout:g} s: all {n} slot(s) in {run_dir} are held "
                f"[{holders}]. Wait for those jobs, raise the timeout, or give more GPUs in "
                f"{ENV_GPUS}"
            )
        if not waited:
            logger.info(
                "all %d GPU slot(s) in %s are busy; waiting%s",
                n,
                run_dir,
                "" if deadline is None else f" up to {timeout:g} s",
            )
            waited = True
        sleep = poll if deadline is None else min(poll, max(0.0, deadline - now))
        time.sleep(sleep)


def _cuda_initialized() -> bool:
    """Whether torch is imported in this process and has initialised CUDA (never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    cuda = getattr(torch, "cuda", None)
    is_initialized = getattr(cuda, "is_initialized", None)
    return bool(is_initialized()) if callable(is_initialized) else False


@contextlib.contextmanager
def assign_gpu(
    run_dir: str | Path,
    *,
    devices: Sequence[str] | None = None,
    timeout: float | None = None,
    label: str = "",
) -> Iterator[Slot | None]:
    """Give this job a GPU of its own: hold a slot and point ``CUDA_VISIBLE_DEVICES`` at it.

    **Call this before anything initialises CUDA in the process** (before the first
    ``torch.cuda`` call or tensor moved to a GPU): CUDA reads ``CUDA_VISIBLE_DEVICES`` only at
    initialisation, so a later change is silently ignored and the job would use GPU 0. If torch
    is imported and CUDA already initialised, this raises :class:`RuntimeError` rather than
    pretend.

    ``devices`` defaults to :func:`available_devices`. With no devices it yields ``None`` and
    changes nothing (the job runs on CPU). Otherwise it holds a slot from :func:`gpu_slot`
    (``timeout`` and ``label`` as there), sets ``os.environ["CUDA_VISIBLE_DEVICES"]`` to the
    slot's device, so the job sees that one GPU as ``cuda:0``, and yields the :class:`Slot`;
    on exit the old value (or its absence) is restored and the slot freed.
    """
    if devices is None:
        devices = available_devices()
    if not devices:
        logger.info("no GPU configured; running on CPU")
        yield None
        return
    if _cuda_initialized():
        raise RuntimeError(
            "assign_gpu() was called after CUDA was initialised in this process, so "
            "CUDA_VISIBLE_DEVICES can no longer choose the GPU. Call assign_gpu() at the start "
            "of the job, before the first torch.cuda call"
        )
    with gpu_slot(run_dir, devices, timeout=timeout, label=label) as slot:
        old = os.environ.get("CUDA_VISIBLE_DEVICES")
        os.environ["CUDA_VISIBLE_DEVICES"] = slot.device
        try:
            yield slot
        finally:
            if old is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = old
