"""Getting BAPPS onto disk: download and extract the archives, or check a copy placed by hand.

``bapps.source: download`` fetches ``{base_url}/{archive}.tar.gz`` (mirrors tried in turn, resumed
after interruptions, see :mod:`dpsim.data.download`) into ``{root}/archives/`` and extracts them as
the maintainers' script does: ``jnd.tar.gz`` into ``{root}/dataset/``, ``twoafc_train.tar.gz``
and ``twoafc_val.tar.gz`` into ``{root}/dataset/2afc/``. Each extracted archive leaves a marker
with its sha256, so a later run neither downloads nor extracts it again. Offline, the first
archive fails within seconds with the manual steps (a host that drops packets: 2 x
``connect_timeout_s`` + 1 s).

Every archive is checked before it counts: its sha256 against ``bapps.sha256`` (when given)
before extraction, every member by :func:`dpsim.data.archive.safe_extract`, and afterwards that
it holds what its kind promises (:data:`ARCHIVE_CONTENT`: at least one subset, each with all its
parts and items). An archive that fails is moved aside to ``NAME.tar.gz.rejected`` (replacing an
older rejected copy, so disk use stays bounded) and its extracted files are removed; one that was
already in ``archives/`` (left by an earlier run or placed by hand) is then downloaded again,
once; one downloaded in this run is an error naming its URL, and the next run downloads again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from dpsim import io
from dpsim.data import archive, bapps, download

log = logging.getLogger(__name__)

#: Folder (under the dataset root) each archive is extracted into, and the member prefix it holds.
ARCHIVE_LAYOUT: dict[str, tuple[str, str]] = {
    "twoafc_train": ("2afc", "train"),
    "twoafc_val": ("2afc", "val"),
    "jnd": ("", "jnd"),
}

#: The kind and split of the subsets each archive must yield (under the dataset root).
ARCHIVE_CONTENT: dict[str, tuple[str, str]] = {
    "twoafc_train": ("2afc", "train"),
    "twoafc_val": ("2afc", "val"),
    "jnd": ("jnd", "val"),
}

REJECTED_SUFFIX = ".rejected"
"""Appended to the name of an archive that failed a check when it is moved aside."""


class ArchiveRejectedError(bapps.BappsError):
    """An archive failed a check and was moved aside.

    Attributes:
        archive: Where the archive was (``{root}/archives/NAME.tar.gz``).
        url: The URL it was downloaded from in this call; ``None`` when it was already on disk.
        moved_to: Where it is now.
    """

    def __init__(self, message: str, *, archive: Path, url: str | None, moved_to: Path) -> None:
        super().__init__(message)
        self.archive = archive
        self.url = url
        self.moved_to = moved_to


def archive_urls(name: str, base_url: str, mirrors: list[str]) -> list[str]:
    """The URL of archive ``name`` under the base URL and under every mirror, in that order."""
    return [f"{base.rstrip('/')}/{name}.tar.gz" for base in (base_url, *mirrors)]


def manual_steps(section: dict, root: Path) -> str:
    """What a user without network access can do instead."""
    names = ", ".join(f"{n}.tar.gz" for n in section["archives"])
    return (
        f"To place BAPPS by hand: download {names} from {section['base_url'].rstrip('/')}/ on a "
        f"machine with internet access and copy them into {root / 'archives'}/ (the next run "
        f"extracts them), or extract them yourself so that {root / 'dataset' / '2afc' / 'val'} "
        f"exists and set bapps.source: local with bapps.path: {root / 'dataset'}. Without BAPPS, "
        "keep bapps.source: fixture (synthetic judgments)."
    )


def fetch_archive(name: str, section: dict, root: Path) -> dict:
    """Download (unless present) and extract (unless done) one archive; returns its record.

    An archive already on disk that fails a check is moved aside and downloaded again, once (see
    the module docstring).

    Raises:
        ArchiveRejectedError: The archive downloaded in this call failed a check.
        download.DownloadError: No URL delivered the archive.
    """
    try:
        return _fetch_and_extract(name, section, root)
    except ArchiveRejectedError as rejected:
        if rejected.url is not None:
            raise
        log.warning("%s Downloading it again.", rejected)
        return _fetch_and_extract(name, section, root)


def _fetch_and_extract(name: str, section: dict, root: Path) -> dict:
    """One pass of :func:`fetch_archive`: download unless present, check, extract unless done."""
    archive_file = root / "archives" / f"{name}.tar.gz"
    result = download.download_file(
        archive_urls(name, section["base_url"], section["mirrors"]),
        archive_file,
        timeout=float(section["timeout_s"]),
        connect_timeout=float(section["connect_timeout_s"]),
        retries=int(section["retries"]),
        manual_hint=manual_steps(section, root),
    )
    expected = (section.get("sha256") or {}).get(name)
    record = {
        "file": str(archive_file),
        "url": result.url,
        "bytes": result.size,
        "sha256": result.sha256,
        "sha256_expected": expected,
    }
    if expected is not None and result.sha256 != expected.lower():
        raise _reject(
            archive_file,
            result.url,
            f"its sha256 is {result.sha256}, but bapps.sha256.{name} expects {expected}",
            fix=f"If the archive changed on purpose, set bapps.sha256.{name} to its new sha256",
        )
    sub, prefix = ARCHIVE_LAYOUT[name]
    dataset = root / "dataset"
    target = dataset / sub if sub else dataset
    marker = dataset / f".{name}.extracted.json"
    if marker.is_file() and json.loads(marker.read_text()).get("sha256") == result.sha256:
        log.info("%s already extracted (marker %s)", archive_file.name, marker)
        return record
    extracted = target / prefix
    if extracted.exists():  # left by an extraction of another archive version: ours to replace
        log.warning("removing %s before extracting %s again", extracted, archive_file.name)
        shutil.rmtree(extracted)
    target.mkdir(parents=True, exist_ok=True)
    try:
        archive.safe_extract(archive_file, target, allowed_prefixes=[f"{prefix}/"])
        check_content(name, dataset)
    except (archive.ArchiveError, bapps.BappsError) as error:
        shutil.rmtree(extracted, ignore_errors=True)
        reason = error.reason if isinstance(error, archive.ArchiveError) else str(error)
        raise _reject(archive_file, result.url, reason) from error
    io.write_json(record, marker)
    return record


def check_content(name: str, dataset: Path) -> list[bapps.Subset]:
    """The subsets archive ``name`` yielded under ``dataset``; raises unless it yielded what its
    kind promises (:data:`ARCHIVE_CONTENT`): at least one subset, each complete and non-empty.

    Raises:
        bapps.BappsError: Naming what is missing.
    """
    kind, split = ARCHIVE_CONTENT[name]
    subsets = bapps.split_subsets(dataset, kind, split)
    if not subsets:
        image_parts, label_part = bapps.PARTS[kind]
        parts = ",".join((*image_parts, label_part))
        raise bapps.BappsError(
            f"it holds no {kind} {split} subset (expected {dataset / kind / split}/<subset>/"
            f"{{{parts}}}/ after extraction)"
        )
    return subsets


def _reject(
    archive_file: Path, url: str | None, reason: str, fix: str = ""
) -> ArchiveRejectedError:
    """Move a failed archive aside and describe it: what is wrong, where it came from, what next."""
    moved_to = archive_file.with_name(archive_file.name + REJECTED_SUFFIX)
    os.replace(archive_file, moved_to)
    origin = f"downloaded from {url}" if url else "already in the archives folder"
    message = (
        f"BAPPS archive {archive_file.name} ({origin}) was rejected: {reason}. It was moved to "
        f"{moved_to} (delete it once you no longer need it)."
    )
    if url:
        message += (
            " The next run downloads it again; if the server keeps sending a bad file, add a "
            "mirror (bapps.mirrors) or place a good copy in the archives folder by hand."
        )
    if fix:
        message += f" {fix}."
    return ArchiveRejectedError(message, archive=archive_file, url=url, moved_to=moved_to)


def fetch_bapps(section: dict) -> dict:
    """Download, extract and verify BAPPS as ``section`` (the config's ``bapps``) says; manifest."""
    root = Path(section["root"])
    records = {name: fetch_archive(name, section, root) for name in section["archives"]}
    return verified_manifest(root / "dataset", section, source="download", archives=records)


def verified_manifest(dataset: Path, section: dict, **provenance: object) -> dict:
    """Scan a real BAPPS tree, check the published counts if asked, and describe it."""
    subsets = bapps.scan(dataset)
    if section["check_counts"] and "twoafc_val" in section.get("archives", ["twoafc_val"]):
        bapps.check_real_counts(subsets)
    return bapps.manifest(dataset, subsets, synthetic_judgments=False, **provenance)
