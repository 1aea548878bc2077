"""What a writer records about each intermediate file, and the check its readers make.

Later jobs read what earlier jobs wrote: pool shards, feature caches, packed BAPPS arrays. A file
cut short (a full disk, an interrupted copy) or changed in place would otherwise end in an error
that names neither the file nor the fix (``zipfile.BadZipFile``), or go unseen: Snakemake follows
a ``directory()`` output by the folder's own timestamp, not by the files in it. So each writer
records every file it finishes (:func:`file_record`: name, size in bytes, sha256) in the folder's
manifest (a pool draw's ``manifest.json``, a BAPPS cache's ``index.json``) or, for a lone file, in
``<file>.record.json`` beside it (feature caches: :func:`write_record`). Readers compare:

- the size, always: one ``stat``. The workflow also compares every recorded size when it starts
  (:func:`stop_if_corrupt`, called by ``rules/common.smk``), before any job runs: Snakemake deletes
  a job's previous outputs when the job starts, so a job that fails on a corrupt input takes its
  valid outputs with it;
- the sha256 where the reader reads the whole file anyway (pool shards, feature caches). On the
  2-core development machine (``python benchmarks/run.py --only integrity``) sha256 runs at about
  1.5 GB/s: a default-config pool shard (1,024 triplets, 38 MB) loads from the page cache in
  14-19 ms, and in 38-44 ms with the check; a feature cache (9.5 MB) in 3-4 ms, and 10-12 ms.
  That is 2.3 to 3.5 times a load from the page cache (the hash reads the file once more), and
  about 25 ms per 38 MB, next to jobs that then spend seconds to minutes in network passes;
- not the sha256 of the memory-mapped BAPPS arrays, of which training reads a few rows at a time.

A difference raises :class:`CorruptIntermediateError`: it names the file, what its writer
recorded and what is there, the rule that writes it and the fix, which is to delete it and run
snakemake again. The workflow's default target lists every file the workflow writes, so that
run rebuilds the file and everything made from it.

Files written before records existed (a feature cache without its record, a pool manifest without
sizes) are read as before and checked against what their writer did record (a pool shard's
sha256), though not at start-up; a file that cannot be read at all is reported the same way.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpsim import io
from dpsim.data.download import sha256_file

__all__ = [
    "RECORD_SUFFIX",
    "CorruptIntermediateError",
    "Finding",
    "check_file",
    "check_sizes",
    "file_record",
    "readable",
    "reading",
    "stop_if_corrupt",
    "write_record",
]

#: Suffix of the record beside a lone intermediate file: ``x.npz`` -> ``x.npz.record.json``.
RECORD_SUFFIX = ".record.json"

#: Manifests that list the records of a folder's files, and the key of that list: a pool draw
#: (``dpsim.data.pool``) and a packed BAPPS cache (``dpsim.data.bapps``).
FOLDER_MANIFESTS: dict[str, str] = {"manifest.json": "shards", "index.json": "files"}

#: What reading a damaged ``.npz`` / ``.npy`` / JSON file raises (numpy, zipfile, json).
READ_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    ValueError,
    OSError,
    EOFError,
    KeyError,
)


@dataclass(frozen=True)
class Finding:
    """One intermediate file that differs from its record: what differs, who rebuilds it."""

    path: str
    problem: str
    rule: str = ""
    rebuild: str = ""

    def sentence(self) -> str:
        """The finding with its fix, as one sentence for an error message."""
        writer = f" written by the rule {self.rule}" if self.rule else ""
        target = Path(self.rebuild or self.path).absolute()
        return (
            f"{self.path} is corrupt: {self.problem}. It is an intermediate file{writer}: delete "
            f"{target} and run snakemake again, which rebuilds it and everything made from it"
        )


class CorruptIntermediateError(ValueError):
    """Intermediate files that differ from what their writer recorded, or cannot be read.

    ``findings`` holds one :class:`Finding` per file; the message names each file, what was
    recorded and what was found, the rule that writes it and what to delete before a rerun.
    """

    def __init__(self, findings: Sequence[Finding]) -> None:
        if not findings:
            raise ValueError("CorruptIntermediateError needs at least one finding")
        self.findings = tuple(findings)
        if len(self.findings) == 1:
            message = self.findings[0].sentence() + "."
        else:
            lines = "\n".join(f"- {finding.sentence()}." for finding in self.findings)
            message = f"{len(self.findings)} intermediate files are corrupt:\n{lines}"
        super().__init__(message)

    @classmethod
    def of(
        cls, path: str | Path, problem: str, *, rule: str = "", rebuild: str | Path = ""
    ) -> CorruptIntermediateError:
        """The error for one file."""
        return cls([Finding(str(path), problem, rule, str(rebuild))])


def file_record(path: str | Path) -> dict[str, Any]:
    """The record of a finished file: its name, its size in bytes and its sha256."""
    path = Path(path)
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def record_path(path: str | Path) -> Path:
    """Where the record of the lone file ``path`` lies."""
    path = Path(path)
    return path.with_name(path.name + RECORD_SUFFIX)


def write_record(path: str | Path, rule: str = "") -> None:
    """Record the finished file ``path`` (and ``rule``, the rule that writes it) beside it.

    Written after the file, atomically: a record always describes a complete file.
    """
    io.write_json({**file_record(path), "rule": rule}, record_path(path))


def check_file(
    path: str | Path,
    record: Mapping[str, Any],
    *,
    recorded_in: str | Path,
    rule: str = "",
    rebuild: str | Path = "",
    sha256: bool = True,
) -> str | None:
    """Compare the file ``path`` with its ``record`` (kept in ``recorded_in``): it must exist,
    have the recorded size (where one is recorded) and, with ``sha256``, the recorded sha256.

    Returns the sha256 it computed (None without ``sha256``); raises
    :class:`CorruptIntermediateError` naming ``rule`` and ``rebuild`` (what to delete; default
    ``path``) on a difference.
    """
    path = Path(path)

    def corrupt(problem: str) -> CorruptIntermediateError:
        return CorruptIntermediateError.of(
            path, f"{problem} (in {recorded_in})", rule=rule, rebuild=rebuild
        )

    if not path.is_file():
        raise corrupt("the file is missing, though its writer recorded it")
    expected = record.get("bytes")
    found = path.stat().st_size
    if expected is not None and found != expected:
        raise corrupt(f"{found:,} bytes where its writer recorded {expected:,}")
    if not sha256:
        return None
    digest = sha256_file(path)
    recorded = record.get("sha256", digest)
    if digest != recorded:
        raise corrupt(f"sha256 {digest[:12]}... where its writer recorded {recorded[:12]}...")
    return digest


@contextlib.contextmanager
def reading(path: str | Path, *, sha256: bool = True) -> Iterator[str | None]:
    """Check the lone file ``path`` against its record (:func:`write_record`), then let the
    block read it: yields the file's sha256 (with ``sha256``), and turns the block's reading
    errors into :class:`CorruptIntermediateError` (:func:`readable`).

    A file without a record (written before records existed) is not compared, but still hashed
    and its reading errors still named.
    """
    record = _read_record(path)
    if record is None:
        digest = sha256_file(path) if sha256 and Path(path).is_file() else None
        rule = ""
    else:
        rule = record.get("rule", "")
        digest = check_file(path, record, recorded_in=record_path(path), rule=rule, sha256=sha256)
    with readable(path, rule=rule):
        yield digest


@contextlib.contextmanager
def readable(path: str | Path, *, rule: str = "", rebuild: str | Path = "") -> Iterator[None]:
    """Turn an error of reading ``path`` (truncated zip, bad CRC, short array, missing array)
    into :class:`CorruptIntermediateError`, so that a file the records could not vouch for (or one
    damaged in a way the size does not show) is still named with its fix."""
    try:
        yield
    except (CorruptIntermediateError, FileNotFoundError):
        raise
    except READ_ERRORS as error:
        problem = f"it cannot be read ({type(error).__name__}: {error})"
        raise CorruptIntermediateError.of(path, problem, rule=rule, rebuild=rebuild) from error


def check_sizes(paths: Iterable[str | Path]) -> list[Finding]:
    """Compare the size of every recorded file under ``paths`` with its record (stat calls only).

    A path is a lone file with its record beside it, or a folder with one of the manifests of
    :data:`FOLDER_MANIFESTS`. Paths that do not exist yet, and files without a record, are
    skipped; a folder without its manifest is a finding (a finished folder always has one).
    """
    findings: list[Finding] = []
    for path in map(Path, paths):
        if path.is_dir():
            findings += _folder_findings(path)
        elif path.is_file():
            record = _read_record(path)
            if record is not None:
                findings += _size_findings(
                    path, record, record_path(path), record.get("rule", ""), path
                )
    return findings


def stop_if_corrupt(paths: Iterable[str | Path]) -> None:
    """Raise :class:`CorruptIntermediateError` listing every finding of :func:`check_sizes`."""
    findings = check_sizes(paths)
    if findings:
        raise CorruptIntermediateError(findings)


def _read_record(path: str | Path) -> dict[str, Any] | None:
    record = record_path(path)
    if not record.is_file():
        return None
    try:
        return json.loads(record.read_text())
    except (OSError, ValueError) as error:
        raise CorruptIntermediateError.of(
            record, f"it cannot be read ({type(error).__name__}: {error})", rebuild=path
        ) from error


def _folder_findings(folder: Path) -> list[Finding]:
    """Size findings of a folder intermediate against the file list of its manifest."""
    found = [name for name in FOLDER_MANIFESTS if (folder / name).is_file()]
    if not found:
        names = " or ".join(FOLDER_MANIFESTS)
        return [Finding(str(folder), f"the folder has no {names}", rebuild=str(folder))]
    manifest_path, key = folder / found[0], FOLDER_MANIFESTS[found[0]]
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as error:
        problem = f"it cannot be read ({type(error).__name__}: {error})"
        return [Finding(str(manifest_path), problem, rebuild=str(folder))]
    rule = manifest.get("rule", "")
    findings = []
    for record in manifest.get(key, []):
        path = folder / record["file"]
        findings += _size_findings(path, record, manifest_path, rule, folder)
    return findings


def _size_findings(
    path: Path, record: Mapping[str, Any], recorded_in: Path, rule: str, rebuild: Path
) -> list[Finding]:
    try:
        check_file(path, record, recorded_in=recorded_in, rule=rule, rebuild=rebuild, sha256=False)
    except CorruptIntermediateError as error:
        return list(error.findings)
    return []
