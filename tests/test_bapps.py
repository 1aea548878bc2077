"""BAPPS: the offline fixture, layout checks, packed caches, datasets, and the download path."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from local_http import LocalHTTPServer, silent_port, unused_port

from dpsim import integrity, scoring
from dpsim.config import ConfigError, validate_config
from dpsim.data import bapps, bapps_fetch, download, fixture, sources
from dpsim.integrity import CorruptIntermediateError


@pytest.fixture(scope="module")
def tiles() -> np.ndarray:
    return sources.embedded_images(["astronaut", "coffee", "rocket"], 64, [1.0], 8.0).images


SMALL = fixture.FixtureSpec(train_items=12, val_items=20, jnd_items=16, seed=5)


@pytest.fixture(scope="module")
def tree(tmp_path_factory, tiles):
    root = tmp_path_factory.mktemp("bapps")
    fixture.write_fixture(root, tiles, SMALL)
    return root


def _labels(root, kind, split, subset):
    label = bapps.PARTS[kind][1]
    files = sorted((root / kind / split / subset / label).glob("*.npy"))
    return np.array([float(np.load(f)[0]) for f in files])


def test_fixture_has_the_bapps_layout_and_counts(tree):
    found = {(s.kind, s.split, s.name): len(s.stems) for s in bapps.scan(tree)}
    assert found == {
        ("2afc", "train", "traditional"): 12,
        ("2afc", "train", "superres"): 12,
        ("2afc", "val", "traditional"): 20,
        ("2afc", "val", "superres"): 20,
        ("jnd", "val", "traditional"): 16,
        ("jnd", "val", "superres"): 16,
    }


def test_fixture_judgments_are_shares_of_the_bapps_rater_counts(tree):
    for split, raters in (("train", 2), ("val", 5)):
        judge = _labels(tree, "2afc", split, "traditional")
        assert np.allclose(judge * raters, np.round(judge * raters), atol=1e-6)
        assert judge.min() >= 0 and judge.max() <= 1
    same = _labels(tree, "jnd", "val", "superres")
    assert np.allclose(same * 3, np.round(same * 3), atol=1e-6)


def test_fixture_is_reproducible_by_seed(tmp_path, tree, tiles):
    fixture.write_fixture(tmp_path, tiles, SMALL)
    for part in ("2afc/val/traditional/p1/000003.png", "2afc/val/superres/judge/000007.npy"):
        assert (tmp_path / part).read_bytes() == (tree / part).read_bytes()


def test_synthetic_judges_follow_the_simulated_observer(tiles, tmp_path):
    """Scored by the observer's own distance, the judgments must agree far above chance."""
    spec = fixture.FixtureSpec(train_items=1, val_items=120, jnd_items=1, seed=1)
    fixture.write_fixture(tmp_path, tiles, spec)
    data = bapps.PngDataset(tmp_path, "2afc", "val", "traditional")
    d0, d1, judge = [], [], []
    for ref, p0, p1, h in data:
        as_uint8 = [
            ((x + 1) * 127.5).round().byte().permute(1, 2, 0).numpy() for x in (ref, p0, p1)
        ]
        d0.append(fixture.observer_distance(as_uint8[1], as_uint8[0], spec.observer))
        d1.append(fixture.observer_distance(as_uint8[2], as_uint8[0], spec.observer))
        judge.append(float(h))
    assert scoring.two_afc_score(d0, d1, judge) > 0.75
    assert scoring.two_afc_score(d1, d0, judge) < 0.25


def test_unpaired_files_are_named(tmp_path, tiles):
    fixture.write_fixture(tmp_path, tiles, SMALL)
    (tmp_path / "2afc/val/traditional/p1/000004.png").unlink()
    with pytest.raises(bapps.BappsError, match=r"p1 lacks 1 item.*000004"):
        bapps.scan(tmp_path)


def test_corrupt_image_and_bad_judge_files_are_named(tmp_path, tiles):
    fixture.write_fixture(tmp_path, tiles, SMALL)
    broken = tmp_path / "2afc/val/traditional/ref/000002.png"
    broken.write_bytes(b"not a png")
    subset = bapps.Subset("2afc", "val", "traditional", ("000002",))
    with pytest.raises(bapps.BappsError, match=r"cannot read image .*000002\.png"):
        bapps.read_item(tmp_path, subset, "000002", 64)
    judge = tmp_path / "2afc/val/superres/judge/000001.npy"
    np.save(judge, np.array([1.5]))
    with pytest.raises(bapps.BappsError, match=r"000001\.npy must hold one value in \[0, 1\]"):
        bapps.read_label(judge)


