"""Extra human 2AFC sets beside BAPPS: packing, config and preflight checks, their statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from dpsim import preflight
from dpsim.analysis import StatsSettings, judgment_set_tests
from dpsim.config import ConfigError, validate_config
from dpsim.data.bapps import BappsDataset, evaluation_entries
from dpsim.data.judgment_fixture import write_judgment_fixture, write_nights_fixture
from dpsim.data.judgment_sets import pack_judgment_sets
from dpsim.report import judgment_set_score_table
from dpsim.report.findings import judgment_set_findings


def _sets(**sets) -> dict:
    return validate_config({"evaluate": {"judgment_sets": sets}})["evaluate"]["judgment_sets"]


def test_a_nights_table_packs_its_test_rows_with_votes_beside_a_csv(tmp_path):
    nights = write_nights_fixture(tmp_path / "nights", count=24, size=32)
    mine = write_judgment_fixture(tmp_path / "mine", count=10, size=16)
    sets = _sets(
        nights={"path": str(nights), "format": "nights", "split": "test"},
        mine={"path": str(mine), "resize": 32},
    )
    index = pack_judgment_sets(sets, tmp_path / "cache")
    entries = {e["name"]: e for e in evaluation_entries(tmp_path / "cache")}
    assert entries["nights"] == {
        "kind": "2afc", "split": "test", "name": "nights", "items": 8, "resize": "none",
        "dataset": "nights",
    }  # fmt: skip
    assert entries["mine"]["split"] == "all" and entries["mine"]["resize"] == "PIL bicubic"
    assert index["judgment_sets"] == {"mine": str(mine), "nights": str(nights)}
    data = BappsDataset(tmp_path / "cache", "2afc", "test", "nights")
    table = pd.read_csv(nights)
    chosen = table[table["split"] == "test"]  # every third row from row 2
    assert data.dataset == "nights" and data.images.shape == (8, 3, 3, 32, 32)
    np.testing.assert_array_equal(data.labels, chosen["right_vote"])
    np.testing.assert_array_equal(data.votes, chosen["votes"])
    assert data.meta["rows"][0] == "row 4"  # the spreadsheet row of the first test triplet
    small = BappsDataset(tmp_path / "cache", "2afc", "all", "mine")
    assert small.images.shape == (10, 3, 3, 32, 32) and small.votes is None


def test_bad_judgment_sets_are_config_errors_naming_the_key():
    with pytest.raises(ConfigError) as error:
        _sets(
            bapps={"path": "a.csv"},
            mine={"path": "b.csv", "split": "test", "min_votes": 3},
            folder={"path": "c", "format": "bapps", "split": "val"},
        )
    text = str(error.value)
    assert "evaluate.judgment_sets.bapps: the name 'bapps' is taken" in text
    assert (
        "evaluate.judgment_sets.mine.split: needs evaluate.judgment_sets.mine.columns.split" in text
    )
    assert "evaluate.judgment_sets.mine.min_votes: needs" in text
    assert "evaluate.judgment_sets.folder: a BAPPS-layout folder has no split" in text
    with pytest.raises(ConfigError, match="is not allowed; use a lowercase name"):
        _sets(NIGHTS={"path": "a.csv"})
    with pytest.raises(ConfigError, match="'path' is a required property"):
        _sets(nights={"format": "nights"})


def test_preflight_reads_every_set_before_any_job(tmp_path):
    nights = write_nights_fixture(tmp_path / "nights", count=12, size=32)
    section = {"path": str(nights), "format": "nights", "split": "val"}
    config = validate_config({"evaluate": {"judgment_sets": {"nights": section}}})
    (check,) = preflight.judgment_set_checks(config, tmp_path)
    assert check.ok and "4 triplets scored (rows: val), 32 px" in check.message
    (tmp_path / "nights/distort/000/004_1.png").unlink()  # row 4 is a val row: its p1
    (check,) = preflight.judgment_set_checks(config, tmp_path)
    assert not check.ok and "evaluate.judgment_sets.nights:" in check.message
    assert "row 6" in check.message and "004_1.png" in check.message
    assert check in preflight.startup_checks(config, tmp_path)
    no_split = {"path": str(write_judgment_fixture(tmp_path / "plain", count=4)), "split": "test"}
    no_split["columns"] = {"split": "nothing"}
    config = validate_config({"evaluate": {"judgment_sets": {"plain": no_split}}})
    (check,) = preflight.judgment_set_checks(config, tmp_path)
    assert not check.ok and "nothing" in check.message


def _summary(scores: dict[str, list[float]], baseline: float) -> pd.DataFrame:
    """A summary of one network: the baseline and trained variants on the set ``nights``."""
    rows = [("alexnet", "baseline", "all", 0, "none", baseline)]
    for variant, values in scores.items():
        rows += [
            ("alexnet", variant, f"c{k:03d}", 0, "last", value) for k, value in enumerate(values)
        ]
    frame = pd.DataFrame(
        rows, columns=["network", "variant", "context", "seed", "checkpoint", "score"]
    )
    frame = frame.assign(dataset="nights", kind="2afc", subset="nights", n=40)
    bapps = frame.assign(dataset="bapps", subset="traditional")
    return pd.concat([frame, bapps], ignore_index=True)


def test_judgment_set_tests_are_the_bapps_tests_of_each_set():
    lin = [0.70, 0.72, 0.69, 0.71, 0.73]
    summary = _summary({"lin": lin}, baseline=0.70)
    settings = StatsSettings(margin=0.02)
    (row,) = judgment_set_tests(summary, settings).itertuples()
    deltas = np.asarray(lin) - 0.70
    assert row.dataset == "nights" and row.hypothesis.endswith("on nights (alexnet)")
    assert row.mean_delta == pytest.approx(deltas.mean()) and row.n == 5
    assert row.score == pytest.approx(np.mean(lin)) and row.baseline_score == pytest.approx(0.70)
    expected = scipy_stats.ttest_1samp(deltas + 0.02, 0.0, alternative="greater").pvalue
    assert row.ni_p == pytest.approx(expected) and row.non_inferior == (expected < 0.05)
    assert judgment_set_tests(summary[summary["dataset"] == "bapps"], settings).empty
    (sentence,) = judgment_set_findings(judgment_set_tests(summary, settings), 0.02, 0.05)
    assert sentence.startswith("On nights (2afc), lin (alexnet) scored 0.7100 against the")
    assert "non-inferiority within 0.02 shown" in sentence
    table = judgment_set_score_table(summary)
    assert list(table.columns) == ["network", "variant", "nights (n = 40)"]
    assert table.set_index("variant").loc["lin", "nights (n = 40)"] == pytest.approx(0.71)
