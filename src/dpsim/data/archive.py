"""Safe extraction of tar archives: every member is checked before anything is written.

:func:`safe_extract` refuses absolute names, ``..`` components, links leaving the destination and
devices, extracts into a temporary folder and moves the result into place only when everything was
extracted (see its docstring for the exact rules). Python 3.11.7's ``tarfile`` data filter is not
enough on its own: it strips a leading ``/`` silently instead of refusing, raises only after earlier
members were written, and predates fixes for known bypasses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["ArchiveError", "safe_extract"]

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
"""Bytes copied per step while extracting and while reading the stream to its end (1 MiB)."""

MAX_SYMLINK_DEPTH = 40
"""Symlinks followed while resolving one link target in an archive before calling it a loop."""

_DRIVE = re.compile(r"^[A-Za-z]:")
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


def _describe(err: BaseException) -> str:
    """A short description of an exception that names its type when its text is empty."""
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class ArchiveError(ValueError):
    """An archive is corrupt, truncated, or holds a member that must not be extracted.

    Attributes:
        archive: The archive file.
        member: The offending member's name, when one member is to blame.
        reason: What is wrong, without the advice the message ends with (for callers that act
            on the archive themselves, e.g. move it aside and download it again).
    """

    def __init__(
        self,
        message: str,
        *,
        archive: Path | None = None,
        member: str | None = None,
        reason: str = "",
    ):
        super().__init__(message)
        self.archive = archive
        self.member = member
        self.reason = reason or message


_Kind = Literal["dir", "file", "symlink", "hardlink"]


@dataclass(frozen=True)
class _Entry:
    """A validated archive member: its normalised path parts, kind and member header."""

    parts: tuple[str, ...]
    kind: _Kind
    member: tarfile.TarInfo
    source: tuple[str, ...] = ()  # a hard link's target, as path parts

    @property
    def name(self) -> str:
        return "/".join(self.parts)


def safe_extract(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    allowed_prefixes: Sequence[str] | None = None,
) -> list[str]:
    """Extract a tar archive (any compression tarfile reads) only if every member is safe.

    Every member is checked before anything is written. Refused: absolute names (leading ``/``
    or a drive letter), names with a ``..`` component or a backslash, symlinks whose target,
    followed through the archive's own symlinks, leaves the destination, hard links to anything
    but an earlier regular file of the archive, members stored beneath a symlink or a file of
    the archive, names that occur twice (other than directories), device, FIFO and unknown
    members, and with ``allowed_prefixes`` any member outside those folders. Symlinks that stay
    inside the destination (``val/a -> ../train/b``) are allowed. Files get their mode without
    setuid/setgid/sticky bits and are made readable by all; directories become 0o755 or wider.

    The members are extracted into a temporary folder on the destination's filesystem and moved
    into place only once all of them are extracted, so ``dest`` never holds a half archive:

    - ``dest`` does not exist: the temporary folder is renamed onto it (atomic).
    - ``dest`` is an existing folder: each top-level entry of the archive is renamed into it
      (atomic per entry), so several archives can share one folder (``twoafc_train.tar.gz`` with
      ``train/`` and ``twoafc_val.tar.gz`` with ``val/`` both into ``2afc/``). An entry that
      exists already is never overwritten: :class:`FileExistsError` is raised before anything is
      extracted (delete that entry to extract the archive again).

    Args:
        archive: The archive file (``.tar``, ``.tar.gz``, ``.tar.bz2``, ``.tar.xz``).
        dest: The folder to extract into.
        allowed_prefixes: If given, every member must lie in one of these folders (for example
            ``("jnd/",)``); catches an archive that is not the expected one.

    Returns:
        The names of the regular files extracted (hard links included), relative to ``dest``,
        with ``/`` separators and in archive order.

    Raises:
        ArchiveError: A member is unsafe (the message names it), or the archive is corrupt or
            truncated (it should be deleted and downloaded again). ``dest`` is left unchanged.
        FileExistsError: A top-level entry of the archive already exists in ``dest``.
        FileNotFoundError: ``archive`` does not exist.
        NotADirectoryError: ``dest`` exists and is not a folder.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"Archive {archive} does not exist; download it first")
    with _open_archive(archive) as tar:
        try:
            members = tar.getmembers()
        except _READ_ERRORS as err:
            raise _corrupt(archive, err) from err
        entries = _validate(members, archive, allowed_prefixes)
        tops = sorted({entry.parts[0] for entry in entries})
        _check_free(dest, tops, archive)
        log.info("Extracting %s (%d members) into %s", archive, len(entries), dest)
        workdir = dest if dest.is_dir() else dest.parent
        workdir.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{archive.name}.extracting-", dir=workdir))
        try:
            files = _extract_all(tar, entries, temp, archive)
            _read_to_end(tar, archive)
            _install(temp, dest, tops, archive)
        finally:
            shutil.rmtree(temp, ignore_errors=True)  # gone already when renamed onto dest
    log.info("Extracted %d files from %s into %s", len(files), archive.name, dest)
    return files


