"""Getting BAPPS onto disk: download and extract the archives, or check a copy placed by hand.

``bapps.source: download`` fetches ``{base_url}/{archive}.tar.gz`` (mirrors tried in turn, resumed
after interruptions, see :mod:`dpsim.data.download`) into ``{root}/archives/`` and extracts them as
the maintainers' script does: ``jnd.tar.gz`` into ``{root}/dataset/``, ``twoafc_train.tar.gz``
and ``twoafc_val.tar.gz`` into ``{root}/dataset/2afc/``. Each extracted archive leaves a marker
with its sha256, so a later run neither downloads nor extracts it again. Offline, the first
archive fails within seconds with the manual steps.
"""

from __future__ import annotations

import json
import logging
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


def archive_urls(name: str, base_url: str, mirrors: list[str]) -> list[str]:
    """The URL of archive ``name`` under the base URL and under every mirror, in that order."""
    return [f"{base.rstrip('/')}/{name}.tar.gz" for base in (base_url, *mirrors)]


def manual_steps(section: dict, root: Path) -> str:
    """What a user without network access can do instead."""
    names = ", ".join(f"{n}.tar.gz" for n in section["archives"])
    return (
        f"To place BAPPS by hand: download {names} from {section['base_url']}/ on a machine with "
        f"internet access and copy them into {root / 'archives'}/ (the next run extracts them), "
        f"or extract them yourself so that {root / 'dataset' / '2afc' / 'val'} exists and set "
        f"bapps.source: local with bapps.path: {root / 'dataset'}. Without BAPPS, keep "
        "bapps.source: fixture (synthetic judgments)."
    )


def fetch_archive(name: str, section: dict, root: Path) -> dict:
    """Download (unless present) and extract (unless done) one archive; returns its record."""
    archive_file = root / "archives" / f"{name}.tar.gz"
    result = download.download_file(
        archive_urls(name, section["base_url"], section["mirrors"]),
        archive_file,
        timeout=float(section["timeout_s"]),
        retries=int(section["retries"]),
        manual_hint=manual_steps(section, root),
    )
    record = {
        "file": str(archive_file),
        "url": result.url,
        "bytes": result.size,
        "sha256": result.sha256,
    }
    sub, prefix = ARCHIVE_LAYOUT[name]
    dataset = root / "dataset"
    target = dataset / sub if sub else dataset
    marker = dataset / f".{name}.extracted.json"
    if marker.is_file() and json.loads(marker.read_text()).get("sha256") == result.sha256:
        log.info("%s already extracted (marker %s)", archive_file.name, marker)
        return record
    stale = target / prefix
    if stale.exists():  # left by an extraction of another archive version: ours to replace
        log.warning("removing %s before extracting %s again", stale, archive_file.name)
        shutil.rmtree(stale)
    target.mkdir(parents=True, exist_ok=True)
    archive.safe_extract(archive_file, target, allowed_prefixes=[f"{prefix}/"])
    io.write_json(record, marker)
    return record


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
