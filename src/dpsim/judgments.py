"""Sets of 2AFC judgments a user brings: a CSV table or a folder in BAPPS's 2AFC layout.

A set of judgments is a table of triplets (reference, p0, p1) with ``judge``, the share of the
judges who found p1 the closer to the reference (BAPPS's convention; 1: everyone chose p1), and
optionally how many judged it (``votes``) and which split it belongs to (``split``). Issue 17
makes such a set a context of its own or an extra evaluation set beside BAPPS; this module reads
and checks it, and splits it, before any job runs:

- :func:`read_csv_judgments`: a CSV whose columns are named (or numbered, from 0) by a
  :class:`Columns` mapping; image paths relative to the CSV's folder. ``Columns.nights()`` is
  the layout of NIGHTS's ``data.csv`` (DreamSim), read by position as its own loader does
  (PROTOCOL §10): column 2 the share, columns 4, 5, 6 the reference and the two distortions,
  ``votes`` and ``split`` by name.
- :func:`read_bapps_2afc_folder`: a folder with ``ref/``, ``p0/``, ``p1/`` (PNGs) and
  ``judge/`` (one value per ``.npy``), as BAPPS ships each 2AFC subset.
- :func:`split_indices`: train / val / test by the ``split`` column when there is one, else by a
  seeded permutation, refusing a split left with fewer triplets than it needs.

Every problem is a :class:`JudgmentsError` naming the file, the row (as a spreadsheet shows it:
the header is row 1) and the value, and how to fix it; all problems of one kind are counted,
the first few shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dpsim.data.bapps import BappsError, item_stems, read_label

#: Split names a ``split`` column may hold.
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Problems shown per kind before "and N more".
SHOWN = 3

Column = str | int


class JudgmentsError(ValueError):
    """A set of judgments that cannot be used as it is; the message says where and why."""


@dataclass(frozen=True)
class Columns:
    """Where each field is in a CSV: a column name, or a position counted from 0.

    ``votes`` and ``split`` are optional (None: the table has none).
    """

    ref: Column = "ref"
    p0: Column = "p0"
    p1: Column = "p1"
    judge: Column = "judge"
    votes: Column | None = None
    split: Column | None = None

    @classmethod
    def nights(cls) -> Columns:
        """NIGHTS's ``data.csv``: share in column 2, images in 4, 5, 6; ``votes``, ``split``."""
        return cls(ref=4, p0=5, p1=6, judge=2, votes="votes", split="split")

    def fields(self) -> dict[str, Column]:
        """Field name -> column, for the fields this mapping gives."""
        named = {"ref": self.ref, "p0": self.p0, "p1": self.p1, "judge": self.judge}
        optional = {"votes": self.votes, "split": self.split}
        return {**named, **{k: v for k, v in optional.items() if v is not None}}


@dataclass(frozen=True)
class Judgments:
    """A checked set of 2AFC judgments: absolute image paths, shares, optional counts and splits.

    ``rows`` are the rows as the source shows them (CSV: spreadsheet rows; folder: item stems).
    """

    source: str
    ref: tuple[Path, ...]
    p0: tuple[Path, ...]
    p1: tuple[Path, ...]
    judge: np.ndarray
    votes: np.ndarray | None
    split: np.ndarray | None
    rows: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.judge)

    @property
    def binary(self) -> bool:
        """Whether every judgment is 0 or 1 (McNemar's test needs that; shares need a paired
        test on per-item 2AFC scores, such as the paired bootstrap)."""
        return bool(np.isin(self.judge, (0.0, 1.0)).all())


def _problem(source: str, what: str, cases: Sequence[str], fix: str) -> JudgmentsError:
    shown = "; ".join(cases[:SHOWN])
    more = f" and {len(cases) - SHOWN} more" if len(cases) > SHOWN else ""
    return JudgmentsError(f"{source}: {len(cases)} {what}: {shown}{more}. {fix}")


def _column(table: pd.DataFrame, field: str, column: Column, source: str) -> pd.Series:
    """The column a field maps to, by name or position; an error lists what the table has."""
    if isinstance(column, int) and not isinstance(column, bool):
        if not 0 <= column < table.shape[1]:
            raise JudgmentsError(
                f"{source}: {field} is mapped to column {column}, but the table has "
                f"{table.shape[1]} columns (0 to {table.shape[1] - 1}): {list(table.columns)}"
            )
        return table.iloc[:, column]
    if column not in table.columns:
        raise JudgmentsError(
            f"{source}: no column {column!r} for {field}; the table's columns are "
            f"{list(table.columns)} (map {field} to one of them, by name or position from 0)"
        )
    return table[column]


