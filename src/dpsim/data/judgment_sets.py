"""People's 2AFC judgments as extra evaluation sets beside BAPPS (``evaluate.judgment_sets``).

Each named set is a table of triplets and the share of people preferring p1 (read as a
judgments context's table is, :mod:`dpsim.judgments`: a CSV through its column mapping,
NIGHTS's ``data.csv``, or a folder in BAPPS's 2AFC layout). The rows it is scored on (one split,
or all) are packed into ``results/judgments/cache`` in the BAPPS cache's layout
(:mod:`dpsim.data.bapps`): one 2AFC subset per set, named after the set, whose ``dataset`` is
the set's name. Every evaluation then scores it as it scores a BAPPS subset and writes its rows
with ``dataset`` = the set's name (``nights``, say) beside ``bapps`` and ``context``, and the
statistics test it as they test BAPPS. Vote counts, where the table has them, are packed too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dpsim.data.bapps import RESIZE_FILTER, write_index, write_packed
from dpsim.data.judgment_pool import pixels, read_configured
from dpsim.judgments import Judgments, JudgmentsError, square_size

#: What a judgment set's subset is called when all its rows are scored.
ALL_ROWS = "all"
#: The image parts of a triplet, in the packed order.
PARTS = ("ref", "p0", "p1")


def scored_rows(judgments: Judgments, split: str | None) -> np.ndarray:
    """The rows of ``judgments`` a set scores: those of ``split`` (its split column), or all.

    Raises:
        JudgmentsError: a split asked of a table without a split column, or one with no rows.
    """
    if split is None:
        return np.arange(len(judgments))
    if judgments.split is None:
        raise JudgmentsError(
            f"{judgments.source}: split {split!r} asked, but the table has no split column; "
            "name it in columns.split, or set split: null to score every row"
        )
    rows = np.flatnonzero(judgments.split == split)
    if len(rows) == 0:
        found = ", ".join(sorted(set(judgments.split.tolist())))
        raise JudgmentsError(
            f"{judgments.source}: no row of split {split!r} (the split column holds {found})"
        )
    return rows


def read_set(
    section: Mapping[str, Any], root: str | Path = "."
) -> tuple[Judgments, np.ndarray, tuple[int, int]]:
    """A set's judgments, the rows it scores and the (square) size they are scored at, checked
    (the preflight reads them this way before any job, so a bad table stops the run at once)."""
    judgments = read_configured(section, root)
    rows = scored_rows(judgments, section["split"])
    size = square_size(judgments, section["resize"], "give the set a resize")
    return judgments, rows, size


def pack_set(
    name: str, section: Mapping[str, Any], cache_dir: str | Path, root: str | Path, writer: str
) -> dict:
    """Pack the scored rows of one set as the 2AFC subset ``name``; its meta."""
    judgments, rows, size = read_set(section, root)
    parts = [pixels([getattr(judgments, part)[i] for i in rows], size) for part in PARTS]
    arrays = {
        "images": np.stack(parts, axis=1),
        "labels": np.asarray(judgments.judge[rows], dtype=np.float64),
    }
    if judgments.votes is not None:
        arrays["votes"] = np.asarray(judgments.votes[rows], dtype=np.int64)
    split = section["split"] or ALL_ROWS
    meta = {
        "kind": "2afc",
        "split": split,
        "name": name,
        "dataset": name,
        "items": len(rows),
        "size": size[0],
        "resize": RESIZE_FILTER if section["resize"] is not None else "none",
        "source": judgments.source,
        "rows": [judgments.rows[i] for i in rows],
    }
    return write_packed(cache_dir, f"2afc-{split}-{name}", arrays, meta, writer)


def pack_judgment_sets(
    sets: Mapping[str, Mapping[str, Any]],
    cache_dir: str | Path,
    root: str | Path = ".",
    writer: str = "",
) -> dict:
    """Pack every configured set (``evaluate.judgment_sets``) into ``cache_dir``; the index."""
    packed = [pack_set(name, sets[name], cache_dir, root, writer) for name in sorted(sets)]
    sources = {meta["name"]: meta["source"] for meta in packed}
    return write_index(cache_dir, packed, writer, judgment_sets=sources)