def test_real_counts_check_lists_what_differs(tree):
    with pytest.raises(bapps.BappsError, match=r"traditional: 20 found, 4720 expected"):
        bapps.check_real_counts(bapps.scan(tree))


def _pack(tree, cache):
    manifest = bapps.manifest(tree, bapps.scan(tree), source="fixture")
    (cache.parent / "manifest.json").write_text(json.dumps(manifest))
    return bapps.pack_all(cache.parent / "manifest.json", cache, size=64, workers=2)


def test_packed_cache_gives_the_same_items_as_decoding_pngs(tree, tmp_path):
    index = _pack(tree, tmp_path / "cache")
    assert len(index["subsets"]) == 6
    for kind, split, subset in (("2afc", "val", "superres"), ("jnd", "val", "traditional")):
        cached = bapps.BappsDataset(tmp_path / "cache", kind, split, subset)
        decoded = bapps.PngDataset(tree, kind, split, subset)
        assert len(cached) == len(decoded)
        for i in (0, len(cached) - 1):
            for a, b in zip(cached[i], decoded[i], strict=True):
                assert torch.equal(a, b)
        ref = cached[0][0]
        assert ref.shape == (3, 64, 64) and ref.min() >= -1 and ref.max() <= 1
    assert len(bapps.BappsDataset(tmp_path / "cache", "2afc", "val", "superres")[0]) == 4
    assert len(bapps.BappsDataset(tmp_path / "cache", "jnd", "val", "superres")[0]) == 3


def test_a_truncated_packed_array_is_named_with_the_folder_to_delete(tree, tmp_path):
    manifest = bapps.manifest(tree, bapps.scan(tree), source="fixture")
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    cache = tmp_path / "cache"
    index = bapps.pack_all(tmp_path / "manifest.json", cache, size=64, writer="bapps_cache")
    assert index["rule"] == "bapps_cache" and len(index["files"]) == 2 * len(index["subsets"])
    images = cache / "2afc-val-superres.images.npy"
    with open(images, "r+b") as handle:
        handle.truncate(images.stat().st_size - 64)
    with pytest.raises(CorruptIntermediateError) as caught:
        bapps.BappsDataset(cache, "2afc", "val", "superres")
    message = str(caught.value)
    assert f"{images} is corrupt:" in message and "written by the rule bapps_cache" in message
    assert f"delete {cache.absolute()} and run snakemake again" in message
    assert [Path(f.path) for f in integrity.check_sizes([cache])] == [images]


def test_larger_images_are_resized_and_the_resize_recorded(tiles, tmp_path):
    spec = fixture.FixtureSpec(train_items=2, val_items=3, jnd_items=2, image_size=96, seed=0)
    fixture.write_fixture(tmp_path / "tree", tiles, spec)
    _pack(tmp_path / "tree", tmp_path / "cache")
    data = bapps.BappsDataset(tmp_path / "cache", "2afc", "val", "traditional")
    assert data.meta["resize"] == "PIL bicubic" and data.meta["sizes_on_disk"] == [[96, 96]]
    assert data.images.shape == (3, 3, 3, 64, 64)


def test_missing_cache_subset_lists_what_exists(tree, tmp_path):
    _pack(tree, tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match=r"2afc-val-cnn.*available: 2afc-train-superres"):
        bapps.BappsDataset(tmp_path / "cache", "2afc", "val", "cnn")


# ---------------------------------------------------------------- download path


def _section(base_url, root, **changes):
    section = validate_config({"bapps": {"source": "download", "root": str(root)}})["bapps"]
    return {**section, "base_url": base_url, "check_counts": False, "retries": 1, **changes}


