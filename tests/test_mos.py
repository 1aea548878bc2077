"""MOS data sets: KADID-10k / TID2013 / CSV readers, their errors, pair loading, the fixture."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpsim.correlation import spearman
from dpsim.data.mos import (
    MosSet,
    load_pair_images,
    read_csv_set,
    read_kadid10k,
    read_mos_set,
    read_tid2013,
)
from dpsim.data.mos_fixture import write_mos_fixture


def _image(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


# ---------------------------------------------------------------- KADID-10k


@pytest.fixture
def kadid(tmp_path: Path) -> Path:
    root = tmp_path / "kadid10k"
    for name, color in [
        ("I01.png", (10, 20, 30)),
        ("I02.png", (200, 100, 0)),
        ("I01_01_01.png", (12, 20, 30)),
        ("I01_07_03.png", (40, 40, 40)),
        ("I02_12_05.png", (0, 0, 0)),
    ]:
        _image(root / "images" / name, color)
    (root / "dmos.csv").write_text(
        "dist_img,ref_img,dmos,var\n"
        "I01_01_01.png,I01.png,4.57,0.496\n"
        "I01_07_03.png,I01.png,2.5,0.25\n"
        "I02_12_05.png,I02.png,1.03,0.04\n"
    )
    return root


def test_kadid10k_rows_paths_scores_and_labels(kadid: Path):
    mos_set = read_kadid10k(kadid)
    assert len(mos_set) == 3 and mos_set.name == "kadid10k"
    assert mos_set.higher_is_better is True  # KADID's "dmos" is higher = better
    assert mos_set.reference == (
        kadid / "images/I01.png",
        kadid / "images/I01.png",
        kadid / "images/I02.png",
    )
    assert mos_set.distorted[1] == kadid / "images/I01_07_03.png"
    assert mos_set.mos.tolist() == [4.57, 2.5, 1.03]
    assert mos_set.mos.dtype == np.float64
    assert mos_set.distortion == ("01", "07", "12")
    assert mos_set.root == kadid
    assert read_mos_set({"format": "kadid10k", "path": str(kadid)}).mos.tolist() == [
        4.57,
        2.5,
        1.03,
    ]


def test_kadid10k_bad_distorted_name_names_row_and_field(kadid: Path):
    text = (kadid / "dmos.csv").read_text().replace("I02_12_05.png", "odd.png")
    (kadid / "dmos.csv").write_text(text)
    _image(kadid / "images/odd.png", (0, 0, 0))
    with pytest.raises(ValueError, match=r"dmos\.csv: row 4, field 'dist_img'.*'odd\.png'"):
        read_kadid10k(kadid)


# ---------------------------------------------------------------- TID2013


@pytest.fixture
def tid(tmp_path: Path) -> Path:
    root = tmp_path / "tid2013"
    _image(root / "reference_images/I01.BMP", (50, 60, 70))
    _image(root / "reference_images/I25.BMP", (90, 90, 90))
    _image(root / "distorted_images/i01_01_1.bmp", (52, 60, 70))
    _image(root / "distorted_images/i01_17_5.bmp", (0, 60, 70))
    _image(root / "distorted_images/i25_03_2.bmp", (90, 80, 90))
    (root / "mos_with_names.txt").write_text(
        "5.51429 i01_01_1.bmp\r\n2.10000 i01_17_5.bmp\r\n\r\n4.94286 I25_03_2.BMP\r\n"
    )
    return root


def test_tid2013_matches_names_whatever_their_case(tid: Path):
    mos_set = read_tid2013(tid)
    assert len(mos_set) == 3 and mos_set.higher_is_better is True
    assert mos_set.reference == (
        tid / "reference_images/I01.BMP",
        tid / "reference_images/I01.BMP",
        tid / "reference_images/I25.BMP",
    )
    assert mos_set.distorted == (
        tid / "distorted_images/i01_01_1.bmp",
        tid / "distorted_images/i01_17_5.bmp",
        tid / "distorted_images/i25_03_2.bmp",  # the list says I25_03_2.BMP
    )
    assert mos_set.mos.tolist() == [5.51429, 2.1, 4.94286]
    assert mos_set.distortion == ("01", "17", "03")
    assert mos_set.distortion_names() == ["01", "03", "17"]


def test_tid2013_missing_reference_and_bad_line(tid: Path):
    (tid / "reference_images/I25.BMP").unlink()
    with pytest.raises(FileNotFoundError, match=r"line 4, field 'reference'.*I25"):
        read_tid2013(tid)
    (tid / "mos_with_names.txt").write_text("5.5 i01_01_1.bmp\nfive i01_17_5.bmp\n")
    with pytest.raises(ValueError, match=r"mos_with_names\.txt: line 2, field 'mos'.*'five'"):
        read_tid2013(tid)


# ---------------------------------------------------------------- generic CSV


@pytest.fixture
def csv_set(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    _image(folder / "ref/a.png", (255, 0, 0))
    _image(folder / "ref/b.png", (0, 255, 0), size=(12, 6))
    for name in ("x1", "x2", "x3"):
        _image(folder / f"dist/{name}.png", (0, 0, 255))
    return folder


def _write(folder: Path, text: str) -> Path:
    path = folder / "scores.csv"
    path.write_text(text)
    return path


def test_csv_reads_relative_and_absolute_paths_and_labels(csv_set: Path):
    absolute = csv_set / "dist/x3.png"
    path = _write(
        csv_set,
        "reference,distorted,mos,distortion,extra\n"
        "ref/a.png,dist/x1.png,3.5,blur,1\n"
        ",,,,\n"
        f"ref/b.png,{absolute},-0.25,,2\n",
    )
    mos_set = read_csv_set(path)
    assert mos_set.name == "mine" and mos_set.root == csv_set
    assert mos_set.reference == (csv_set / "ref/a.png", csv_set / "ref/b.png")
    assert mos_set.distorted == (csv_set / "dist/x1.png", absolute)
    assert mos_set.mos.tolist() == [3.5, -0.25]
    assert mos_set.distortion == ("blur", "")


def test_csv_custom_columns_and_direction_through_the_spec(csv_set: Path):
    path = _write(csv_set, "r,d,score\nref/a.png,dist/x1.png,70\nref/a.png,dist/x2.png,20\n")
    spec = {
        "format": "csv",
        "path": str(path),
        "columns": ["r", "d", "score"],
        "higher_is_better": False,
        "name": "dmos-set",
    }
    mos_set = read_mos_set(spec)
    assert (mos_set.name, mos_set.higher_is_better) == ("dmos-set", False)
    assert mos_set.quality.tolist() == [-70.0, -20.0]
    assert mos_set.distortion == ("", "")


@pytest.mark.parametrize(
    ("text", "error", "pattern"),
    [
        ("", ValueError, r"scores\.csv: the file is empty"),
        ("reference,distorted\n", ValueError, r"scores\.csv: row 1 \(header\) lacks the column"),
        ("reference,distorted,mos\n", ValueError, r"scores\.csv: no data rows"),
        (
            "reference,distorted,mos\nref/a.png,dist/x1.png,3\nref/a.png,dist/x2.png,good\n",
            ValueError,
            r"scores\.csv: row 3, field 'mos': expected a number, got 'good'",
        ),
        (
            "reference,distorted,mos\nref/a.png,dist/x1.png,NaN\n",
            ValueError,
            r"scores\.csv: row 2, field 'mos': expected a finite number, got 'NaN'",
        ),
        (
            "reference,distorted,mos\nref/a.png,dist/x1.png,3\nref/a.png,dist/x1.png,4\n",
            ValueError,
            r"scores\.csv: row 3, fields 'reference' and 'distorted': duplicate pair "
            r"\(ref/a\.png, dist/x1\.png\), first given in row 2",
        ),
        (
            "reference,distorted,mos\nref/a.png,,3\n",
            ValueError,
            r"scores\.csv: row 2, field 'distorted': empty",
        ),
        (
            "reference,distorted,mos\nref/a.png,dist/x1.png\n",
            ValueError,
            r"scores\.csv: row 2 has 2 fields, the header has 3",
        ),
    ],
)
def test_csv_errors_name_file_row_and_field(csv_set: Path, text: str, error, pattern: str):
    with pytest.raises(error, match=pattern):
        read_csv_set(_write(csv_set, text))


def test_csv_missing_column_lists_the_header_found(csv_set: Path):
    path = _write(csv_set, "ref,distorted,score\nref/a.png,dist/x1.png,1\n")
    expected = "lacks the column(s) ['reference', 'mos']; found ['ref', 'distorted', 'score']"
    with pytest.raises(ValueError, match=re.escape(expected)):
        read_csv_set(path)


def test_csv_missing_images_lists_five_and_counts_the_rest(csv_set: Path):
    rows = "".join(f"ref/a.png,dist/gone{i}.png,{i}\n" for i in range(7))
    path = _write(csv_set, "reference,distorted,mos\n" + rows)
    with pytest.raises(FileNotFoundError) as caught:
        read_csv_set(path)
    message = str(caught.value)
    assert "scores.csv: 7 image file(s) named in it do not exist" in message
    assert "row 2, field 'distorted':" in message and "gone0.png" in message
    assert "gone4.png" in message and "gone5.png" not in message
    assert message.endswith("and 2 more")


def test_missing_csv_and_unknown_format(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.csv does not exist"):
        read_csv_set(tmp_path / "nowhere.csv")
    with pytest.raises(ValueError, match=r"one of \['csv', 'kadid10k', 'tid2013', 'fixture'\]"):
        read_mos_set({"format": "live", "path": "x"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['columns'\]"):
        read_mos_set({"format": "tid2013", "path": "x", "columns": ["a", "b", "c"]})


# ---------------------------------------------------------------- loading pairs


def test_load_pair_images_shapes_dtype_resize_and_reference_cache(csv_set: Path, monkeypatch):
    Image.new("L", (8, 8), 77).save(csv_set / "dist/x2.png")  # grey image -> RGB
    path = _write(
        csv_set,
        "reference,distorted,mos\n"
        "ref/a.png,dist/x1.png,1\nref/b.png,dist/x2.png,2\nref/a.png,dist/x3.png,3\n",
    )
    mos_set = read_csv_set(path)
    opened: list[str] = []
    original = Image.open

    def counting_open(file, *args, **kwargs):
        opened.append(Path(file).name)
        return original(file, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    reference, distorted = load_pair_images(mos_set, 4, resize="squash")
    assert reference.shape == distorted.shape == (3, 3, 4, 4)
    assert reference.dtype == distorted.dtype == np.uint8
    assert opened.count("a.png") == 1  # each reference decoded once per call
    # solid colours survive the bicubic resize (12x6 -> 4x4 included), grey becomes RGB
    assert (reference[0].reshape(3, -1).T == (255, 0, 0)).all()
    assert (reference[1].reshape(3, -1).T == (0, 255, 0)).all()
    assert (distorted[1] == 77).all()
    part = mos_set.load_pairs(8, start=1, stop=3, resize="squash")[1]
    assert part.shape == (2, 3, 8, 8) and (part[1].reshape(3, -1).T == (0, 0, 255)).all()
    with pytest.raises(ValueError, match=r"rows 2:5 are out of range .* of 3 rows"):
        load_pair_images(mos_set, 4, 2, 5)
    with pytest.raises(ValueError, match=r"resize must be one of keep_aspect, center_crop"):
        load_pair_images(mos_set, 4, resize="stretch")


def test_keep_aspect_refuses_a_set_of_mixed_aspect_ratios(csv_set: Path):
    path = _write(
        csv_set, "reference,distorted,mos\nref/a.png,dist/x1.png,1\nref/b.png,dist/x2.png,2\n"
    )
    with pytest.raises(
        ValueError, match=r"b\.png comes out 4x8 .*a\.png came out 4x4.*center_crop"
    ):
        load_pair_images(read_csv_set(path), 4)


def _bands(path: Path, widths: tuple[int, ...], height: int) -> None:
    """Vertical bands of red, green, blue, ... of the given widths."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    columns = [colours[i] for i, width in enumerate(widths) for _ in range(width)]
    Image.fromarray(np.array([columns] * height, dtype=np.uint8)).save(path)


