"""Users' 2AFC judgments: a CSV through a column mapping, NIGHTS's layout, BAPPS's folders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dpsim.judgments import (
    Columns,
    JudgmentsError,
    image_size,
    read_bapps_2afc_folder,
    read_csv_judgments,
    split_indices,
)


def _png(path, side=16, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((side, side, 3), value, dtype=np.uint8)).save(path)
    return path


def _csv_set(root, rows=6, **overrides):
    """A CSV in dpsim's default layout with its images; ``overrides`` replace columns."""
    records = []
    for k in range(rows):
        for part in ("ref", "p0", "p1"):
            _png(root / "images" / f"{part}{k}.png", value=k)
        records.append(
            {"ref": f"images/ref{k}.png", "p0": f"images/p0{k}.png", "p1": f"images/p1{k}.png"}
        )
    table = pd.DataFrame(records).assign(judge=np.linspace(0, 1, rows))
    for column, values in overrides.items():
        table[column] = values
    table.to_csv(root / "judgments.csv", index=False)
    return root / "judgments.csv"


def test_a_csv_reads_as_absolute_paths_shares_and_rows(tmp_path):
    path = _csv_set(tmp_path)
    judgments = read_csv_judgments(path)
    assert len(judgments) == 6 and judgments.rows[0] == "row 2"
    assert judgments.ref[3] == tmp_path / "images" / "ref3.png" and judgments.ref[3].is_file()
    np.testing.assert_allclose(judgments.judge, np.linspace(0, 1, 6))
    assert judgments.votes is None and judgments.split is None
    assert not judgments.binary  # shares: a paired test on per-item scores, not McNemar
    assert image_size(judgments) == (16, 16)


def test_columns_map_by_name_or_position(tmp_path):
    path = _csv_set(tmp_path)
    table = pd.read_csv(path).rename(columns={"ref": "reference", "judge": "p1_share"})
    table.to_csv(path, index=False)
    by_name = read_csv_judgments(path, Columns(ref="reference", judge="p1_share"))
    by_position = read_csv_judgments(path, Columns(ref=0, p0=1, p1=2, judge=3))
    assert by_name.ref == by_position.ref
    np.testing.assert_array_equal(by_name.judge, by_position.judge)
    with pytest.raises(JudgmentsError, match=r"no column 'ref' for ref.*'reference'"):
        read_csv_judgments(path)
    with pytest.raises(JudgmentsError, match=r"column 9, but the table has 4 columns"):
        read_csv_judgments(path, Columns(ref=9, judge="p1_share"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"judge": [0, 0.5, 1.5, 1, 0, "x"]},
            r"2 judgments outside \[0, 1\]: row 4: '1\.5'; row 7: 'x'",
        ),
        (
            {
                "p1": [
                    "images/p10.png",
                    "images/gone.png",
                    *[f"images/p1{k}.png" for k in (2, 3, 4, 5)],
                ]
            },
            r"1 p1 images missing: row 3: .*gone\.png.*relative to the CSV's folder",
        ),
        (
            {
                "p0": [
                    "images/p00.png",
                    "images/p01.png",
                    "images/p00.png",
                    *[f"images/p0{k}.png" for k in (3, 4, 5)],
                ],
                "p1": [
                    "images/p10.png",
                    "images/p11.png",
                    "images/p10.png",
                    *[f"images/p1{k}.png" for k in (3, 4, 5)],
                ],
                "ref": [
                    "images/ref0.png",
                    "images/ref1.png",
                    "images/ref0.png",
                    *[f"images/ref{k}.png" for k in (3, 4, 5)],
                ],
            },
            r"1 repeated triplets .*: row 4 repeats row 2",
        ),
    ],
)
def test_bad_rows_are_named_with_their_row_and_value(tmp_path, overrides, message):
    with pytest.raises(JudgmentsError, match=message):
        read_csv_judgments(_csv_set(tmp_path, **overrides))


def test_vote_counts_and_a_split_column_are_read_and_checked(tmp_path):
    path = _csv_set(
        tmp_path, votes=[5, 6, 7, 6, 3, 9], split=["train", "train", "Val", "test", "val", "test"]
    )
    judgments = read_csv_judgments(path, Columns(votes="votes", split="split"))
    assert judgments.votes.tolist() == [5, 6, 7, 6, 3, 9]
    splits = split_indices(judgments)
    assert {k: v.tolist() for k, v in splits.items()} == {
        "train": [0, 1],
        "val": [2, 4],
        "test": [3, 5],
    }
    with pytest.raises(JudgmentsError, match=r"test: 2 \(each split needs at least 3\)"):
        split_indices(judgments, minimum=3)
    bad = _csv_set(tmp_path, votes=[1, 2, 0, 2.5, 1, 1])
    with pytest.raises(JudgmentsError, match=r"2 vote counts .*row 4: 0.*row 5: 2\.5"):
        read_csv_judgments(bad, Columns(votes="votes"))


