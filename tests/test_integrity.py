"""Records of intermediate files, the readers' checks against them, and the start-up check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dpsim import integrity, io
from dpsim.integrity import CorruptIntermediateError


def _recorded(folder: Path, name: str = "x.npz") -> Path:
    path = folder / name
    io.write_npz(path, a=np.arange(1000, dtype=np.float32))
    integrity.write_record(path, "pool_statistics")
    return path


def _flip(path: Path, offset: int = 200) -> None:
    """Change one byte in place (same size, so only the sha256 or the zip CRC can tell)."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_record_holds_size_sha256_and_rule(tmp_path):
    path = _recorded(tmp_path)
    record = json.loads((tmp_path / "x.npz.record.json").read_text())
    assert record["bytes"] == path.stat().st_size and record["rule"] == "pool_statistics"
    assert record == {**integrity.file_record(path), "rule": "pool_statistics"}
    with integrity.reading(path) as digest:
        assert digest == record["sha256"]


def test_a_truncated_file_is_named_with_its_rule_and_fix(tmp_path):
    path = _recorded(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(CorruptIntermediateError) as caught, integrity.reading(path):
        pass
    message = str(caught.value)
    assert f"{path} is corrupt: 100 bytes where its writer recorded {size:,}" in message
    assert "x.npz.record.json" in message and "the rule pool_statistics" in message
    assert f"delete {path.absolute()} and run snakemake again" in message
    assert caught.value.findings[0].rule == "pool_statistics"


def test_a_file_changed_in_place_differs_in_sha256(tmp_path):
    path = _recorded(tmp_path)
    _flip(path)
    sha256_differs = pytest.raises(CorruptIntermediateError, match=r"sha256 \w+\.\.\. where its")
    with sha256_differs, integrity.reading(path):
        pass
    with integrity.reading(path, sha256=False) as digest:  # the size alone cannot tell
        assert digest is None


def test_a_file_without_record_is_still_named_when_unreadable(tmp_path):
    path = tmp_path / "old.npz"
    io.write_npz(path, a=np.arange(10))  # written before records existed
    with integrity.reading(path) as digest:
        assert digest == integrity.file_record(path)["sha256"]
    with open(path, "r+b") as handle:
        handle.truncate(50)
    unreadable = pytest.raises(CorruptIntermediateError, match=r"cannot be read \(BadZipFile")
    with unreadable, integrity.reading(path), np.load(path) as data:
        data["a"]
    absent = tmp_path / "absent.npz"
    with pytest.raises(FileNotFoundError), integrity.reading(absent), np.load(absent):
        pass  # a missing file is missing, not corrupt


def test_the_start_up_check_lists_every_size_difference(tmp_path):
    good, cut = _recorded(tmp_path, "good.npz"), _recorded(tmp_path, "cut.npz")
    with open(cut, "r+b") as handle:
        handle.truncate(10)
    folder = tmp_path / "draw0"
    folder.mkdir()
    shard = folder / "shard_00000.npz"
    shard.write_bytes(b"12345")
    manifest = {"shards": [{**integrity.file_record(shard), "triplets": 1}], "rule": "pool_draw"}
    io.write_json(manifest, folder / "manifest.json")
    shard.write_bytes(b"123")
    empty = tmp_path / "empty"
    empty.mkdir()
    paths = [good, cut, folder, empty, tmp_path / "not_yet_built.npz"]
    findings = integrity.check_sizes(paths)
    assert [(f.path, f.rule, Path(f.rebuild)) for f in findings] == [
        (str(cut), "pool_statistics", cut),
        (str(shard), "pool_draw", folder),
        (str(empty), "", empty),
    ]
    with pytest.raises(CorruptIntermediateError, match="3 intermediate files") as caught:
        integrity.stop_if_corrupt(paths)
    assert f"delete {folder.absolute()} and run snakemake again" in str(caught.value)
    integrity.stop_if_corrupt([good, tmp_path / "not_yet_built.npz"])
