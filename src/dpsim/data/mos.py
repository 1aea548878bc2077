"""Image-quality data sets with mean opinion scores (MOS): readers and pair loading.

Besides BAPPS, the study scores a metric by how well its distances between a reference image and a
distorted version of it correlate with human quality scores. This module reads such sets into one
:class:`MosSet` whatever their original layout:

- a generic CSV (:func:`read_csv_set`), the format of the offline fixture too
  (:mod:`dpsim.data.mos_fixture`);
- KADID-10k (:func:`read_kadid10k`): ``dmos.csv`` and ``images/``;
- TID2013 (:func:`read_tid2013`): ``mos_with_names.txt``, ``distorted_images/`` and
  ``reference_images/``.

Generic CSV layout (UTF-8, comma-separated, first line a header)::

    reference,distorted,mos[,distortion][,any other column]
    reference/ref_0000.png,distorted/dist_00000.png,3.6125,blur

Image paths are relative to the CSV's folder (absolute paths are allowed). ``mos`` must be a finite
number. Other column names can be chosen with ``columns``; a ``distortion`` column, if present,
gives each row's distortion label; extra columns are ignored. Each (reference, distorted) pair may
appear once. Every error names the CSV file, the row as a spreadsheet shows it (the header is row
1) and the field.

Images are decoded by :func:`dpsim.data.image_file.read_rgb` (16-bit images scaled to 8 bit,
transparent pixels composited on black, one warning per call) and resized with PIL's bicubic
filter (antialiased when shrinking) by :func:`load_pair_images`, in one of :data:`RESIZE_MODES`:
the short side to the scoring size keeping the aspect ratio (the default), that and a centre crop
to a square, or a squash to a square.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from dpsim.data import image_file

log = logging.getLogger(__name__)

#: The formats :func:`read_mos_set` understands.
FORMATS: tuple[str, ...] = ("csv", "kadid10k", "tid2013", "fixture")
#: Default column names of the generic CSV (reference, distorted, score).
DEFAULT_COLUMNS: tuple[str, str, str] = ("reference", "distorted", "mos")
#: Optional column of the generic CSV that holds each row's distortion label.
DISTORTION_COLUMN = "distortion"
#: File names of the fixture layout (written by :mod:`dpsim.data.mos_fixture`).
FIXTURE_CSV = "mos.csv"
FIXTURE_MANIFEST = "manifest.json"
#: How images are brought to the scoring size (config ``mos.resize``), see :func:`fit_image`.
RESIZE_MODES: tuple[str, ...] = ("keep_aspect", "center_crop", "squash")
#: How many missing files an error message lists before it only counts the rest.
MAX_LISTED_MISSING = 5

_KADID_NAME = re.compile(r"^i\d+_(\d+)_(\d+)\.\w+$", re.IGNORECASE)
_TID_NAME = re.compile(r"^(i\d+)_(\d+)_(\d+)\.\w+$", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class MosSet:
    """(reference, distorted) image pairs with one quality score each.

    ``mos`` is in the set's own units and direction: ``higher_is_better`` says whether a higher
    score means better quality (MOS) or worse (DMOS-style). ``distortion`` holds one label per row
    (``""`` where the set gives none; an empty sequence is expanded to that). ``synthetic`` is
    true for the offline fixture, whose scores come from a simulated observer, not from people.
    """

    name: str
    root: Path
    reference: tuple[Path, ...]
    distorted: tuple[Path, ...]
    mos: np.ndarray
    higher_is_better: bool = True
    distortion: tuple[str, ...] = ()
    synthetic: bool = False
    notes: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        reference = tuple(Path(p) for p in self.reference)
        distorted = tuple(Path(p) for p in self.distorted)
        mos = np.array(self.mos, dtype=np.float64).reshape(-1)
        labels = tuple(str(label) for label in self.distortion) or ("",) * len(mos)
        lengths = {len(reference), len(distorted), len(mos), len(labels)}
        if len(lengths) != 1:
            raise ValueError(
                f"MosSet {self.name!r} needs one reference, distorted image, score and distortion "
                f"label per row; got {len(reference)}, {len(distorted)}, {len(mos)} and "
                f"{len(labels)}"
            )
        if not np.all(np.isfinite(mos)):
            raise ValueError(f"MosSet {self.name!r}: every score must be finite")
        mos.setflags(write=False)
        object.__setattr__(self, "root", Path(self.root))
        object.__setattr__(self, "reference", reference)
        object.__setattr__(self, "distorted", distorted)
        object.__setattr__(self, "mos", mos)
        object.__setattr__(self, "distortion", labels)

    def __len__(self) -> int:
        return len(self.mos)

    @property
    def quality(self) -> np.ndarray:
        """Scores turned so that higher always means better quality (``-mos`` for DMOS sets)."""
        return self.mos.copy() if self.higher_is_better else -self.mos

    def distortion_names(self) -> list[str]:
        """The distinct non-empty distortion labels, sorted."""
        return sorted({label for label in self.distortion if label})

    def select(self, rows: Sequence[int] | np.ndarray) -> MosSet:
        """A new set with only ``rows`` (indices or a boolean mask), in that order."""
        index = np.arange(len(self))[np.asarray(rows)]
        return MosSet(
            name=self.name,
            root=self.root,
            reference=tuple(self.reference[i] for i in index),
            distorted=tuple(self.distorted[i] for i in index),
            mos=self.mos[index],
            higher_is_better=self.higher_is_better,
            distortion=tuple(self.distortion[i] for i in index),
            synthetic=self.synthetic,
            notes=self.notes,
        )

    def load_pairs(
        self, size: int, start: int = 0, stop: int | None = None, resize: str = "keep_aspect"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Same as :func:`load_pair_images` on this set."""
        return load_pair_images(self, size, start, stop, resize)


