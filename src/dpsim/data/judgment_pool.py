"""A user's 2AFC judgments as the pool of a judgments context: train, val and test draws.

A run whose ``contexts.source`` is ``judgments`` has one context, ``c000``, whose triplets are
the user's and whose labels are the people's judges (shares in [0, 1]). Its split's rows
(:func:`dpsim.judgments.split_indices`) are written as a pool draw in the shared pool's format
(:mod:`dpsim.data.pool`), with the judges as the ``judge`` array and no distortion ids (``d0``,
``d1`` are -1; the distortion set is empty), so every stage after the pool (statistics caches,
training, evaluation, the statistics and the report) reads it as it reads a synthetic draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from dpsim.data.image_file import read_rgb
from dpsim.data.pool import PoolSpec, array_sha256, write_arrays_draw
from dpsim.judgments import (
    Columns,
    Judgments,
    read_bapps_2afc_folder,
    read_csv_judgments,
    split_indices,
    square_size,
)

#: Where a judgments context gets a resize (:func:`dpsim.judgments.square_size`).
RESIZE_FIX = "set contexts.judgments.resize"


def read_configured(section: Mapping[str, Any], root: str | Path = ".") -> Judgments:
    """The judgments a config's ``contexts.judgments`` names (paths relative to ``root``)."""
    path = Path(section["path"])
    path = path if path.is_absolute() else Path(root) / path
    if section["format"] == "bapps":
        return read_bapps_2afc_folder(path)
    if section["format"] == "nights":
        columns = Columns.nights()
    else:
        given = {k: v for k, v in section["columns"].items() if v is not None}
        columns = Columns(**given)
    return read_csv_judgments(path, columns, min_votes=section["min_votes"])


def configured_splits(
    judgments: Judgments, section: Mapping[str, Any], seed: int
) -> dict[str, np.ndarray]:
    """Rows of each split: the split column, else the configured fractions drawn with ``seed``."""
    fractions = section["fractions"]
    shares = (float(fractions["train"]), float(fractions["val"]), float(fractions["test"]))
    return split_indices(judgments, shares, seed=seed, minimum=section["min_per_split"])


def pixels(paths: Sequence[Path], size: tuple[int, int]) -> np.ndarray:
    """Images as uint8 ``(N, 3, H, W)``, resized (bicubic) to ``size`` where they differ."""
    out = np.empty((len(paths), 3, size[1], size[0]), dtype=np.uint8)
    for index, path in enumerate(paths):
        image = read_rgb(path)
        if image.size != size:
            image = image.resize(size, Image.Resampling.BICUBIC)
        out[index] = np.asarray(image).transpose(2, 0, 1)
    return out


def judgment_arrays(judgments: Judgments, rows: np.ndarray, size: tuple[int, int]) -> dict:
    """The pool arrays of ``rows`` (see the module docstring)."""
    picked = {
        part: pixels([getattr(judgments, part)[i] for i in rows], size)
        for part in tqdm(("ref", "p0", "p1"), desc="judgment images", unit="part")
    }
    count = len(rows)
    return {
        **picked,
        "ref_index": np.asarray(rows, dtype=np.int64),
        "triplet": np.arange(count, dtype=np.int64),
        "d0": np.full(count, -1, dtype=np.int64),
        "d1": np.full(count, -1, dtype=np.int64),
        "params0": np.zeros((count, 2)),
        "params1": np.zeros((count, 2)),
        "judge": np.asarray(judgments.judge[rows], dtype=np.float64),
    }


def build_judgment_draw(
    section: Mapping[str, Any],
    out_dir: str | Path,
    *,
    split: str,
    seed: int,
    shard_size: int,
    root: str | Path = ".",
    writer: str = "",
) -> dict:
    """Write the ``split`` rows of the configured judgments as pool draw 0; the manifest."""
    judgments = read_configured(section, root)
    rows = configured_splits(judgments, section, seed)[split]
    size = square_size(judgments, section["resize"], RESIZE_FIX)
    arrays = judgment_arrays(judgments, rows, size)
    spec = PoolSpec(
        split,
        0,
        len(rows),
        shard_size,
        seed,
        size[0],
        array_sha256(np.stack([arrays["ref"], arrays["p0"], arrays["p1"]])),
        {"names": [], "ranges": {}, "plugins": {}, "judgments": judgments.source},
    )
    return write_arrays_draw(arrays, out_dir, spec, writer)