def _open_archive(archive: Path) -> tarfile.TarFile:
    """Open a tar archive of any compression, turning read errors into :class:`ArchiveError`."""
    try:
        return tarfile.open(archive, "r:*")
    except _READ_ERRORS as err:
        raise _corrupt(archive, err) from err


def _corrupt(archive: Path, detail: object) -> ArchiveError:
    """The error for an archive that cannot be read to the end."""
    text = _describe(detail) if isinstance(detail, BaseException) else str(detail)
    detail = " ".join(text.split())  # tarfile's messages can span lines
    reason = f"{archive} is corrupt or truncated ({detail})"
    return ArchiveError(
        f"{reason}. Nothing was extracted; delete the file and download it again.",
        archive=archive,
        reason=reason,
    )


def _refuse(archive: Path, name: str, reason: str) -> ArchiveError:
    """The error for a member that must not be extracted."""
    what = f"Refusing to extract {archive}: member {name!r} {reason}"
    return ArchiveError(
        f"{what}. Nothing was extracted; the archive is not the expected file or was tampered"
        " with: delete it and download it again from a trusted source.",
        archive=archive,
        member=name,
        reason=what,
    )


def _member_parts(name: str, archive: Path, member: str) -> tuple[str, ...]:
    """Split a member or hard-link name into path parts, refusing anything that could escape.

    Args:
        name: The name to check (a member's name or a hard link's target).
        archive: The archive, for the error message.
        member: The member the name belongs to, for the error message.

    Returns:
        The parts without empty and ``.`` components (``()`` for the archive root).
    """
    if name.startswith("/") or _DRIVE.match(name):
        raise _refuse(archive, member, f"uses an absolute path ({name!r})")
    if "\\" in name:
        raise _refuse(archive, member, f"contains a backslash ({name!r})")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise _refuse(archive, member, f"has a '..' component ({name!r})")
    return parts


def _member_kind(member: tarfile.TarInfo, archive: Path) -> _Kind:
    """The kind of a member, refusing devices, FIFOs and unknown types."""
    if member.isreg():
        return "file"
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.ischr():
        raise _refuse(archive, member.name, "is a character device")
    if member.isblk():
        raise _refuse(archive, member.name, "is a block device")
    if member.isfifo():
        raise _refuse(archive, member.name, "is a FIFO")
    raise _refuse(archive, member.name, f"has the unsupported type {member.type!r}")


def _under_prefix(parts: tuple[str, ...], kind: _Kind, prefixes: Iterable[tuple[str, ...]]) -> bool:
    """Whether a member lies inside an allowed folder (or is a folder leading to one)."""
    for prefix in prefixes:
        if parts[: len(prefix)] == prefix:
            return True
        if kind == "dir" and prefix[: len(parts)] == parts:
            return True
    return False


