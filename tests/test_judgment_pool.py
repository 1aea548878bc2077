"""A judgments context: the user's table as train / val / test pool draws, checked before jobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpsim import preflight
from dpsim.config import ConfigError, validate_config
from dpsim.contexts import contexts_from_config, rankings_table
from dpsim.data.judgment_fixture import write_judgment_fixture
from dpsim.data.judgment_pool import build_judgment_draw
from dpsim.data.pool import load_pool


def write_judgments(folder: Path, count: int = 60, size: int = 32, seed: int = 0) -> Path:
    """The judgment fixture under other column names (read through the column mapping)."""
    header = ("reference", "first", "second", "share")
    return write_judgment_fixture(folder, count, size, seed, header)


COLUMNS = {"ref": "reference", "p0": "first", "p1": "second", "judge": "share"}


def _config(path: Path, **judgments) -> dict:
    section = {"path": str(path), "columns": COLUMNS, **judgments}
    return validate_config(
        {"contexts": {"source": "judgments", "judgments": section}, "pool": {"train_draws": 1}}
    )


def test_the_splits_become_pool_draws_labelled_by_the_judges(tmp_path):
    path = write_judgments(tmp_path)
    config = _config(path)
    section = config["contexts"]["judgments"]
    sizes = {}
    for split in ("train", "val", "test"):
        build_judgment_draw(section, tmp_path / split, split=split, seed=0, shard_size=16)
        drawn = load_pool(tmp_path / split)
        sizes[split] = len(drawn)
        assert drawn.ref.shape[1:] == (3, 32, 32) and drawn.distortions == ()
        assert np.all((drawn.judge >= 0) & (drawn.judge <= 1))
        assert drawn.labels(()).tolist() == drawn.judge.tolist()  # no ranking: the judges
        row = int(drawn.ref_index[0])  # the CSV row the first triplet came from
        source = np.asarray(Image.open(tmp_path / f"images/a{row}.png")).transpose(2, 0, 1)
        assert np.array_equal(drawn.p0[0], source)
    assert sizes == {"train": 36, "val": 12, "test": 12}
    (context,) = contexts_from_config(config["contexts"])
    assert context.name == "c000" and context.ranking == ()
    table = rankings_table([context], None)
    assert table["order_text"].item() == "people's judgments" and table["footrule"].isna().all()


def test_resize_brings_every_image_to_one_side(tmp_path):
    path = write_judgments(tmp_path, count=30)
    section = _config(path, resize=20, min_per_split=4)["contexts"]["judgments"]
    build_judgment_draw(section, tmp_path / "test", split="test", seed=1, shard_size=64)
    assert load_pool(tmp_path / "test").ref.shape[1:] == (3, 20, 20)


def test_bad_judgments_stop_the_run_before_any_job(tmp_path):
    path = write_judgments(tmp_path, count=30)
    assert [c.failed for c in preflight.judgments_checks(_config(path, min_per_split=4))] == [False]
    (tmp_path / "images" / "b3.png").unlink()
    (check,) = preflight.judgments_checks(_config(path, min_per_split=4))
    assert check.failed and "row 5" in check.message and "b3.png" in check.message
    few = write_judgments(tmp_path / "few", count=10)
    (check,) = preflight.judgments_checks(_config(few))
    assert check.failed and "each split needs at least 8" in check.message
    with pytest.raises(ConfigError, match=r"pool\.train_draws: 2"):
        validate_config({"contexts": {"source": "judgments", "judgments": {"path": "x.csv"}}})
    with pytest.raises(ConfigError, match="no file or folder is given"):
        validate_config({"contexts": {"source": "judgments"}, "pool": {"train_draws": 1}})
    with pytest.raises(ConfigError, match=r"sum to 1\.1"):
        _config(path, fractions={"train": 0.7})
