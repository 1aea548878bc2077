"""Feature cache files: what they hold, their record, and the named error of a damaged one."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from dpsim import feature_cache
from dpsim.integrity import CorruptIntermediateError

STUB_METRIC = SimpleNamespace(
    describe=lambda: {"network": "stub", "taps": ["a", "b"]},
    backbone=SimpleNamespace(channels=(2, 3)),
)


def _write(path, rows: int = 40):
    rng = np.random.default_rng(0)
    s0, s1 = (rng.random((rows, 5), dtype=np.float32) for _ in range(2))
    pool = SimpleNamespace(
        d0=np.zeros(rows, np.int64), d1=np.ones(rows, np.int64), distortions=("blur", "jpeg")
    )
    feature_cache.write_cache(path, STUB_METRIC, pool, s0, s1, writer="pool_statistics")
    return s0, s1


def test_a_cache_reads_back_with_its_sha256(tmp_path):
    path = tmp_path / "train_draw0.npz"
    s0, s1 = _write(path)
    cache = feature_cache.read_cache(path)
    assert np.array_equal(cache["s0"], s0) and np.array_equal(cache["s1"], s1)
    assert cache["channels"] == (2, 3) and cache["metric"]["network"] == "stub"
    assert cache["distortions"] == ("blur", "jpeg")  # the set the ids index travels with them
    record = json.loads((tmp_path / "train_draw0.npz.record.json").read_text())
    assert cache["sha256"] == record["sha256"] and record["rule"] == "pool_statistics"


def test_a_truncated_cache_is_named_with_its_rule_not_a_bad_zip(tmp_path):
    path = tmp_path / "train_draw0.npz"
    _write(path)
    with open(path, "r+b") as handle:
        handle.truncate(300)
    with pytest.raises(CorruptIntermediateError) as caught:
        feature_cache.read_cache(path)
    message = str(caught.value)
    assert f"{path} is corrupt: 300 bytes where its writer recorded" in message
    assert "written by the rule pool_statistics" in message
    assert f"delete {path.absolute()} and run snakemake again" in message


def test_a_cache_changed_in_place_is_caught_by_its_sha256(tmp_path):
    path = tmp_path / "test_draw0.npz"
    _write(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIntermediateError, match="sha256"):
        feature_cache.read_cache(path)


def test_bapps_statistics_are_checked_the_same_way(tmp_path):
    path = tmp_path / "bapps_val.npz"
    arrays = {"2afc:traditional:s0": np.ones((3, 5), np.float32)}
    feature_cache.write_bapps_statistics(path, STUB_METRIC, arrays, writer="evaluation_statistics")
    subsets, description = feature_cache.read_bapps_statistics(path)
    assert list(subsets) == ["2afc:traditional"] and description["network"] == "stub"
    with open(path, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(CorruptIntermediateError, match="the rule evaluation_statistics"):
        feature_cache.read_bapps_statistics(path)


def test_a_cache_without_record_reads_and_is_named_when_damaged(tmp_path):
    path = tmp_path / "old.npz"
    _write(path)
    (tmp_path / "old.npz.record.json").unlink()  # as written before records existed
    assert feature_cache.read_cache(path)["sha256"]
    with open(path, "r+b") as handle:
        handle.truncate(300)
    with pytest.raises(CorruptIntermediateError, match=r"old\.npz is corrupt: it cannot be read"):
        feature_cache.read_cache(path)