# ---------------------------------------------------------------- loading images


def load_pair_images(
    mos_set: MosSet,
    size: int,
    start: int = 0,
    stop: int | None = None,
    resize: str = "keep_aspect",
) -> tuple[np.ndarray, np.ndarray]:
    """Decode rows ``start:stop`` of ``mos_set`` as two uint8 arrays ``(n, 3, H, W)``, RGB.

    Each image is decoded by :func:`dpsim.data.image_file.read_rgb` (grey, palette, 16-bit and
    alpha images included; transparent pixels are composited on black and one warning per call
    names the files) and fitted to ``size`` by :func:`fit_image` in mode ``resize``. With
    ``keep_aspect`` every image of the rows must come out the same shape (KADID-10k and TID2013
    are all 512x384, so at size 64 they give 64x85); a set of mixed aspect ratios is an error
    that names the first odd file and suggests ``center_crop`` or ``squash``. Each reference
    file is decoded once per call.

    Returns:
        ``(reference, distorted)``, both of shape ``(stop - start, 3, H, W)``; ``H = W = size``
        for ``center_crop`` and ``squash``.
    """
    if not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    stop = len(mos_set) if stop is None else stop
    if not 0 <= start <= stop <= len(mos_set):
        raise ValueError(
            f"rows {start}:{stop} are out of range for MOS set {mos_set.name!r} of "
            f"{len(mos_set)} rows; expected 0 <= start <= stop <= {len(mos_set)}"
        )
    _check_resize(resize)
    cache: dict[Path, np.ndarray] = {}
    reference = distorted = np.empty((0, 3, size, size), dtype=np.uint8)
    first = Path()
    rows = range(start, stop)
    notice = image_file.AlphaNotice(f"MOS set {mos_set.name!r}")
    for out, row in enumerate(tqdm(rows, desc=f"load {mos_set.name}", unit="pair", leave=False)):
        ref_path, dist_path = mos_set.reference[row], mos_set.distorted[row]
        if ref_path not in cache:
            cache[ref_path] = read_image(ref_path, size, resize, notice)
        ref_image, dist_image = cache[ref_path], read_image(dist_path, size, resize, notice)
        if out == 0:  # the first image fixes the shape of the whole batch
            first = ref_path
            reference = np.empty((stop - start, *ref_image.shape), dtype=np.uint8)
            distorted = np.empty_like(reference)
        _check_same_shape(ref_image, reference, ref_path, first, mos_set.name, resize)
        _check_same_shape(dist_image, reference, dist_path, first, mos_set.name, resize)
        reference[out], distorted[out] = ref_image, dist_image
    notice.warn()
    return reference, distorted