def _row(index: int | np.integer) -> str:
    return f"row {index + 2}"  # the header is row 1


def _shown(value: object) -> str:
    """A cell as the CSV holds it: text quoted, numbers plain (``0``, ``2.5``, ``nan``)."""
    if isinstance(value, str):
        return repr(value)
    try:
        return f"{float(value):g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return repr(value)


def _shares(values: pd.Series, source: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = [
        f"{_row(values.index[i])}: {_shown(values.iloc[i])}"
        for i in np.flatnonzero(~np.isfinite(numbers) | (numbers < 0) | (numbers > 1))
    ]
    if bad:
        raise _problem(
            source,
            "judgments outside [0, 1]",
            bad,
            "judge is the share of judges who chose p1 (0 to 1); map the right column or "
            "divide counts by the number of judges",
        )
    return numbers


def _votes(values: pd.Series, source: str) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    whole = np.isfinite(numbers) & (numbers >= 1) & (numbers == np.round(numbers))
    bad = [f"{_row(values.index[i])}: {_shown(values.iloc[i])}" for i in np.flatnonzero(~whole)]
    if bad:
        raise _problem(source, "vote counts that are not whole numbers >= 1", bad, "fix them")
    return numbers.astype(np.int64)


def _splits(values: pd.Series, source: str) -> np.ndarray:
    names = values.astype(str).str.strip().str.lower().to_numpy()
    bad = [
        f"{_row(values.index[i])}: {_shown(values.iloc[i])}"
        for i in np.flatnonzero(~np.isin(names, SPLITS))
    ]
    if bad:
        raise _problem(source, f"splits not in {list(SPLITS)}", bad, "fix or unmap the column")
    return names


def _paths(values: pd.Series, folder: Path, field: str, source: str) -> tuple[Path, ...]:
    paths = tuple(folder / str(v).strip() for v in values)
    missing = [
        f"{_row(i)}: {p}" for i, p in zip(values.index, paths, strict=True) if not p.is_file()
    ]
    if missing:
        raise _problem(
            source,
            f"{field} images missing",
            missing,
            f"paths are read relative to the CSV's folder ({folder})",
        )
    return paths


def _no_duplicates(table: pd.DataFrame, source: str) -> None:
    repeated = table.duplicated(keep="first").to_numpy()
    if repeated.any():
        first = table.drop_duplicates(keep="first").reset_index().set_index(list(table.columns))
        cases = [
            f"{_row(table.index[i])} repeats {_row(int(first.loc[tuple(table.iloc[i])]['index']))}"
            for i in np.flatnonzero(repeated)
        ]
        raise _problem(
            source,
            "repeated triplets (same reference, p0 and p1)",
            cases,
            "merge their judgments into one row (the share over all judges, votes summed)",
        )


def read_csv_judgments(
    path: str | Path, columns: Columns | None = None, *, min_votes: int | None = None
) -> Judgments:
    """Read and check a CSV of 2AFC judgments (see the module docstring).

    Args:
        path: the CSV file.
        columns: where each field is (default: columns named ref, p0, p1, judge).
        min_votes: keep only rows judged by at least this many (needs ``columns.votes``), as
            NIGHTS trains and tests on its unanimous rows with 6 or more votes.

    Raises:
        JudgmentsError: a missing file or column, a share outside [0, 1], a bad vote count or
            split, a missing image, a repeated triplet, or nothing left after ``min_votes``.
    """
    path = Path(path)
    columns = columns or Columns()
    source = str(path)
    if not path.is_file():
        raise JudgmentsError(f"{source}: no such file")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise JudgmentsError(f"{source}: not a readable CSV table ({error})") from None
    picked = pd.DataFrame(
        {f: _column(table, f, c, source) for f, c in columns.fields().items()}
    ).reset_index(drop=True)
    if min_votes is not None:
        if columns.votes is None:
            raise JudgmentsError(f"{source}: min_votes needs a votes column in the mapping")
        keep = _votes(picked["votes"], source) >= min_votes
        picked = picked[keep]
        if picked.empty:
            raise JudgmentsError(f"{source}: no row has {min_votes} or more votes")
    rows = tuple(_row(int(i)) for i in picked.index)
    _no_duplicates(picked[["ref", "p0", "p1"]].astype(str), source)
    folder = path.parent
    return Judgments(
        source=source,
        ref=_paths(picked["ref"], folder, "ref", source),
        p0=_paths(picked["p0"], folder, "p0", source),
        p1=_paths(picked["p1"], folder, "p1", source),
        judge=_shares(picked["judge"], source),
        votes=_votes(picked["votes"], source) if "votes" in picked else None,
        split=_splits(picked["split"], source) if "split" in picked else None,
        rows=rows,
    )


def read_bapps_2afc_folder(folder: str | Path) -> Judgments:
    """A folder in BAPPS's 2AFC layout (``ref/``, ``p0/``, ``p1/``, ``judge/``) as judgments.

    Raises:
        JudgmentsError: a missing part, an item some part lacks, or a bad judgment file.
    """
    folder = Path(folder)
    try:
        stems = item_stems(folder, "2afc")
        judge = np.array([read_label(folder / "judge" / f"{s}.npy") for s in stems])
    except BappsError as error:
        raise JudgmentsError(str(error)) from None
    images = {
        part: tuple(folder / part / f"{s}.png" for s in stems) for part in ("ref", "p0", "p1")
    }
    return Judgments(
        source=str(folder),
        ref=images["ref"],
        p0=images["p0"],
        p1=images["p1"],
        judge=judge,
        votes=None,
        split=None,
        rows=stems,
    )


def split_indices(
    judgments: Judgments,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    minimum: int = 1,
) -> dict[str, np.ndarray]:
    """Row indices of each split (train, val, test).

    The ``split`` column decides where there is one; otherwise a permutation drawn from
    ``seed`` is cut at ``fractions`` (train, val, test; they must sum to 1).

    Raises:
        JudgmentsError: a split with fewer than ``minimum`` triplets (naming how many it got
            and how to get more).
    """
    if judgments.split is not None:
        chosen = {name: np.flatnonzero(judgments.split == name) for name in SPLITS}
        how = "its split column"
    else:
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
            raise ValueError(f"fractions must be three shares summing to 1, got {fractions}")
        order = np.random.default_rng(seed).permutation(len(judgments))
        cuts = np.round(np.cumsum(fractions)[:2] * len(judgments)).astype(int)
        chosen = dict(zip(SPLITS, np.split(order, cuts), strict=True))
        chosen = {name: np.sort(rows) for name, rows in chosen.items()}
        how = f"fractions {fractions}"
    short = [f"{name}: {len(rows)}" for name, rows in chosen.items() if len(rows) < minimum]
    if short:
        raise JudgmentsError(
            f"{judgments.source}: {len(judgments)} triplets split by {how} leave "
            f"{', '.join(short)} (each split needs at least {minimum}); add judgments or "
            "change the split"
        )
    return chosen


def image_size(judgments: Judgments, resize: int | None = None) -> tuple[int, int]:
    """The (width, height) every image of the set is scored at: ``(resize, resize)`` when
    given, else the one size all the images share (read from the files' headers).

    Raises:
        JudgmentsError: images of different sizes and no ``resize``, or an unreadable image.
    """
    from PIL import Image, UnidentifiedImageError

    if resize is not None:
        if resize < 16:
            raise ValueError(f"resize must be at least 16 px, got {resize}")
        return resize, resize
    sizes: dict[tuple[int, int], str] = {}
    for row, paths in zip(
        judgments.rows, zip(judgments.ref, judgments.p0, judgments.p1, strict=True), strict=True
    ):
        for path in paths:
            try:
                with Image.open(path) as image:
                    size = image.size
            except (OSError, UnidentifiedImageError) as error:
                raise JudgmentsError(
                    f"{judgments.source}: {row}: cannot read {path}: {error}"
                ) from None
            sizes.setdefault(size, f"{row}: {path}")
            if len(sizes) > 1:
                (first, where), (other, there) = list(sizes.items())[:2]
                raise JudgmentsError(
                    f"{judgments.source}: images of different sizes, {first[0]}x{first[1]} "
                    f"({where}) and {other[0]}x{other[1]} ({there}); give a resize (the side "
                    "in px every image is resized to) to score them together"
                )
    return next(iter(sizes))


def square_size(judgments: Judgments, resize: int | None, fix: str) -> tuple[int, int]:
    """:func:`image_size`, which must be square: the metric scores square images.

    Raises:
        JudgmentsError: non-square images, with ``fix`` (where to give a resize).
    """
    width, height = image_size(judgments, resize)
    if width != height:
        raise JudgmentsError(
            f"{judgments.source}: images are {width}x{height} pixels; the metric scores "
            f"square images: {fix}"
        )
    return width, height
