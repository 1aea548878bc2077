"""Summary of per-item evaluation files: numbers against hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dpsim import aggregate, io
from dpsim.evaluate import COLUMNS


def _rows(**fixed) -> dict:
    untrained = fixed.get("variant") == "baseline"
    return {
        "network": "alexnet",
        "variant": "lin",
        "context": "c000",
        "seed": 0,
        "checkpoint": "none" if untrained else "last",
        "votes": float("nan"),
        **fixed,
    }


def _items() -> tuple[pd.DataFrame, pd.DataFrame]:
    trained = pd.DataFrame(
        [
            {
                **_rows(
                    dataset="context",
                    kind="2afc",
                    subset="c000",
                    item=i,
                    d0=0.1,
                    d1=0.2,
                    judge=j,
                    same=np.nan,
                    score=s,
                )
            }
            for i, (j, s) in enumerate([(0.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.0, 1.0)])
        ]
        + [
            {
                **_rows(
                    dataset="bapps",
                    kind="jnd",
                    subset="traditional",
                    item=i,
                    d0=d,
                    d1=np.nan,
                    judge=np.nan,
                    same=m,
                    score=np.nan,
                )
            }
            for i, (d, m) in enumerate([(0.1, 1.0), (0.2, 0.0), (0.3, 1.0)])
        ]
    )
    untrained = pd.DataFrame(
        [
            {
                **_rows(
                    variant="baseline",
                    context="all",
                    dataset="context",
                    kind="2afc",
                    subset=c,
                    item=0,
                    d0=0.3,
                    d1=0.1,
                    judge=1.0,
                    same=np.nan,
                    score=1.0,
                )
            }
            for c in ("c000", "c001")
        ]
    )
    return trained[list(COLUMNS)], untrained[list(COLUMNS)]


def test_summary_by_hand(tmp_path):
    trained, untrained = _items()
    io.write_parquet(trained, tmp_path / "a.parquet")
    io.write_parquet(untrained, tmp_path / "b.parquet")
    summary = aggregate.write_summary(
        [tmp_path / "a.parquet", tmp_path / "b.parquet"], tmp_path / "summary.parquet"
    )
    assert list(summary.columns) == list(aggregate.SUMMARY_COLUMNS)
    rows = {(r.variant, r.context, r.subset): (r.score, r.n) for r in summary.itertuples()}
    assert rows[("lin", "c000", "c000")] == (0.75, 4)
    # JND: ranks 0.1 (same), 0.2 (not), 0.3 (same): precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    # -> envelope 1 up to recall 1/2, then 2/3: AP = 0.5 * 1 + 0.5 * 2/3
    assert rows[("lin", "c000", "traditional")] == (pytest.approx(0.5 + 1 / 3), 3)
    # the untrained metric's context rows move to the context that scored them
    assert rows[("baseline", "c000", "c000")] == (1.0, 1)
    assert rows[("baseline", "c001", "c001")] == (1.0, 1)
    assert pd.read_parquet(tmp_path / "summary.parquet").equals(summary)


def test_no_files_is_an_error():
    with pytest.raises(ValueError, match="no evaluation files"):
        aggregate.read_items([])