def _check_resize(resize: str) -> None:
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")


def _check_same_shape(
    image: np.ndarray, batch: np.ndarray, path: Path, first: Path, name: str, resize: str
) -> None:
    """Every image of a set must fit one array: explain a mixed aspect ratio."""
    if image.shape == batch.shape[1:]:
        return
    raise ValueError(
        f"MOS set {name!r}: {path} comes out {image.shape[1]}x{image.shape[2]} (HxW) with "
        f"resize {resize!r}, but {first} came out {batch.shape[2]}x{batch.shape[3]}; the set "
        "mixes aspect ratios, so set mos.resize to 'center_crop' or 'squash'"
    )


def fit_image(image: Image.Image, size: int, resize: str = "keep_aspect") -> Image.Image:
    """Bring a PIL image to the scoring size (bicubic, antialiased when shrinking).

    - ``keep_aspect``: the short side becomes ``size``, the long side ``round(long * size /
      short)``; nothing is cut off and nothing is distorted.
    - ``center_crop``: as ``keep_aspect``, then the centre ``size x size`` square (odd margins
      leave the extra pixel on the right / bottom).
    - ``squash``: ``size x size`` directly; a non-square image is distorted.

    An image that already has the target size is not resampled.
    """
    _check_resize(resize)
    width, height = image.size
    if resize == "squash":
        target = (size, size)
    else:
        short = min(width, height)
        target = (max(size, round(width * size / short)), max(size, round(height * size / short)))
    if image.size != target:
        image = image.resize(target, Image.Resampling.BICUBIC)
    if resize == "center_crop" and image.size != (size, size):
        left, top = (image.size[0] - size) // 2, (image.size[1] - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return image


def read_image(
    path: Path,
    size: int,
    resize: str = "keep_aspect",
    notice: image_file.AlphaNotice | None = None,
) -> np.ndarray:
    """One image file as uint8 ``(3, H, W)`` RGB, fitted by :func:`fit_image`.

    Decoded by :func:`dpsim.data.image_file.read_rgb`: 16-bit images are scaled to 8 bit, and
    transparent pixels are composited on black (recorded in ``notice``).
    """
    image = image_file.read_rgb(path, notice)
    return np.asarray(fit_image(image, size, resize), dtype=np.uint8).transpose(2, 0, 1)


# ---------------------------------------------------------------- generic CSV


def read_csv_set(
    csv_path: str | Path,
    name: str | None = None,
    higher_is_better: bool = True,
    columns: Sequence[str] = DEFAULT_COLUMNS,
) -> MosSet:
    """Read a MOS set from a CSV with a header (format in the module docstring).

    Args:
        csv_path: the CSV file; image paths in it are relative to its folder.
        name: the set's name; defaults to the name of the CSV's folder.
        higher_is_better: whether a higher score means better quality (false for DMOS).
        columns: names of the reference, distorted and score columns.

    Raises:
        FileNotFoundError: the CSV or image files it names do not exist.
        ValueError: the CSV is empty or malformed; the message names the file, row and field.
    """
    path = Path(csv_path)
    columns = _check_columns(columns)
    rows = _read_csv_rows(path, columns)
    return _build_set(
        path,
        rows,
        columns,
        root=path.parent,
        image_dir=path.parent,
        name=name or path.resolve().parent.name,
        higher_is_better=higher_is_better,
        label=lambda row, _: (
            row.get(DISTORTION_COLUMN, "") if DISTORTION_COLUMN not in columns else ""
        ),
        kind="row",
    )


def _check_columns(columns: Sequence[str]) -> tuple[str, str, str]:
    if (
        isinstance(columns, str)
        or len(columns) != 3
        or not all(isinstance(c, str) for c in columns)
    ):
        raise ValueError(
            f"columns must name three CSV columns (reference, distorted, score), got {columns!r}"
        )
    if len(set(columns)) != 3:
        raise ValueError(f"columns must be three different names, got {tuple(columns)!r}")
    return (columns[0], columns[1], columns[2])