def _validate(
    members: Sequence[tarfile.TarInfo], archive: Path, allowed_prefixes: Sequence[str] | None
) -> list[_Entry]:
    """Check every member; return the members to extract, in archive order.

    Raises:
        ArchiveError: Naming the first unsafe member.
    """
    prefixes = None
    if allowed_prefixes is not None:
        prefixes = [_member_parts(p, archive, p) for p in allowed_prefixes]
    entries: list[_Entry] = []
    kinds: dict[tuple[str, ...], _Kind] = {}
    for member in members:
        parts = _member_parts(member.name, archive, member.name)
        kind = _member_kind(member, archive)
        if not parts:
            if kind == "dir":
                continue  # "./": the destination itself
            raise _refuse(archive, member.name, "has an empty name")
        if prefixes is not None and not _under_prefix(parts, kind, prefixes):
            allowed = ", ".join(repr(p) for p in allowed_prefixes or ())
            raise _refuse(archive, member.name, f"lies outside the expected folders ({allowed})")
        if parts in kinds and not (kind == "dir" and kinds[parts] == "dir"):
            raise _refuse(archive, member.name, "occurs more than once")
        source: tuple[str, ...] = ()
        if kind == "hardlink":
            source = _member_parts(member.linkname, archive, member.name)
            if kinds.get(source) not in ("file", "hardlink"):
                raise _refuse(
                    archive,
                    member.name,
                    f"is a hard link to {member.linkname!r}, which is not an earlier file of"
                    " the archive",
                )
        kinds[parts] = kind
        entries.append(_Entry(parts, kind, member, source))
    symlinks = {e.parts: e.member.linkname for e in entries if e.kind == "symlink"}
    for entry in entries:
        _check_parents(entry, kinds, archive)
        if entry.kind == "symlink":
            _check_symlink(entry, symlinks, archive)
    return entries


def _check_parents(entry: _Entry, kinds: dict[tuple[str, ...], _Kind], archive: Path) -> None:
    """Refuse a member stored beneath a symlink or a file of the archive (it would be written
    through the link, or fail halfway)."""
    for depth in range(1, len(entry.parts)):
        parent = entry.parts[:depth]
        if kinds.get(parent, "dir") != "dir":
            raise _refuse(
                archive,
                entry.member.name,
                f"lies beneath {'/'.join(parent)!r}, which is a {kinds[parent]}, not a folder",
            )


def _check_symlink(entry: _Entry, symlinks: dict[tuple[str, ...], str], archive: Path) -> None:
    """Refuse a symlink whose target, resolved through the archive's symlinks, leaves ``dest``."""
    target = entry.member.linkname
    if not target:
        raise _refuse(archive, entry.member.name, "is a symlink with an empty target")
    if target.startswith("/") or _DRIVE.match(target):
        raise _refuse(archive, entry.member.name, f"is a symlink to an absolute path ({target!r})")
    if _resolve(entry.parts[:-1], target, symlinks, archive, entry.member.name) is None:
        raise _refuse(
            archive, entry.member.name, f"is a symlink to {target!r}, outside the destination"
        )


def _resolve(
    base: tuple[str, ...],
    target: str,
    symlinks: dict[tuple[str, ...], str],
    archive: Path,
    member: str,
    depth: int = 0,
) -> tuple[str, ...] | None:
    """Resolve a link target the way the kernel would once the archive is extracted.

    ``..`` is applied to the real location reached so far, after following any symlink of the
    archive on the way (a purely textual normalisation could be fooled by ``a -> ..``).

    Args:
        base: The folder holding the link, as parts relative to the destination.
        target: The link's (relative) target.
        symlinks: Every symlink of the archive: parts -> target.
        archive: For error messages.
        member: The link being checked, for error messages.
        depth: Symlinks followed so far.

    Returns:
        The resolved parts relative to the destination, or ``None`` when it leaves it.
    """
    if depth > MAX_SYMLINK_DEPTH:
        raise _refuse(archive, member, "is part of a symlink loop")
    if target.startswith("/") or _DRIVE.match(target):
        return None
    path = list(base)
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not path:
                return None
            path.pop()
            continue
        path.append(part)
        link = symlinks.get(tuple(path))
        if link is not None:
            resolved = _resolve(tuple(path[:-1]), link, symlinks, archive, member, depth + 1)
            if resolved is None:
                return None
            path = list(resolved)
    return tuple(path)