def test_resize_modes_keep_crop_or_squash_a_wide_image(tmp_path: Path):
    _bands(tmp_path / "wide.png", (3, 6, 3), height=6)  # 12x6: red | green | blue
    _bands(tmp_path / "also_wide.png", (4, 8, 4), height=8)  # 16x8, same aspect ratio
    mos_set = MosSet(
        "w",
        tmp_path,
        [tmp_path / "wide.png"] * 2,
        [tmp_path / "wide.png", tmp_path / "also_wide.png"],
        [1.0, 2.0],
    )
    kept, other = load_pair_images(mos_set, 6)  # short side 6 already: no resampling
    assert kept.shape == other.shape == (2, 3, 6, 12)
    assert (kept[0, :, :, 0] == np.array([[255], [0], [0]])).all()  # red band on the left kept
    assert (other[1].shape == (3, 6, 12)) and (other[1, 0, :, 0] > 200).all()  # 16x8 -> 12x6
    cropped, _ = load_pair_images(mos_set, 6, resize="center_crop")
    assert cropped.shape == (2, 3, 6, 6)
    assert (cropped[0].reshape(3, -1).T == (0, 255, 0)).all()  # columns 3..8: the green band
    squashed, _ = load_pair_images(mos_set, 6, resize="squash")
    assert squashed.shape == (2, 3, 6, 6)
    assert squashed[0, 0, 0, 0] > 200 and squashed[0, 2, 0, -1] > 200  # red left, blue right
    wide_side, _ = load_pair_images(mos_set, 3)  # 12x6 -> 6x3: round(12 * 3 / 6)
    assert wide_side.shape == (2, 3, 3, 6)