def _read_csv_rows(path: Path, columns: tuple[str, str, str]) -> list[tuple[int, dict[str, str]]]:
    """``(row number, {column: stripped value})`` for every non-blank data row of ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"MOS CSV {path} does not exist (expected a file with a header)")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        records = list(csv.reader(handle))
    if not records or not any(cell.strip() for cell in records[0]):
        raise ValueError(
            f"{path}: the file is empty; expected a header row naming the columns {columns}"
        )
    header = [cell.strip() for cell in records[0]]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise ValueError(f"{path}: row 1 (header) repeats the column(s) {repeated}")
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(
            f"{path}: row 1 (header) lacks the column(s) {missing}; found {header}, "
            f"expected at least {list(columns)}"
        )
    rows = []
    for number, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            raise ValueError(
                f"{path}: row {number} has {len(record)} fields, the header has {len(header)}"
            )
        rows.append((number, {c: cell.strip() for c, cell in zip(header, record, strict=True)}))
    if not rows:
        raise ValueError(f"{path}: no data rows below the header; expected one row per pair")
    return rows


# ---------------------------------------------------------------- shared row checks


def _build_set(
    table: Path,
    rows: Iterable[tuple[int, Mapping[str, str]]],
    columns: tuple[str, str, str],
    *,
    root: Path,
    image_dir: Path,
    name: str,
    higher_is_better: bool,
    label: Callable[[Mapping[str, str], int], str],
    kind: str,
    resolve: Callable[[str, str, int], Path] | None = None,
) -> MosSet:
    """Check every row of a table and turn it into a :class:`MosSet`.

    ``label(row, number)`` gives a row's distortion label; ``resolve(field, value, number)`` a
    path (default: ``image_dir / value``, which keeps absolute paths). ``kind`` is ``"row"`` or
    ``"line"``, for messages.
    """
    ref_column, dist_column, score_column = columns
    references, distorted, scores, labels = [], [], [], []
    first_seen: dict[tuple[Path, Path], int] = {}
    missing: list[str] = []
    exists: dict[Path, bool] = {}
    for number, row in rows:
        where = f"{table}: {kind} {number}"
        pair = []
        for column in (ref_column, dist_column):
            value = row.get(column, "")
            if not value:
                raise ValueError(f"{where}, field {column!r}: empty; expected an image path")
            path = resolve(column, value, number) if resolve else image_dir / value
            if path not in exists:
                exists[path] = path.is_file()
            if not exists[path]:
                missing.append(f"{kind} {number}, field {column!r}: {path}")
            pair.append(path)
        key = (pair[0], pair[1])
        if key in first_seen:
            raise ValueError(
                f"{where}, fields {ref_column!r} and {dist_column!r}: duplicate pair "
                f"({row[ref_column]}, {row[dist_column]}), first given in {kind} {first_seen[key]}"
            )
        first_seen[key] = number
        scores.append(_parse_score(row.get(score_column, ""), f"{where}, field {score_column!r}"))
        references.append(pair[0])
        distorted.append(pair[1])
        labels.append(label(row, number))
    if missing:
        listed = "; ".join(missing[:MAX_LISTED_MISSING])
        more = len(missing) - MAX_LISTED_MISSING
        raise FileNotFoundError(
            f"{table}: {len(missing)} image file(s) named in it do not exist: {listed}"
            + (f"; and {more} more" if more > 0 else "")
        )
    log.info("read MOS set %s: %d pairs from %s", name, len(scores), table)
    return MosSet(
        name=name,
        root=root,
        reference=tuple(references),
        distorted=tuple(distorted),
        mos=np.asarray(scores, dtype=np.float64),
        higher_is_better=higher_is_better,
        distortion=tuple(labels),
    )


def _parse_score(value: str, where: str) -> float:
    try:
        score = float(value)
    except ValueError:
        raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if not math.isfinite(score):
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    return score


# ---------------------------------------------------------------- KADID-10k


def read_kadid10k(root: str | Path, name: str = "kadid10k") -> MosSet:
    """Read KADID-10k: ``root/dmos.csv`` (``dist_img,ref_img,dmos,var``) and ``root/images/``.

    Despite its name, KADID-10k's ``dmos`` column is a mean opinion score on a 1-5 scale where
    **higher means better quality** (a documented quirk of the set), so ``higher_is_better`` is
    true. The distortion label is the middle number of the distorted file name
    (``I01_07_03.png`` -> ``07``: distortion type 7, level 3).
    """
    root = Path(root)
    table = root / "dmos.csv"
    columns = ("ref_img", "dist_img", "dmos")
    rows = _read_csv_rows(table, columns)

    def label(row: Mapping[str, str], number: int) -> str:
        match = _KADID_NAME.match(row["dist_img"])
        if match is None:
            raise ValueError(
                f"{table}: row {number}, field 'dist_img': expected a name like I01_07_03.png "
                f"(image_distortion_level), got {row['dist_img']!r}"
            )
        return match.group(1)

    return _build_set(
        table,
        rows,
        columns,
        root=root,
        image_dir=root / "images",
        name=name,
        higher_is_better=True,
        label=label,
        kind="row",
    )


# ---------------------------------------------------------------- TID2013


def read_tid2013(root: str | Path, name: str = "tid2013") -> MosSet:
    """Read TID2013: ``root/mos_with_names.txt``, ``distorted_images/`` and ``reference_images/``.

    Each line of ``mos_with_names.txt`` is ``<mos> <file name>``, e.g. ``5.51429 i01_01_1.bmp``;
    higher MOS means better quality. The reference of ``i01_01_1.bmp`` is ``I01.BMP``: file names
    are matched case-insensitively (an exact match wins), because the real set mixes cases
    (``i25_...`` distorted, ``I25.BMP`` reference). The distortion label is the middle field
    (``01``: distortion type 1, level 1).
    """
    root = Path(root)
    table = root / "mos_with_names.txt"
    if not table.is_file():
        raise FileNotFoundError(f"TID2013 score file {table} does not exist")
    folders = {"distorted": root / "distorted_images", "reference": root / "reference_images"}
    for folder in folders.values():
        if not folder.is_dir():
            raise FileNotFoundError(f"TID2013 folder {folder} does not exist")
    by_name = _index_folder(folders["distorted"], key=lambda p: p.name.lower())
    by_stem = _index_folder(folders["reference"], key=lambda p: p.stem.lower())
    rows = _read_tid_lines(table)

    def resolve(column: str, value: str, number: int) -> Path:
        if column == "distorted":
            return _find(folders["distorted"], value, by_name.get(value.lower(), []), table, number)
        return _find(folders["reference"], value, by_stem.get(value.lower(), []), table, number)

    return _build_set(
        table,
        rows,
        ("reference", "distorted", "mos"),
        root=root,
        image_dir=root,
        name=name,
        higher_is_better=True,
        label=lambda row, _: row["distortion"],
        kind="line",
        resolve=resolve,
    )


def _read_tid_lines(table: Path) -> list[tuple[int, dict[str, str]]]:
    rows = []
    text = table.read_text(encoding="utf-8-sig", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(
                f"{table}: line {number}: expected '<mos> <file name>', got {line.strip()!r}"
            )
        match = _TID_NAME.match(fields[1])
        if match is None:
            raise ValueError(
                f"{table}: line {number}, field 'file name': expected a name like "
                f"i01_01_1.bmp (image_distortion_level), got {fields[1]!r}"
            )
        row = {
            "mos": fields[0],
            "distorted": fields[1],
            "reference": match.group(1),
            "distortion": match.group(2),
        }
        rows.append((number, row))
    if not rows:
        raise ValueError(f"{table}: the file is empty; expected lines '<mos> <file name>'")
    return rows


def _index_folder(folder: Path, key: Callable[[Path], str]) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            index.setdefault(key(path), []).append(path)
    return index


def _find(folder: Path, wanted: str, candidates: list[Path], table: Path, number: int) -> Path:
    """The file in ``candidates`` (same name or stem up to case) that ``wanted`` means."""
    exact = [p for p in candidates if wanted in (p.name, p.stem)]
    if exact:
        return exact[0]
    if len(candidates) > 1:
        raise ValueError(
            f"{table}: line {number}: {wanted!r} matches several files in {folder} when case is "
            f"ignored: {[p.name for p in candidates]}"
        )
    return candidates[0] if candidates else folder / wanted


# ---------------------------------------------------------------- fixture and dispatch


def read_fixture_set(folder: str | Path, name: str = "mos_fixture") -> MosSet:
    """Read the offline fixture (:mod:`dpsim.data.mos_fixture`): its CSV and its manifest.

    The returned set has ``synthetic`` set from the manifest's ``synthetic_mos`` field and the
    manifest itself in ``notes``, so that reports can say the scores are not human judgments.
    """
    folder = Path(folder)
    if folder.is_file() and folder.name == FIXTURE_CSV:
        folder = folder.parent
    manifest_path = folder / FIXTURE_MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"MOS fixture manifest {manifest_path} does not exist; expected a folder written by "
            "dpsim.data.mos_fixture.write_mos_fixture"
        )
    manifest = json.loads(manifest_path.read_text())
    base = read_csv_set(folder / FIXTURE_CSV, name=name, higher_is_better=True)
    return MosSet(
        name=base.name,
        root=base.root,
        reference=base.reference,
        distorted=base.distorted,
        mos=base.mos,
        higher_is_better=base.higher_is_better,
        distortion=base.distortion,
        synthetic=bool(manifest.get("synthetic_mos", False)),
        notes=manifest,
    )


_SPEC_KEYS = {
    "csv": {"format", "path", "name", "columns", "higher_is_better"},
    "kadid10k": {"format", "path", "name"},
    "tid2013": {"format", "path", "name"},
    "fixture": {"format", "path", "name"},
}


def read_mos_set(spec: Mapping[str, object]) -> MosSet:
    """Read the MOS set that ``spec`` describes, e.g. ``{"format": "kadid10k", "path": ...}``.

    Keys: ``format`` (one of :data:`FORMATS`), ``path`` (the CSV file for ``csv``, the set's root
    folder otherwise), optional ``name``; for ``csv`` also ``columns`` (three names) and
    ``higher_is_better`` (default true).
    """
    form = spec.get("format")
    if form not in FORMATS:
        raise ValueError(f"MOS set format must be one of {list(FORMATS)}, got {form!r}")
    unknown = sorted(set(spec) - _SPEC_KEYS[form])
    if unknown:
        raise ValueError(
            f"unknown key(s) {unknown} for a {form!r} MOS set; allowed: {sorted(_SPEC_KEYS[form])}"
        )
    if not isinstance(spec.get("path"), str | Path) or not str(spec["path"]):
        raise ValueError(f"a {form!r} MOS set needs a 'path', got {spec.get('path')!r}")
    path = Path(str(spec["path"])).expanduser()
    name = spec.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError(f"MOS set 'name' must be a string, got {name!r}")
    if form == "csv":
        higher = spec.get("higher_is_better", True)
        if not isinstance(higher, bool):
            raise ValueError(f"'higher_is_better' must be true or false, got {higher!r}")
        columns = spec.get("columns", DEFAULT_COLUMNS)
        if not isinstance(columns, Sequence):
            raise ValueError(f"'columns' must be a list of three column names, got {columns!r}")
        return read_csv_set(path, name=name, higher_is_better=higher, columns=columns)
    if form == "kadid10k":
        return read_kadid10k(path, name=name or "kadid10k")
    if form == "tid2013":
        return read_tid2013(path, name=name or "tid2013")
    return read_fixture_set(path, name=name or "mos_fixture")


def read_mos_sets(section: Mapping[str, object], fixture_dir: str | Path | None) -> list[MosSet]:
    """The MOS sets of the config's ``mos`` section; the fixture is read from ``fixture_dir``."""
    chosen = []
    for entry in section["sets"]:  # type: ignore[attr-defined]
        spec = dict(entry)
        if spec["format"] == "fixture":
            if fixture_dir is None:
                raise ValueError("mos.sets lists the fixture, but no fixture folder was given")
            spec["path"] = str(fixture_dir)
        chosen.append(read_mos_set(spec))
    return chosen
