"""Image files as people have them: 16-bit, grey, palette and transparent images as 8-bit RGB."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpsim import cli
from dpsim.data import image_file, mos, sources


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    """A 48 x 48 8-bit grey picture with every level from 0 to 255 and some structure."""
    ramp = np.arange(48 * 48).reshape(48, 48) * 255 // (48 * 48 - 1)
    return np.ascontiguousarray(np.rot90(ramp) ^ (ramp & 0x0F)).astype(np.uint8)


def _png16(path: Path, samples: np.ndarray) -> Path:
    """Write a 16-bit PNG by hand (RGB for ``(H, W, 3)``, RGBA for ``(H, W, 4)``): Pillow can
    write 16-bit grey PNGs but no 48- or 64-bit colour ones."""
    height, width, channels = samples.shape
    colour_type = {3: 2, 4: 6}[channels]
    rows = samples.astype(">u2").reshape(height, width * channels)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 on every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(image_file.read_rgb(path))


# ---------------------------------------------------------------- 16-bit


def test_a_16_bit_grey_png_reads_as_the_same_picture_saved_as_8_bit(tmp_path, grey):
    """PIL's convert("RGB") clipped the 16-bit file at 255: nearly all white."""
    Image.fromarray(grey).save(tmp_path / "eight.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode == "I;16"
    eight, sixteen = _rgb(tmp_path / "eight.png"), _rgb(tmp_path / "sixteen.png")
    assert sixteen.shape == (48, 48, 3) and sixteen.dtype == np.uint8
    assert np.array_equal(sixteen, eight)
    assert np.array_equal(eight[..., 0], grey)


def test_the_distance_between_8_and_16_bit_files_of_one_picture_is_zero(tmp_path, grey, capsys):
    """`dpsim distance` measured 2.067 between these two files before they were scaled."""
    big = np.kron(grey, np.ones((2, 2), np.uint8))  # 96 x 96: AlexNet's taps need some size
    Image.fromarray(big).save(tmp_path / "eight.png")
    Image.fromarray(big.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    files = [str(tmp_path / "eight.png"), str(tmp_path / "sixteen.png")]
    assert cli.main(["distance", *files, "--weights", "random"]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(0.0, abs=1e-6)


def test_16_bit_values_are_scaled_and_rounded(tmp_path):
    values = np.array([[0, 128, 129, 257, 385, 386, 32767, 65406, 65407, 65535]], np.uint16)
    expected = np.floor(values / 65535 * 255 + 0.5).astype(np.uint8)  # no halves: v/257
    assert expected.tolist() == [[0, 0, 1, 1, 1, 2, 127, 254, 255, 255]]
    as_modes = {
        "I;16": Image.fromarray(values),
        "I;16B": Image.frombytes("I;16B", (10, 1), values.astype(">u2").tobytes()),
        "I": Image.fromarray(values.astype(np.int32)),
    }
    for mode, image in as_modes.items():
        assert image.mode == mode
        rgb, composited = image_file.to_rgb(image)
        assert not composited
        assert np.array_equal(np.asarray(rgb), np.repeat(expected[..., None], 3, axis=2)), mode


def test_16_bit_colour_pngs_read_within_one_level_of_the_scaled_values(tmp_path):
    rng = np.random.default_rng(3)
    samples = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    got = _rgb(_png16(tmp_path / "rgb48.png", samples)).astype(int)
    assert np.abs(got - np.rint(samples / 257.0)).max() <= 1
    eight = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(eight).save(tmp_path / "rgb24.png")
    exact = _png16(tmp_path / "exact48.png", eight.astype(np.uint16) * 257)
    assert np.array_equal(_rgb(exact), _rgb(tmp_path / "rgb24.png"))


def test_i_images_outside_16_bit_and_float_images_are_refused(tmp_path):
    Image.fromarray(np.array([[0, 70000]], np.int32)).save(tmp_path / "wide.tif")
    with pytest.raises(image_file.ImageFileError, match=r"wide\.tif.*0\.\.70000.*8- or 16-bit"):
        image_file.read_rgb(tmp_path / "wide.tif")
    Image.fromarray(np.array([[0.0, 0.5]], np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(image_file.ImageFileError, match=r"float\.tif.*float pixels"):
        image_file.read_rgb(tmp_path / "float.tif")


def test_missing_and_undecodable_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"gone\.png does not exist"):
        image_file.read_rgb(tmp_path / "gone.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(image_file.ImageFileError, match=r"cannot read image .*bad\.png"):
        image_file.read_rgb(tmp_path / "bad.png")


# ---------------------------------------------------------------- transparency


def test_rgba_is_composited_on_black(tmp_path, caplog):
    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 256, (16, 24, 4), dtype=np.uint8)
    rgba[0, 0, 3], rgba[0, 1, 3] = 0, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    with caplog.at_level(logging.WARNING, logger="dpsim.data.image_file"):
        got = _rgb(tmp_path / "alpha.png")
    expected = np.rint(rgba[..., :3] * (rgba[..., 3:] / 255.0))  # float, independent of ours
    assert np.array_equal(got, expected.astype(np.uint8))
    assert got[0, 0].tolist() == [0, 0, 0] and got[0, 1].tolist() == rgba[0, 1, :3].tolist()
    assert "alpha.png has transparent pixels" in caplog.text


def test_16_bit_rgba_is_composited_too(tmp_path):
    rng = np.random.default_rng(5)
    eight = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    got = _rgb(_png16(tmp_path / "rgba64.png", eight.astype(np.uint16) * 257))
    assert np.array_equal(got, np.rint(eight[..., :3] * (eight[..., 3:] / 255.0)))


def test_grey_alpha_palette_and_colour_keys(tmp_path):
    la = np.stack([np.full((2, 2), 200, np.uint8), np.array([[255, 128], [0, 51]], np.uint8)], -1)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert _rgb(tmp_path / "la.png")[..., 0].tolist() == [[200, 100], [0, 40]]
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 255, 0])
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png", transparency=1)  # entry 1 (green) is transparent
    assert _rgb(tmp_path / "p.png").tolist() == [[[255, 0, 0], [0, 0, 0]]]
    grey16 = Image.fromarray(np.array([[257 * 10, 257 * 20]], np.uint16))
    grey16.info["transparency"] = 257 * 20
    rgb, composited = image_file.to_rgb(grey16)
    assert composited and np.asarray(rgb)[..., 0].tolist() == [[10, 0]]


def test_opaque_alpha_changes_nothing_and_warns_nothing(tmp_path, caplog):
    rgb = np.random.default_rng(6).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(np.dstack([rgb, np.full((8, 8), 255, np.uint8)]), "RGBA").save(
        tmp_path / "opaque.png"
    )
    with caplog.at_level(logging.WARNING):
        assert np.array_equal(_rgb(tmp_path / "opaque.png"), rgb)
    assert caplog.text == ""


# ---------------------------------------------------------------- every source uses the loader


def _pictures(folder: Path, grey: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grey).save(folder / "eight.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(folder / "sixteen.png")
    for name in ("alpha_a.png", "alpha_b.png"):
        rgba = np.dstack([np.stack([grey] * 3, -1), np.full(grey.shape, 128, np.uint8)])
        Image.fromarray(rgba, "RGBA").save(folder / name)


def test_the_folder_source_scales_16_bit_and_warns_once_about_alpha(tmp_path, grey, caplog):
    _pictures(tmp_path, grey)
    with caplog.at_level(logging.WARNING):
        image_set = sources.folder_images(tmp_path, 32, skip_unreadable=False)
    order = image_set.index["origin"].tolist()
    assert order == ["alpha_a.png", "alpha_b.png", "eight.png", "sixteen.png"]
    assert np.array_equal(image_set.images[2], image_set.images[3])
    assert image_set.images[0].max() < 130  # composited on black: about half as bright
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 of 4 images have transparent pixels" in warnings[0]
    assert "images.folder.path" in warnings[0]


def test_mos_sets_scale_16_bit_and_warn_once_about_alpha(tmp_path, grey, caplog):
    _pictures(tmp_path, grey)
    (tmp_path / "scores.csv").write_text(
        "reference,distorted,mos\n"
        "eight.png,sixteen.png,1.0\neight.png,alpha_a.png,2.0\neight.png,alpha_b.png,3.0\n"
    )
    mos_set = mos.read_csv_set(tmp_path / "scores.csv", name="mine")
    with caplog.at_level(logging.WARNING):
        reference, distorted = mos_set.load_pairs(48)
    assert np.array_equal(reference[0], distorted[0])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "MOS set 'mine': 2 of 4 images" in warnings[0]