def test_load_pair_images_resizes_a_gradient_with_pil_bicubic(tmp_path: Path):
    ramp = np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))  # 8x8 ramp along x
    Image.fromarray(np.stack([ramp] * 3, axis=-1)).save(tmp_path / "ramp.png")
    _image(tmp_path / "flat.png", (9, 9, 9))
    mos_set = MosSet("t", tmp_path, [tmp_path / "ramp.png"], [tmp_path / "flat.png"], [1.0])
    reference, _ = load_pair_images(mos_set, 4, resize="squash")
    row = reference[0, 0, 0].astype(int)
    assert (np.diff(row) > 0).all()  # still a ramp, halved in width
    assert (reference[0, :, 0] == reference[0, :, 3]).all()  # rows identical, channels equal


def test_mos_set_checks_lengths(tmp_path: Path):
    with pytest.raises(ValueError, match=r"got 2, 1, 2 and 2"):
        MosSet("bad", tmp_path, ["a", "b"], ["c"], [1.0, 2.0])


# ---------------------------------------------------------------- the synthetic fixture


@pytest.fixture
def photos() -> np.ndarray:
    """Smooth random images (a low-resolution noise field upsampled), 32x32."""
    generator = np.random.default_rng(3)
    small = generator.integers(0, 256, size=(6, 3, 4, 4), dtype=np.uint8)
    return small.repeat(8, axis=2).repeat(8, axis=3)


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_fixture_is_deterministic_and_reads_back(tmp_path: Path, photos: np.ndarray):
    first = write_mos_fixture(tmp_path / "a", photos, count=40, seed=5)
    second = write_mos_fixture(tmp_path / "b", photos, count=40, seed=5)
    assert _tree_bytes(first) == _tree_bytes(second)
    other = write_mos_fixture(tmp_path / "c", photos, count=40, seed=6)
    assert (other / "mos.csv").read_bytes() != (first / "mos.csv").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left

    plain = read_csv_set(first / "mos.csv")
    assert len(plain) == 40 and plain.higher_is_better
    assert plain.reference[7] == first / "reference/ref_0001.png"  # row i uses image i mod 6
    assert set(plain.distortion) <= {"rotate", "translate", "darken", "color", "blur", "zoom_in"}
    assert ((plain.mos >= 1.0) & (plain.mos <= 5.0)).all()
    reference, distorted = plain.load_pairs(32, 0, 7)
    assert (reference == photos[[0, 1, 2, 3, 4, 5, 0]]).all()
    assert distorted.shape == (7, 3, 32, 32)

    fixture = read_mos_set({"format": "fixture", "path": str(first)})
    assert fixture.synthetic is True and plain.synthetic is False
    assert fixture.mos.tolist() == plain.mos.tolist()
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["synthetic_mos"] is True and manifest["seed"] == 5
    assert "synthetic_mos: true" in (first / "README.txt").read_text()


def test_fixture_stronger_distortion_gets_lower_mos(tmp_path: Path, photos: np.ndarray):
    folder = write_mos_fixture(tmp_path / "fx", photos, count=120, seed=0)
    lines = (folder / "mos.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    strength = np.array([float(r["strength"]) for r in rows])
    mos = np.array([float(r["mos"]) for r in rows])
    strong = strength > np.median(strength)
    assert mos[strong].mean() < mos[~strong].mean() - 0.5
    mos_set = read_csv_set(folder / "mos.csv")
    reference, distorted = mos_set.load_pairs(32)
    rmse = np.sqrt(((reference / 255.0 - distorted / 255.0) ** 2).mean(axis=(1, 2, 3)))
    assert spearman(rmse, mos)[0] < -0.6  # larger pixel change, lower score


def test_fixture_rejects_bad_input(tmp_path: Path, photos: np.ndarray):
    with pytest.raises(ValueError, match="uint8 of shape"):
        write_mos_fixture(tmp_path / "x", photos.astype(np.float32), count=4, seed=0)
    with pytest.raises(ValueError, match="count must be a positive integer, got 0"):
        write_mos_fixture(tmp_path / "x", photos, count=0, seed=0)
    assert not (tmp_path / "x").exists()
