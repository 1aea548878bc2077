"""Image sources: embedded photographs, folders, STL-10 / SVHN (offline), and seeded splits."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import scipy.io
import torchvision.datasets
from PIL import Image

from dpsim.config import validate_config
from dpsim.data import sources
from dpsim.names import SPLITS


@pytest.fixture(scope="module")
def embedded_splits():
    return sources.build_image_splits(validate_config({})["images"], seed=0)


def test_embedded_default_gives_at_least_1000_rgb_tiles(embedded_splits):
    total = sum(len(s) for s in embedded_splits.values())
    assert total >= 1000
    for image_set in embedded_splits.values():
        assert image_set.images.dtype == np.uint8 and image_set.images.shape[1:] == (3, 64, 64)
    origins = set(embedded_splits["train"].index["origin"])
    assert {"astronaut", "chelsea", "coffee", "retina", "rocket", "grace_hopper"} <= origins


def test_embedded_splits_are_disjoint_and_cover_all_tiles(embedded_splits):
    keys = {
        split: set(map(tuple, s.index[["origin", "scale", "y", "x"]].to_numpy().tolist()))
        for split, s in embedded_splits.items()
    }
    assert not (keys["train"] & keys["val"]) and not (keys["train"] & keys["test"])
    assert not (keys["val"] & keys["test"])
    total = sum(len(k) for k in keys.values())
    assert total == sum(len(s) for s in embedded_splits.values())  # no duplicates within splits
    assert len(keys["test"]) == round(0.2 * total)


def test_embedded_split_depends_on_the_seed_only(embedded_splits):
    images = validate_config({})["images"]
    again = sources.build_image_splits(images, seed=0)
    other = sources.build_image_splits(images, seed=1)
    assert np.array_equal(again["val"].images, embedded_splits["val"].images)
    assert not np.array_equal(other["val"].index, embedded_splits["val"].index)


def test_tiles_are_the_photos_pixels():
    photo = np.random.default_rng(0).integers(0, 256, (130, 200, 3), dtype=np.uint8)
    tiles, origins = sources.tile_photo(photo, 64, 1.0)
    assert len(tiles) == 2 * 3 and origins[4] == (64, 64)
    assert np.array_equal(tiles[4].transpose(1, 2, 0), photo[64:128, 64:128])


def test_near_flat_tiles_are_dropped():
    kept = sources.embedded_images(["retina"], 64, [1.0], min_std=8.0)
    every = sources.embedded_images(["retina"], 64, [1.0], min_std=0.0)
    assert len(kept) < len(every)
    stds = kept.images.reshape(len(kept), -1).std(axis=1)
    assert stds.min() >= 8.0


def _write_folder(root):
    rng = np.random.default_rng(1)
    (root / "a" / "b").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (80, 120, 3), dtype=np.uint8)).save(root / "one.png")
    Image.fromarray(rng.integers(0, 256, (50, 50), dtype=np.uint8)).save(root / "a" / "grey.jpg")
    rgba = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(root / "a" / "b" / "alpha.png")
    (root / "notes.txt").write_text("not an image")


def test_folder_source_reads_recursively_and_resizes(tmp_path):
    _write_folder(tmp_path)
    image_set = sources.folder_images(tmp_path, 32, skip_unreadable=False)
    assert image_set.images.shape == (3, 3, 32, 32)
    assert image_set.index["origin"].tolist() == ["a/b/alpha.png", "a/grey.jpg", "one.png"]


def test_folder_source_names_unreadable_files(tmp_path):
    _write_folder(tmp_path)
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"broken\.png") as caught:
        sources.folder_images(tmp_path, 32, skip_unreadable=False)
    assert "skip_unreadable: true" in str(caught.value)
    skipped = sources.folder_images(tmp_path, 32, skip_unreadable=True)
    assert len(skipped) == 3


def test_folder_source_errors_on_missing_or_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        sources.folder_images(tmp_path / "nope", 32, False)
    with pytest.raises(FileNotFoundError, match="no image files"):
        sources.folder_images(tmp_path, 32, False)


def test_folder_source_through_the_config(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
            tmp_path / f"{i}.png"
        )
    config = validate_config({"images": {"source": "folder", "folder": {"path": str(tmp_path)}}})
    splits = sources.build_image_splits(config["images"], seed=0)
    assert [len(splits[s]) for s in SPLITS] == [13, 3, 4]


def test_too_few_images_to_split():
    with pytest.raises(ValueError, match="too few"):
        sources.split_indices(2, 0.2, 0.2, seed=0)


@pytest.mark.parametrize("name", ["stl10", "svhn"])
def test_missing_torchvision_dataset_fails_fast_with_instructions(tmp_path, name):
    start = time.monotonic()
    with pytest.raises(sources.DatasetMissingError) as caught:
        sources.torchvision_images(name, tmp_path, 64, download=False, limit=None, seed=0)
    assert time.monotonic() - start < 10
    message = str(caught.value)
    assert sources.TORCHVISION_SOURCES[name].url in message
    assert str(tmp_path) in message and "images.torchvision.download" in message


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_download_host_fails_within_seconds(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{_closed_port()}/train_32x32.mat"
    old = sources.TORCHVISION_SOURCES["svhn"]
    monkeypatch.setitem(
        sources.TORCHVISION_SOURCES,
        "svhn",
        sources.TorchvisionSource(old.class_name, old.splits, url, old.expected, old.size_note),
    )
    start = time.monotonic()
    with pytest.raises(sources.DatasetMissingError, match=r"cannot reach 127\.0\.0\.1"):
        sources.torchvision_images("svhn", tmp_path, 64, download=True, limit=None, seed=0)
    assert time.monotonic() - start < 10


def _fake_svhn(root, counts):
    rng = np.random.default_rng(3)
    for split, count in counts.items():
        data = rng.integers(0, 256, (32, 32, 3, count), dtype=np.uint8)
        labels = rng.integers(1, 11, (count, 1))
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": data, "y": labels})


def test_svhn_in_torchvision_layout_is_resized_and_split_80_20(tmp_path, monkeypatch):
    # Small files in the real layout; only torchvision's md5 check of the full files is bypassed.
    monkeypatch.setattr(torchvision.datasets.SVHN, "_check_integrity", lambda self: True)
    _fake_svhn(tmp_path, {"train": 50, "test": 12})
    config = validate_config({"images": {"source": "svhn", "torchvision": {"root": str(tmp_path)}}})
    splits = sources.build_image_splits(config["images"], seed=0)
    assert [len(splits[s]) for s in SPLITS] == [40, 10, 12]
    assert splits["test"].images.shape == (12, 3, 64, 64)
    original = scipy.io.loadmat(tmp_path / "test_32x32.mat")["X"][..., 0].astype(float)
    upscaled = splits["test"].images[0].transpose(1, 2, 0)[::2, ::2].astype(float)
    assert np.corrcoef(original.ravel(), upscaled.ravel())[0, 1] > 0.6  # same picture, resized


def test_stl10_limit_takes_a_seeded_subset(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.STL10, "_check_integrity", lambda self: True)
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for split, count in {"train": 30, "test": 10}.items():
        rng.integers(0, 256, count * 3 * 96 * 96, dtype=np.uint8).tofile(folder / f"{split}_X.bin")
        rng.integers(1, 11, count, dtype=np.uint8).tofile(folder / f"{split}_y.bin")
    train, test = sources.torchvision_images("stl10", tmp_path, 64, False, limit=20, seed=0)
    assert len(train) == 20 and len(test) == 10
    assert train.images.shape[1:] == (3, 64, 64)
    again, _ = sources.torchvision_images("stl10", tmp_path, 64, False, limit=20, seed=0)
    assert again.index["source_index"].tolist() == train.index["source_index"].tolist()