def _check_free(dest: Path, tops: Sequence[str], archive: Path) -> None:
    """Refuse early (before extracting) when ``dest`` already holds a top-level entry."""
    if not dest.exists():
        if dest.is_symlink():
            raise NotADirectoryError(f"{dest} is a broken symlink; fix or remove it")
        return
    if not dest.is_dir():
        raise NotADirectoryError(f"Cannot extract {archive} into {dest}: it is not a folder")
    for top in tops:
        if os.path.lexists(dest / top):
            raise FileExistsError(
                f"Cannot extract {archive} into {dest}: {dest / top} already exists (the archive"
                f" was probably extracted before). Delete {dest / top} to extract it again."
            )


def _file_mode(mode: int) -> int:
    """Permission bits for an extracted file: no setuid/setgid/sticky, readable by all."""
    return (mode & 0o777) | 0o644


def _extract_all(
    tar: tarfile.TarFile, entries: Sequence[_Entry], root: Path, archive: Path
) -> list[str]:
    """Write the validated members under ``root``.

    Returns:
        The names of the regular files written (hard links included).
    """
    files: list[str] = []
    for entry in entries:
        target = root.joinpath(*entry.parts)
        if entry.kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
            target.chmod((entry.member.mode & 0o777) | 0o755)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.kind == "symlink":
            os.symlink(entry.member.linkname, target)
            continue
        if entry.kind == "file":
            _write_member(tar, entry, target, archive)
        else:  # a hard link to an earlier file: copied, so no two paths share an inode
            shutil.copyfile(root.joinpath(*entry.source), target)
            target.chmod(_file_mode(entry.member.mode))
        files.append(entry.name)
    return files


def _write_member(tar: tarfile.TarFile, entry: _Entry, target: Path, archive: Path) -> None:
    """Copy one regular member to ``target`` (a new file), checking that all of it was read.

    Raises:
        ArchiveError: The archive could not be read to the end of this member.
    """
    try:
        source = tar.extractfile(entry.member)
    except _READ_ERRORS as err:
        raise _corrupt(archive, err) from err
    if source is None:
        raise _corrupt(archive, f"member {entry.name!r} has no data")
    copied = 0
    with source, open(target, "xb") as out:  # "x": never write through something existing
        while True:
            try:
                chunk = source.read(CHUNK_SIZE)
            except _READ_ERRORS as err:
                raise _corrupt(archive, f"while reading {entry.name!r}: {_describe(err)}") from err
            if not chunk:
                break
            out.write(chunk)
            copied += len(chunk)
    if copied != entry.member.size:
        raise _corrupt(archive, f"{entry.name!r} ends after {copied} of {entry.member.size} bytes")
    target.chmod(_file_mode(entry.member.mode))
    with contextlib.suppress(OSError, OverflowError, ValueError):  # odd timestamps: keep going
        os.utime(target, (entry.member.mtime, entry.member.mtime))


def _read_to_end(tar: tarfile.TarFile, archive: Path) -> None:
    """Read the (decompressed) stream to its end, so that gzip / xz / bz2 check their trailer
    (CRC, length): tarfile stops at the end-of-archive block and would never notice a corrupt
    or cut trailer.

    Raises:
        ArchiveError: The compressed stream is corrupt or truncated.
    """
    try:
        while tar.fileobj is not None and tar.fileobj.read(CHUNK_SIZE):
            pass
    except _READ_ERRORS as err:
        raise _corrupt(archive, err) from err


def _install(temp: Path, dest: Path, tops: Sequence[str], archive: Path) -> None:
    """Move the extracted tree into ``dest``: the whole folder if ``dest`` is new, else each
    top-level entry, undoing the moves already done if one fails."""
    if not os.path.lexists(dest):
        temp.chmod(0o755)
        os.rename(temp, dest)
        return
    moved: list[str] = []
    try:
        for top in tops:
            _check_free(dest, [top], archive)  # again: something may have appeared meanwhile
            os.rename(temp / top, dest / top)
            moved.append(top)
    except BaseException:
        for top in reversed(moved):
            try:
                os.rename(dest / top, temp / top)
            except OSError as err:
                log.error("Could not undo the extraction of %s: %s", dest / top, err)
        raise
