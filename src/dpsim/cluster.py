"""Whether every SLURM job of a run fits one node of its partition, checked before submitting.

SLURM accepts a job no node can ever run and leaves it PENDING (reason ``PartitionConfig`` or
``Resources``) forever, and Snakemake waits on it without a word. A group job is where this
bites: Snakemake sums the requests of the members it runs side by side, so ten grouped pool
draws of 4 GB each ask for 40 GB. The SLURM profile runs group members one after another
(``cores: 1``: a group asks for what its largest member asks), and :func:`misfits` checks every
job and group the run will submit against the nodes of its partition (``sinfo``) at start-up,
failing at once with the rule and the setting to change.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ClusterFitError",
    "Node",
    "Request",
    "controller_answers",
    "gres_gpus",
    "misfits",
    "parse_sinfo",
    "read_nodes",
    "request_of",
]

#: sinfo's output, one line per (node, partition): name, partition (``*`` marks the default),
#: CPUs, memory in MB, generic resources, the partition's time limit.
SINFO_FORMAT = "%N|%P|%c|%m|%G|%l"
DEFAULT_PARTITION = ""


class ClusterFitError(RuntimeError):
    """A job asks for more CPUs, memory, GPUs or time than any node of its partition offers."""


@dataclass(frozen=True)
class Node:
    """What one SLURM node offers."""

    name: str
    cpus: int
    mem_mb: int
    gpus: int
    #: The partition's time limit in minutes (None: no limit).
    max_minutes: int | None = None


@dataclass(frozen=True)
class Request:
    """What one submitted job (a rule's job or a group job) asks SLURM for."""

    what: str
    partition: str
    cpus: int
    mem_mb: int
    gpus: int
    minutes: int = 0


def gres_gpus(gres: str) -> int:
    """GPUs in a node's GRES string: ``gpu:2``, ``gpu:a100:4(S:0-1)``, ``(null)`` -> 2, 4, 0."""
    total = 0
    for entry in gres.split(","):
        parts = entry.split("(")[0].split(":")
        if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def slurm_minutes(limit: str) -> int | None:
    """A SLURM time limit (``infinite``, ``D-HH:MM:SS``, ``HH:MM:SS``, ``MM:SS``) in minutes."""
    if limit in ("infinite", "UNLIMITED", "n/a", ""):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    hours, minutes, seconds = ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, *parts, 0)
    total = int(days or 0) * 1440 + hours * 60 + minutes
    return total + (1 if seconds else 0)


def parse_sinfo(text: str) -> dict[str, list[Node]]:
    """Nodes per partition from ``sinfo -h -N -o SINFO_FORMAT``; the default also under ``""``."""
    nodes: dict[str, list[Node]] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 6 or not fields[2].isdigit():
            continue
        name, partition, cpus, mem, gres, limit = fields
        memory = int(re.sub(r"\D", "", mem) or 0)
        node = Node(name, int(cpus), memory, gres_gpus(gres), slurm_minutes(limit))
        keys = [partition.rstrip("*")] + ([DEFAULT_PARTITION] if partition.endswith("*") else [])
        for key in keys:
            nodes.setdefault(key, []).append(node)
    return nodes


def controller_answers() -> bool:
    """Whether a SLURM controller answers here: ``sinfo`` lists a node that can take jobs."""
    if shutil.which("sinfo") is None:
        return False
    try:
        answer = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return answer.returncode == 0 and any(s in answer.stdout for s in ("idle", "mix", "alloc"))


def read_nodes(run: Callable[..., Any] = subprocess.run) -> dict[str, list[Node]] | None:
    """The cluster's nodes per partition, or None when ``sinfo`` is missing or fails."""
    if shutil.which("sinfo") is None:
        return None
    try:
        answer = run(
            ["sinfo", "-h", "-N", "-o", SINFO_FORMAT], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_sinfo(answer.stdout) if answer.returncode == 0 else None


def request_of(what: str, resources: Mapping[str, Any], threads: int) -> Request:
    """The request the SLURM executor makes from a job's resources (as its plugin reads them).

    CPUs: ``cpus_per_task`` when set, else the threads; memory: ``mem_mb``, or
    ``mem_mb_per_cpu`` times the CPUs; GPUs: ``gpu``, or the count in ``gres: gpu:N``.
    """
    cpus = _integer(resources.get("cpus_per_task")) or threads
    mem = _integer(resources.get("mem_mb")) or _integer(resources.get("mem_mb_per_cpu")) * cpus
    gpus = _integer(resources.get("gpu"))
    if not gpus and isinstance(resources.get("gres"), str):
        gpus = gres_gpus(resources["gres"])
    partition = resources.get("slurm_partition")
    partition = partition if isinstance(partition, str) else ""
    minutes = _integer(resources.get("runtime"))
    return Request(what, partition, max(cpus, 1), mem, gpus, minutes)


def _integer(value: Any) -> int:
    """A resource value as an int; 0 for one not known yet (``<TBD>``) or not numeric."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def misfits(requests: Iterable[Request], nodes: Mapping[str, list[Node]]) -> list[str]:
    """One line per request no node of its partition can run, saying what to change."""
    problems = []
    for request in requests:
        candidates = nodes.get(request.partition)
        label = request.partition or "(the default partition)"
        if not candidates:
            known = ", ".join(sorted(p for p in nodes if p)) or "none"
            problems.append(f"{request.what}: partition {label} has no nodes (partitions: {known})")
            continue
        if any(_fits(request, node) for node in candidates):
            continue
        best = _largest(candidates)
        short = [
            f"{need} {name} (largest node: {have})"
            for name, need, have in (
                ("CPUs", request.cpus, best.cpus),
                ("MB of memory", request.mem_mb, best.mem_mb),
                ("GPUs", request.gpus, best.gpus),
                ("minutes of runtime", request.minutes, best.max_minutes or request.minutes),
            )
            if need > have
        ] or ["a combination no single node has"]
        problems.append(f"{request.what} on partition {label} asks for {', '.join(short)}")
    return problems


def _fits(request: Request, node: Node) -> bool:
    in_time = node.max_minutes is None or request.minutes <= node.max_minutes
    return (
        in_time
        and request.cpus <= node.cpus
        and request.mem_mb <= node.mem_mb
        and request.gpus <= node.gpus
    )


def _largest(nodes: list[Node]) -> Node:
    """The most of each dimension any node has, to say by how much a request is too large."""
    limits = [n.max_minutes for n in nodes]
    return Node(
        "largest",
        max(n.cpus for n in nodes),
        max(n.mem_mb for n in nodes),
        max(n.gpus for n in nodes),
        None if None in limits else max(m for m in limits if m is not None),
    )


def raise_on_misfits(requests: Iterable[Request], nodes: Mapping[str, list[Node]]) -> None:
    """Raise :class:`ClusterFitError` listing every job that would stay pending forever."""
    problems = misfits(requests, nodes)
    if problems:
        listing = "\n  - ".join(problems)
        raise ClusterFitError(
            f"{len(problems)} SLURM job(s) ask for more than any node of their partition has, "
            f"and would stay PENDING forever:\n  - {listing}\nLower the rule's resources in "
            "profiles/slurm/config.yaml (set-resources), or pick a partition with larger nodes "
            "(default-resources: slurm_partition)."
        )
