"""All per-item evaluation files -> ``results/summary.parquet``, one row per scored subset.

Columns: ``network``, ``variant``, ``context``, ``seed``, ``checkpoint`` (``last``, ``best``
or ``none``, see :mod:`dpsim.evaluate`), ``dataset``, ``kind``, ``subset``, ``score`` (mean
2AFC score, or JND mAP), ``n`` (items). For context test rows the ``context`` column is the
context whose labels scored them, so an untrained metric (evaluated once, context ``all``) gets
one row per context beside the adapted metrics of that context; BAPPS rows keep the metric's own
context (``all`` for untrained metrics).

The files are read as one pyarrow dataset (only the needed columns), which stays fast with
thousands of files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads

from dpsim import io, scoring

KEYS = ("network", "variant", "context", "seed", "checkpoint", "dataset", "kind", "subset")
SUMMARY_COLUMNS = (*KEYS, "score", "n")
_READ = (*KEYS, "d0", "same", "score")


def read_items(
    paths: Sequence[str | Path], columns: Sequence[str] = _READ, dataset: str | None = None
) -> pd.DataFrame:
    """The per-item rows of ``paths``: only ``columns`` (by default those the summary needs),
    and only the rows of ``dataset`` (``context`` or ``bapps``) when given."""
    if not paths:
        raise ValueError("no evaluation files to summarise")
    rows = None if dataset is None else pads.field("dataset") == dataset
    files = pads.dataset([str(p) for p in paths], format="parquet")
    return files.to_table(columns=list(columns), filter=rows).to_pandas()


def by_scoring_context(items: pd.DataFrame) -> pd.DataFrame:
    """A copy where context test rows name the context that scored them in ``context``.

    An untrained metric is evaluated once (context ``all``) with one subset per context; its
    context rows then sit beside the adapted metrics of that context.
    """
    items = items.copy()
    on_context = items["dataset"] == "context"
    items.loc[on_context, "context"] = items.loc[on_context, "subset"]
    return items


def summarise_items(items: pd.DataFrame) -> pd.DataFrame:
    """One row per subset: 2AFC means (vectorised) and JND average precision (per group)."""
    items = by_scoring_context(items)
    keys = list(KEYS)
    two_afc = items[items["kind"] == "2afc"].groupby(keys, sort=True, observed=True)["score"]
    parts = [two_afc.agg(score="mean", n="size").reset_index()]
    jnd = items[items["kind"] == "jnd"]
    if len(jnd):
        rows = [
            (*key, scoring.jnd_average_precision(group["d0"], group["same"]), len(group))
            for key, group in jnd.groupby(keys, sort=True, observed=True)
        ]
        parts.append(pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)))
    summary = pd.concat(parts, ignore_index=True)
    return summary.sort_values(keys, ignore_index=True)[list(SUMMARY_COLUMNS)]


def write_summary(paths: Sequence[str | Path], out_path: str | Path) -> pd.DataFrame:
    """Summarise every evaluation file into ``out_path`` (atomic); returns the summary."""
    summary = summarise_items(read_items(paths))
    io.write_parquet(summary, out_path)
    return summary


_LOG_PATH = re.compile(
    r"(?P<network>[^/]+)/(?P<variant>[^/]+)/(?P<context>[^/]+)/seed(?P<seed>\d+)$"
)


def read_training_logs(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Training logs ``.../{network}/{variant}/{context}/seed{seed}/log.parquet``, concatenated.

    The metric's network, variant and seed come from the folder names the workflow writes.
    """
    frames = []
    for path in paths:
        match = _LOG_PATH.search(Path(path).parent.as_posix())
        if match is None:
            raise ValueError(f"{path}: not under {{network}}/{{variant}}/{{context}}/seed{{seed}}/")
        frame = pd.read_parquet(path)
        frames.append(
            frame.assign(
                network=match["network"], variant=match["variant"], seed=int(match["seed"])
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
