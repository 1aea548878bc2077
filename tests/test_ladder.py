"""The adaptation ladder's trade-off table, its summary, its figure and its report section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dpsim import figures
from dpsim.ladder import TRADEOFF_COLUMNS, ladder_summary, tradeoff_table
from dpsim.report.ladder import ladder_findings, ladder_section


def _context_tests():
    rows = []
    for variant, gains in (("lin", (0.02, 0.04, 0.06)), ("mix", (0.10, 0.20))):
        for k, gain in enumerate(gains):
            rows.append(
                {"network": "alexnet", "variant": variant, "seed": 0, "context": f"c{k:03d}"}
                | {"effect": gain, "improved_significant": gain > 0.05}
            )
    return pd.DataFrame(rows)


def _deltas():
    rows = []
    for variant, contexts in (("lin", 3), ("mix", 2)):
        for k in range(contexts):
            for kind, subset, delta in (
                ("2afc", "a", 0.01 * k),
                ("2afc", "b", -0.03),
                ("jnd", "a", 0.005),
            ):
                rows.append(
                    {"network": "alexnet", "variant": variant, "seed": 0, "context": f"c{k:03d}"}
                    | {"kind": kind, "subset": subset, "delta": delta}
                )
    return pd.DataFrame(rows)


def _logs():
    rows = []
    for variant, contexts, numbers in (("lin", 3, 100), ("mix", 2, 900)):
        for k in range(contexts):
            for epoch, seconds in ((0, 2.0), (1, 4.0)):
                rows.append(
                    {"network": "alexnet", "variant": variant, "seed": 0, "context": f"c{k:03d}"}
                    | {"epoch": epoch, "seconds": seconds}
                    | {"trained_parameters": numbers, "job_contexts": contexts}
                )
    return pd.DataFrame(rows)


def test_the_tradeoff_joins_gain_bapps_change_and_cost_per_context():
    table = tradeoff_table(_context_tests(), _deltas(), _logs())
    assert list(table.columns) == list(TRADEOFF_COLUMNS) and len(table) == 5
    row = table[(table["variant"] == "lin") & (table["context"] == "c002")].iloc[0]
    assert row["context_gain"] == pytest.approx(0.06)
    assert row["bapps_2afc_change"] == pytest.approx((0.02 - 0.03) / 2)  # mean of subsets a, b
    assert row["bapps_jnd_change"] == pytest.approx(0.005)
    assert row["job_seconds"] == pytest.approx(6.0) and row["seconds_per_context"] == 2.0
    assert row["trained_parameters"] == 100


def test_costs_missing_from_old_logs_are_missing_not_zero():
    table = tradeoff_table(_context_tests(), _deltas(), _logs().drop(columns="job_contexts"))
    assert table["job_seconds"].isna().all() and table["trained_parameters"].isna().all()


def test_the_summary_orders_the_rungs_and_counts_the_bapps_tests():
    tests = pd.DataFrame(
        [
            {"network": "alexnet", "variant": v, "kind": "2afc", "subset": s, "non_inferior": ni}
            for v, results in (("mix", (True, False)), ("lin", (True, True)))
            for s, ni in zip(("a", "b"), results, strict=True)
        ]
    )
    summary = ladder_summary(tradeoff_table(_context_tests(), _deltas(), _logs()), tests)
    assert summary["variant"].tolist() == ["lin", "mix"]
    mix = summary.iloc[1]
    assert mix["median_context_gain"] == pytest.approx(0.15) and mix["significant"] == 2
    assert (mix["bapps_non_inferior"], mix["bapps_subsets"]) == (1, 2)
    assert mix["seconds_per_context"] == pytest.approx(3.0)
    (sentence,) = ladder_findings(tradeoff_table(_context_tests(), _deltas(), _logs()), tests)
    assert "lin +0.040 on its 3 contexts" in sentence and "mix +0.150 on its 2" in sentence
    assert "900 trained numbers" in sentence
    section = ladder_section(tradeoff_table(_context_tests(), _deltas(), _logs()), tests)
    assert "1 of 2" in section.body and "3.0 s" in section.body


def test_the_tradeoff_figure_draws_every_network_and_says_when_empty():
    table = tradeoff_table(_context_tests(), _deltas(), _logs())
    figure = figures.adaptation_tradeoff(table, 0.02)
    (axis,) = figure.axes
    assert axis.get_title() == "alexnet"
    dashed = [line for line in axis.get_lines() if line.get_linestyle() == "--"]
    assert [line.get_xdata()[0] for line in dashed] == [-0.02]
    empty = figures.adaptation_tradeoff(table.assign(bapps_2afc_change=np.nan), 0.02)
    assert "no adapted metric" in empty.texts[0].get_text()