def test_the_seeded_split_is_disjoint_complete_and_repeatable(tmp_path):
    judgments = read_csv_judgments(_csv_set(tmp_path, rows=20))
    first = split_indices(judgments, (0.5, 0.25, 0.25), seed=3)
    assert [len(first[s]) for s in ("train", "val", "test")] == [10, 5, 5]
    everything = np.concatenate(list(first.values()))
    assert sorted(everything.tolist()) == list(range(20))
    again = split_indices(judgments, (0.5, 0.25, 0.25), seed=3)
    assert all(np.array_equal(first[s], again[s]) for s in first)
    other = split_indices(judgments, (0.5, 0.25, 0.25), seed=4)
    assert not np.array_equal(first["train"], other["train"])
    with pytest.raises(JudgmentsError, match=r"20 triplets split by fractions .* val: 0"):
        split_indices(judgments, (0.95, 0.0, 0.05))


def test_mixed_image_sizes_need_a_resize(tmp_path):
    path = _csv_set(tmp_path)
    _png(tmp_path / "images" / "p03.png", side=24)
    judgments = read_csv_judgments(path)
    with pytest.raises(JudgmentsError, match=r"different sizes, 16x16 .* and 24x24 \(row 5: .*p03"):
        image_size(judgments)
    assert image_size(judgments, resize=64) == (64, 64)


def test_nights_layout_read_by_position_with_its_unanimous_rows(tmp_path):
    # NIGHTS's data.csv: id, two vote shares, the prompt, ref / left / right paths, votes,
    # split, is_imagenet; images under ref/NNN/MMM.png and distort/NNN/MMM_0.png, MMM_1.png.
    root = tmp_path / "nights"
    records = []
    for k in range(8):
        ref = _png(root / "ref" / "000" / f"{k:03d}.png", value=k)
        left = _png(root / "distort" / "000" / f"{k:03d}_0.png", value=k + 1)
        right = _png(root / "distort" / "000" / f"{k:03d}_1.png", value=k + 2)
        share = k % 2
        records.append(
            {
                "id": k,
                "left_vote": 1 - share,
                "right_vote": share,
                "prompt": "an image of a cat",
                "ref_path": str(ref.relative_to(root)),
                "left_path": str(left.relative_to(root)),
                "right_path": str(right.relative_to(root)),
                "votes": 4 if k in (0, 7) else 6,
                "split": ["train", "train", "val", "val", "test", "test", "train", "test"][k],
                "is_imagenet": k % 3 == 0,
            }
        )
    pd.DataFrame(records).to_csv(root / "data.csv", index=False)
    judgments = read_csv_judgments(root / "data.csv", Columns.nights(), min_votes=6)
    assert len(judgments) == 6 and judgments.binary  # the 2 rows with 4 votes are left out
    assert judgments.rows[0] == "row 3" and judgments.p1[2] == root / "distort/000/003_1.png"
    np.testing.assert_array_equal(judgments.judge, [1, 0, 1, 0, 1, 0])
    assert [len(v) for v in split_indices(judgments).values()] == [2, 2, 2]
    with pytest.raises(JudgmentsError, match="no row has 7 or more votes"):
        read_csv_judgments(root / "data.csv", Columns.nights(), min_votes=7)
    (root / "distort" / "000" / "005_1.png").unlink()  # k = 5: row 7 of the CSV
    with pytest.raises(JudgmentsError, match=r"1 p1 images missing: row 7: .*005_1\.png"):
        read_csv_judgments(root / "data.csv", Columns.nights(), min_votes=6)


def test_a_bapps_layout_folder_reads_as_judgments(tmp_path):
    folder = tmp_path / "2afc" / "val" / "mine"
    for k in range(3):
        for part in ("ref", "p0", "p1"):
            _png(folder / part / f"{k:06d}.png", value=10 * k)
        (folder / "judge").mkdir(exist_ok=True)
        np.save(folder / "judge" / f"{k:06d}.npy", np.array([0.25 * k]))
    judgments = read_bapps_2afc_folder(folder)
    assert judgments.rows == ("000000", "000001", "000002")
    np.testing.assert_allclose(judgments.judge, [0, 0.25, 0.5])
    assert judgments.p0[2] == folder / "p0" / "000002.png"
    (folder / "judge" / "000001.npy").unlink()
    with pytest.raises(JudgmentsError, match=r"judge lacks 1 item"):
        read_bapps_2afc_folder(folder)