@pytest.fixture(scope="module")
def archives(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("archives")
    return {name: path.read_bytes() for name, path in fixture.write_archives(tree, out).items()}


def test_download_extract_and_verify_against_a_local_server(archives, tree, tmp_path):
    files = {f"/dataset/{name}.tar.gz": data for name, data in archives.items()}
    with LocalHTTPServer(files) as server:
        section = _section(server.url("/dataset"), tmp_path / "bapps")
        data = bapps_fetch.fetch_bapps(section)
        first_requests = len(server.requests)
        again = bapps_fetch.fetch_bapps(section)  # archives present, extraction marked: no traffic
        assert len(server.requests) == first_requests
    assert again["subsets"] == data["subsets"]
    assert data["subsets"] == bapps.manifest(tree, bapps.scan(tree))["subsets"]
    dataset = tmp_path / "bapps" / "dataset"
    assert (dataset / "2afc" / "train" / "traditional" / "ref").is_dir()
    assert (dataset / "jnd" / "val" / "superres" / "same").is_dir()
    assert data["archives"]["jnd"]["sha256"] == download.sha256_file(
        tmp_path / "bapps" / "archives" / "jnd.tar.gz"
    )
    assert data["synthetic_judgments"] is False


def test_download_falls_back_to_a_mirror(archives, tmp_path):
    files = {f"/mirror/{name}.tar.gz": data for name, data in archives.items()}
    with LocalHTTPServer(files) as server:
        section = _section(server.url("/gone"), tmp_path, mirrors=[server.url("/mirror")])
        data = bapps_fetch.fetch_bapps(section)
    assert data["archives"]["twoafc_val"]["url"].endswith("/mirror/twoafc_val.tar.gz")


def test_offline_download_fails_fast_with_the_manual_steps(tmp_path):
    section = _section(f"http://127.0.0.1:{unused_port()}/dataset", tmp_path)
    start = time.monotonic()
    with pytest.raises(download.DownloadError) as caught:
        bapps_fetch.fetch_bapps(section)
    assert time.monotonic() - start < 15
    message = str(caught.value)
    assert "twoafc_train.tar.gz" in message and "bapps.source: local" in message
    assert str(tmp_path / "archives") in message


def _served(archives, **replaced):
    """The archives as the local server's files, some of them replaced by other bytes."""
    return {f"/dataset/{name}.tar.gz": replaced.get(name, data) for name, data in archives.items()}


def _tar_gz(tmp_path, name, folders=()):
    """A .tar.gz holding the given folders (tmp_path-relative names), or nothing at all."""
    path = tmp_path / f"{name}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for folder in folders:
            tar.add(tmp_path / folder, arcname=folder)
    return path.read_bytes()


def test_an_archive_that_lacks_what_its_kind_promises_is_rejected(archives, tmp_path):
    """An empty jnd.tar.gz used to give a run with 0 JND subsets."""
    empty = _tar_gz(tmp_path, "empty")
    root = tmp_path / "bapps"
    with LocalHTTPServer(_served(archives, jnd=empty)) as server:
        section = _section(server.url("/dataset"), root)
        with pytest.raises(bapps_fetch.ArchiveRejectedError) as caught:
            bapps_fetch.fetch_bapps(section)
        assert len(server.requests_for("/dataset/jnd.tar.gz")) == 1  # not fetched in a loop
        message = str(caught.value)
        assert "jnd.tar.gz" in message and server.url("/dataset/jnd.tar.gz") in message
        assert "no jnd val subset" in message and "next run downloads it again" in message
        assert (root / "archives" / "jnd.tar.gz.rejected").read_bytes() == empty
        assert not (root / "archives" / "jnd.tar.gz").exists()
        assert not (root / "dataset" / ".jnd.extracted.json").exists()
        server.files["/dataset/jnd.tar.gz"] = archives["jnd"]  # the server is fixed: rerun
        data = bapps_fetch.fetch_bapps(section)
    assert {(s["kind"], s["subset"]) for s in data["subsets"] if s["kind"] == "jnd"} == {
        ("jnd", "traditional"),
        ("jnd", "superres"),
    }


def test_a_2afc_subset_without_judgments_is_rejected(archives, tree, tmp_path):
    shutil.copytree(tree / "2afc" / "val", tmp_path / "val")
    shutil.rmtree(tmp_path / "val" / "superres" / "judge")
    no_judge = _tar_gz(tmp_path, "no_judge", ["val"])
    with LocalHTTPServer(_served(archives, twoafc_val=no_judge)) as server:
        section = _section(server.url("/dataset"), tmp_path / "bapps")
        with pytest.raises(bapps_fetch.ArchiveRejectedError, match=r"twoafc_val.*judge"):
            bapps_fetch.fetch_bapps(section)
    assert not (tmp_path / "bapps" / "dataset" / "2afc" / "val").exists()


def test_a_corrupt_archive_left_in_archives_is_moved_aside_and_fetched_again(
    archives, tmp_path, caplog
):
    root = tmp_path / "bapps"
    (root / "archives").mkdir(parents=True)
    truncated = archives["twoafc_val"][: len(archives["twoafc_val"]) // 2]
    (root / "archives" / "twoafc_val.tar.gz").write_bytes(truncated)  # an interrupted copy
    with LocalHTTPServer(_served(archives)) as server:
        data = bapps_fetch.fetch_bapps(_section(server.url("/dataset"), root))
        assert len(server.requests_for("/dataset/twoafc_val.tar.gz")) == 1
        url = server.url("/dataset/twoafc_val.tar.gz")
    assert (root / "archives" / "twoafc_val.tar.gz").read_bytes() == archives["twoafc_val"]
    assert (root / "archives" / "twoafc_val.tar.gz.rejected").read_bytes() == truncated
    assert "corrupt or truncated" in caplog.text and "Downloading it again" in caplog.text
    assert data["archives"]["twoafc_val"]["url"] == url


def test_a_corrupt_download_fails_clearly_once(archives, tmp_path):
    broken = archives["jnd"][:-200]
    with LocalHTTPServer(_served(archives, jnd=broken)) as server:
        section = _section(server.url("/dataset"), tmp_path / "bapps")
        with pytest.raises(bapps_fetch.ArchiveRejectedError, match=r"corrupt or truncated"):
            bapps_fetch.fetch_bapps(section)
        assert len(server.requests_for("/dataset/jnd.tar.gz")) == 1


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_expected_sha256_is_checked_before_extraction(archives, tmp_path):
    good = {name: _sha(data) for name, data in archives.items()}
    wrong = {**good, "twoafc_val": "0" * 64}
    root = tmp_path / "bapps"
    with LocalHTTPServer(_served(archives)) as server:
        section = _section(server.url("/dataset"), root, sha256=wrong)
        with pytest.raises(bapps_fetch.ArchiveRejectedError) as caught:
            bapps_fetch.fetch_bapps(section)
        assert len(server.requests_for("/dataset/twoafc_val.tar.gz")) == 1
        message = str(caught.value)
        assert good["twoafc_val"] in message and "bapps.sha256.twoafc_val expects 0000" in message
        assert not (root / "dataset" / "2afc" / "val").exists()  # never extracted
        assert (root / "archives" / "twoafc_val.tar.gz.rejected").is_file()
        data = bapps_fetch.fetch_bapps({**section, "sha256": good})
    assert data["archives"]["twoafc_val"]["sha256_expected"] == good["twoafc_val"]


def test_a_placed_archive_with_the_wrong_sha256_is_fetched_again(archives, tmp_path):
    root = tmp_path / "bapps"
    (root / "archives").mkdir(parents=True)
    (root / "archives" / "jnd.tar.gz").write_bytes(archives["twoafc_val"])  # the wrong file
    sha256 = {"twoafc_train": None, "twoafc_val": None, "jnd": _sha(archives["jnd"])}
    with LocalHTTPServer(_served(archives)) as server:
        bapps_fetch.fetch_bapps(_section(server.url("/dataset"), root, sha256=sha256))
        assert len(server.requests_for("/dataset/jnd.tar.gz")) == 1
    assert (root / "archives" / "jnd.tar.gz").read_bytes() == archives["jnd"]


def test_the_sha256_keys_are_validated():
    with pytest.raises(ConfigError, match=r"bapps\.sha256\.jnd: 'abc' does not match"):
        validate_config({"bapps": {"sha256": {"jnd": "abc"}}})
    with pytest.raises(ConfigError, match=r"bapps\.sha256\.twoafc: unknown key"):
        validate_config({"bapps": {"sha256": {"twoafc": None}}})


def test_a_trailing_slash_in_base_url_gives_no_double_slash(archives, tmp_path):
    with LocalHTTPServer(_served(archives)) as server:
        section = _section(server.url("/dataset/"), tmp_path / "bapps")
        data = bapps_fetch.fetch_bapps(section)
        base = server.url("/dataset")
    assert data["archives"]["jnd"]["url"] == f"{base}/jnd.tar.gz"
    steps = bapps_fetch.manual_steps(section, tmp_path / "bapps")
    assert f"from {base}/ on a machine" in steps and "dataset//" not in steps


def test_a_host_that_drops_packets_fails_within_the_connect_timeout(tmp_path):
    """Before `connect_timeout_s`, this took 2 x timeout_s + 1 s (61 s with the defaults)."""
    with silent_port() as port:
        section = _section(f"http://127.0.0.1:{port}/dataset", tmp_path, connect_timeout_s=0.5)
        start = time.monotonic()
        with pytest.raises(download.DownloadError, match="cannot connect"):
            bapps_fetch.fetch_bapps({**section, "timeout_s": 30})
        assert time.monotonic() - start < 5  # 2 x 0.5 s + the 1 s pause between them
