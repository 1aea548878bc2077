"""Preflight checks: network (against a local server), weights, GPU, disk, the CLI; all offline."""

from __future__ import annotations

import time
from collections import namedtuple
from pathlib import Path

import pytest
import torch
import yaml
from local_http import LocalHTTPServer, unused_port

from dpsim import cli, preflight, weights
from dpsim.config import load_config, validate_config
from dpsim.preflight import Check, PreflightError, raise_on_failure, run_preflight

Usage = namedtuple("Usage", "total used free")
SQUEEZENET_FILE = "squeezenet1_1-b8a52dc0.pth"


@pytest.fixture(autouse=True)
def no_device_override(monkeypatch):
    monkeypatch.delenv("DPSIM_DEVICE", raising=False)


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if any host is probed."""

    def probe(url: str, timeout: float = 0) -> bool:
        raise AssertionError(f"the network was probed for {url}")

    monkeypatch.setattr(weights, "_host_reachable", probe)


def _config(**sections) -> dict:
    return validate_config(sections)


def _download_config(base_url: str, root: Path, mirrors: tuple[str, ...] = ()) -> dict:
    bapps = {"source": "download", "root": str(root), "base_url": base_url, "mirrors": [*mirrors]}
    return _config(bapps=bapps)


def _check(checks: list[Check], name: str) -> Check:
    found = [check for check in checks if check.name == name]
    assert len(found) == 1, [check.name for check in checks]
    return found[0]


def _dead_url(path: str = "dataset") -> str:
    return f"http://127.0.0.1:{unused_port()}/{path}"


# ----------------------------------------------------------------------------- BAPPS


def test_bapps_download_passes_when_the_base_url_answers(tmp_path):
    with LocalHTTPServer() as server:
        base_url = server.url("/dataset")
        config = _download_config(base_url, tmp_path / "bapps")
        check = _check(run_preflight(config, tmp_path, timeout=1.0), "bapps")
    assert check.ok and not check.failed
    assert f"will download {base_url}/twoafc_train.tar.gz" in check.message


def test_bapps_download_fails_naming_an_unreachable_url_and_the_fix(tmp_path):
    base_url = _dead_url()
    config = _download_config(base_url, tmp_path / "bapps")
    check = _check(run_preflight(config, tmp_path, timeout=1.0), "bapps")
    assert check.failed
    assert f"{base_url}/twoafc_train.tar.gz" in check.message
    assert "set bapps.source: local with bapps.path" in check.message
    assert str(tmp_path / "bapps" / "archives") in check.message


def test_bapps_download_passes_through_a_live_mirror(tmp_path):
    dead = _dead_url()
    with LocalHTTPServer() as server:
        mirror = server.url("/copy")
        config = _download_config(dead, tmp_path / "bapps", mirrors=(mirror,))
        check = _check(run_preflight(config, tmp_path, timeout=1.0), "bapps")
    assert check.ok
    assert f"will download {mirror}/twoafc_train.tar.gz" in check.message
    assert f"unreachable: {dead}" in check.message


def test_bapps_archives_in_place_need_no_network(tmp_path, no_network):
    archives = tmp_path / "bapps" / "archives"
    archives.mkdir(parents=True)
    for name in ("twoafc_train", "twoafc_val", "jnd"):
        (archives / f"{name}.tar.gz").write_bytes(b"x")
    check = _check(
        run_preflight(_download_config(_dead_url(), tmp_path / "bapps"), tmp_path), "bapps"
    )
    assert check.ok


def test_bapps_extracted_tree_without_archives_points_to_bapps_source_local(tmp_path):
    dataset = tmp_path / "bapps" / "dataset"
    dataset.mkdir(parents=True)
    for name in ("twoafc_train", "twoafc_val", "jnd"):
        (dataset / f".{name}.extracted.json").write_text("{}")
    config = _download_config(_dead_url(), tmp_path / "bapps")
    check = _check(run_preflight(config, tmp_path, timeout=1.0), "bapps")
    assert check.failed
    assert f"set bapps.source: local, bapps.path: {dataset}" in check.message


def test_bapps_local_path_must_hold_the_tree(tmp_path, no_network):
    config = _config(bapps={"source": "local", "path": str(tmp_path / "nowhere")})
    check = _check(run_preflight(config, tmp_path), "bapps")
    assert check.failed and "nowhere" in check.message
    (tmp_path / "nowhere" / "2afc").mkdir(parents=True)
    assert _check(run_preflight(config, tmp_path), "bapps").ok


def test_hosts_are_probed_concurrently(tmp_path, monkeypatch):
    probed: list[str] = []

    def slow_unreachable(url: str, timeout: float = 0) -> bool:
        probed.append(url)
        time.sleep(timeout)
        return False

    monkeypatch.setattr(weights, "_host_reachable", slow_unreachable)
    monkeypatch.setattr(weights, "_imagenet_url", lambda net: f"http://{net}.invalid/{net}.pth")
    mirrors = tuple(f"http://mirror{i}.invalid/dataset" for i in range(3))
    config = _download_config("http://base.invalid/dataset", tmp_path / "bapps", mirrors)
    config["grid"].update(weights="imagenet", weights_dir=str(tmp_path / "torch"))
    start = time.monotonic()
    checks = run_preflight(config, tmp_path, timeout=1.0)
    elapsed = time.monotonic() - start
    assert len(probed) == 6  # base, 3 mirrors, alexnet's and squeezenet1_1's hosts
    assert elapsed < 2.5, f"6 hosts of 1 s each took {elapsed:.1f} s: not probed concurrently"
    failed = [check.name for check in checks if check.failed and check.name != "disk"]
    assert failed == ["bapps", "weights alexnet", "weights squeezenet1_1"]


def test_several_refused_hosts_all_fail_and_are_named(tmp_path):
    urls = [_dead_url(f"mirror{i}") for i in range(4)]
    config = _download_config(urls[0], tmp_path / "bapps", tuple(urls[1:]))
    start = time.monotonic()
    check = _check(run_preflight(config, tmp_path, timeout=1.0), "bapps")
    assert time.monotonic() - start < 2.5
    assert check.failed
    assert all(f"{url}/twoafc_train.tar.gz" in check.message for url in urls)


# ----------------------------------------------------------------------------- weights


def _imagenet_config(tmp_path: Path) -> dict:
    grid = {"networks": ["squeezenet1_1"], "weights": "imagenet"}
    return _config(grid={**grid, "weights_dir": str(tmp_path / "torch")})


def test_imagenet_weights_missing_and_host_unreachable_fail_with_the_path(tmp_path, monkeypatch):
    url = _dead_url(f"models/{SQUEEZENET_FILE}")
    monkeypatch.setattr(weights, "_imagenet_url", lambda network: url)
    check = _check(
        run_preflight(_imagenet_config(tmp_path), tmp_path, 1.0), "weights squeezenet1_1"
    )
    assert check.failed
    assert url in check.message
    expected = (tmp_path / "torch" / "hub" / "checkpoints" / SQUEEZENET_FILE).resolve()
    assert f"place the weights file at {expected}" in check.message


def test_imagenet_weights_download_host_answering_passes(tmp_path, monkeypatch):
    with LocalHTTPServer() as server:
        url = server.url(f"/models/{SQUEEZENET_FILE}")
        monkeypatch.setattr(weights, "_imagenet_url", lambda network: url)
        checks = run_preflight(_imagenet_config(tmp_path), tmp_path, timeout=1.0)
    check = _check(checks, "weights squeezenet1_1")
    assert check.ok and url in check.message


def test_imagenet_weights_in_the_cache_need_no_network(tmp_path, monkeypatch, no_network):
    url = _dead_url(f"models/{SQUEEZENET_FILE}")
    monkeypatch.setattr(weights, "_imagenet_url", lambda network: url)
    path = tmp_path / "torch" / "hub" / "checkpoints" / SQUEEZENET_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    check = _check(run_preflight(_imagenet_config(tmp_path), tmp_path), "weights squeezenet1_1")
    assert check.ok and str(path) in check.message


# ----------------------------------------------------------------------------- images


def test_torchvision_dataset_missing_without_download_fails_offline(tmp_path, no_network):
    config = _config(images={"source": "svhn", "torchvision": {"root": str(tmp_path / "data")}})
    check = _check(run_preflight(config, tmp_path), "images")
    assert check.failed
    assert str(tmp_path / "data" / "train_32x32.mat") in check.message
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train_32x32.mat").write_bytes(b"x")
    assert _check(run_preflight(config, tmp_path), "images").ok


def test_torchvision_download_needs_its_host(tmp_path, monkeypatch):
    probed: list[str] = []
    monkeypatch.setattr(weights, "_host_reachable", lambda url, timeout: probed.append(url))
    options = {"root": str(tmp_path / "data"), "download": True}
    config = _config(images={"source": "stl10", "torchvision": options})
    check = _check(run_preflight(config, tmp_path), "images")
    assert probed == ["http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"]
    assert check.failed and probed[0] in check.message


# ----------------------------------------------------------------------------- GPU


def _fake_cuda(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: f"Fake GPU {index}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_on_this_cpu_machine_fails_clearly():
    check = preflight.check_gpu("cuda")
    assert check.failed
    assert "CUDA is not available" in check.message and "device: auto or cpu" in check.message


def test_cuda_requested_without_a_gpu_fails(monkeypatch):
    _fake_cuda(monkeypatch, 0)
    check = preflight.check_gpu("cuda:0")
    assert check.failed and check.level == "error"
    assert "cuda:0 is requested but CUDA is not available" in check.message


def test_cuda_requested_with_a_gpu_passes(monkeypatch):
    _fake_cuda(monkeypatch, 1)
    check = preflight.check_gpu("cuda")
    assert check.ok and "Fake GPU 0" in check.message


def test_cuda_index_beyond_the_visible_devices_fails(monkeypatch):
    _fake_cuda(monkeypatch, 2)
    check = preflight.check_gpu("cuda:2")
    assert check.failed and "only 2 CUDA device(s)" in check.message


def test_auto_without_a_gpu_warns_but_never_fails(monkeypatch):
    _fake_cuda(monkeypatch, 0)
    check = preflight.check_gpu("auto")
    assert check.ok and not check.failed and check.level == "warning"
    assert "no GPU" in check.message and "longer on CPU" in check.message


def test_auto_with_a_gpu_says_it_will_be_used(monkeypatch):
    _fake_cuda(monkeypatch, 1)
    check = preflight.check_gpu("auto")
    assert check.ok and check.level == "warning" and "will use cuda" in check.message


def test_dpsim_device_overrides_the_config(monkeypatch):
    _fake_cuda(monkeypatch, 0)
    monkeypatch.setenv("DPSIM_DEVICE", "cpu")
    assert preflight.check_gpu("cuda").ok


# ----------------------------------------------------------------------------- disk


def test_disk_too_small_fails_naming_the_sizes_and_the_path(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: Usage(10**12, 0, 10**6))
    check = _check(run_preflight(_config(), tmp_path), "disk")
    assert check.failed
    assert "GB needed under" in check.message and "0.00 GB free" in check.message
    assert str((tmp_path / "results").resolve()) in check.message
    assert "or point results elsewhere" in check.message


def test_disk_with_plenty_of_space_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: Usage(10**13, 0, 10**13))
    assert _check(run_preflight(_config(), tmp_path), "disk").ok


def test_disk_estimate_counts_missing_downloads_and_the_pool(tmp_path):
    config = _download_config(_dead_url(), tmp_path / "bapps")
    config["pool"].update(triplets={"train": 100, "val": 10, "test": 20}, train_draws=3)
    needs = {need.what: need.bytes for need in preflight.disk_needs(config, tmp_path)}
    assert needs["BAPPS archives"] == pytest.approx(6.6e9)
    assert needs["BAPPS extracted"] == pytest.approx(6.6e9)
    assert needs["triplet pool"] == (100 * 3 + 10 + 20) * 3 * 3 * 64 * 64
    (tmp_path / "bapps" / "archives").mkdir(parents=True)
    (tmp_path / "bapps" / "archives" / "twoafc_train.tar.gz").write_bytes(b"x")
    needs = {need.what: need.bytes for need in preflight.disk_needs(config, tmp_path)}
    assert needs["BAPPS archives"] == pytest.approx(1.3e9)


# ----------------------------------------------------------------------------- reporting


def test_raise_on_failure_lists_every_failed_check():
    checks = [
        Check("bapps", False, "cannot reach X; set bapps.source: local"),
        Check("gpu", True, "no GPU", level="warning"),
        Check("disk", False, "free 3 GB under /r"),
        Check("weights", True, "in place"),
    ]
    with pytest.raises(PreflightError) as raised:
        raise_on_failure(checks)
    message = str(raised.value)
    assert message.startswith("2 preflight checks failed")
    assert "bapps: cannot reach X; set bapps.source: local" in message
    assert "disk: free 3 GB under /r" in message
    assert "weights" not in message and "gpu" not in message
    assert [check.name for check in raised.value.failed] == ["bapps", "disk"]
    raise_on_failure(checks[1:2] + checks[3:])


def test_cli_preflight_returns_3_and_prints_the_failures(tmp_path, capsys, monkeypatch):
    _fake_cuda(monkeypatch, 0)
    base_url = _dead_url()
    path = tmp_path / "config.yaml"
    bapps = {"source": "download", "root": str(tmp_path / "bapps"), "base_url": base_url}
    path.write_text(yaml.safe_dump({"device": "cuda", "bapps": bapps}))
    assert cli.main(["preflight", str(path), "--workdir", str(tmp_path), "--timeout", "1"]) == 3
    out, err = capsys.readouterr()
    assert "failed: bapps:" in err and base_url in err
    assert "failed: gpu:" in err
    assert "ok: weights:" in out and "failed" not in out


def test_cli_preflight_on_the_offline_default_config_returns_0(repo, tmp_path, capsys, monkeypatch):
    _fake_cuda(monkeypatch, 0)
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: Usage(10**13, 0, 10**13))
    config = str(repo / "config" / "config.yaml")
    assert cli.main(["preflight", config, "--workdir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines and all(line.startswith("ok: ") for line in lines)
    assert any(line.startswith("ok: gpu (warning): ") for line in lines)
    assert err == ""


def test_cli_preflight_on_a_bad_config_returns_2(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("device: gpu\n")
    assert cli.main(["preflight", str(path)]) == 2
    assert "device" in capsys.readouterr().err


def test_readout_study_imagenet_weights_are_checked_too(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "_host_reachable", lambda url, timeout=0: False)
    config = _config(
        grid={"weights": "random", "weights_dir": str(tmp_path / "torch")},
        readout={"networks": ["mobilenet_v3_small"], "weights": ["random", "imagenet"]},
    )
    checks = run_preflight(config, tmp_path, 1.0)
    check = _check(checks, "weights mobilenet_v3_small")
    assert check.failed and "mobilenet_v3_small" in check.message
    random_only = _config(readout={"networks": ["mobilenet_v3_small"], "weights": ["random"]})
    names = [c.name for c in run_preflight(random_only, tmp_path, 1.0)]
    assert "weights mobilenet_v3_small" not in names


def test_paper_config_fails_fast_offline(repo, tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "_host_reachable", lambda url, timeout=0: False)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    config = load_config(repo / "config" / "paper.yaml")
    start = time.perf_counter()
    checks = run_preflight(config, tmp_path, 1.0)
    failed = {check.name for check in checks if check.failed}
    assert time.perf_counter() - start < 10
    assert {"bapps", "images", "gpu", "weights alexnet", "weights convnext_tiny"} <= failed
    with pytest.raises(PreflightError) as caught:
        raise_on_failure(checks)
    assert "place the weights file at" in str(caught.value) and "bapps.source" in str(caught.value)


# ----------------------------------------------------------------------------- start-up


def test_startup_checks_name_every_missing_file_and_folder(tmp_path, no_network):
    config = _config(
        grid={"weights": "weights/mine.pt"},
        bapps={"source": "local", "path": "bapps"},
        images={"source": "folder", "folder": {"path": "photos"}},
        mos={"sets": [{"format": "csv", "path": "mos/scores.csv"}]},
    )
    failed = {c.name: c.message for c in preflight.startup_checks(config, tmp_path) if c.failed}
    assert f"grid.weights: {tmp_path / 'weights/mine.pt'} does not exist" in failed["weights"]
    assert f"bapps.path: {tmp_path / 'bapps'} holds neither 2afc/ nor jnd/" in failed["bapps"]
    assert "point bapps.path at the folder" in failed["bapps"]
    assert f"images.folder.path: {tmp_path / 'photos'} is no folder" in failed["images"]
    assert "mos.sets[0].path" in failed["mos 0"] and "does not exist" in failed["mos 0"]


def test_startup_checks_pass_on_the_offline_default_and_never_probe_hosts(repo, no_network):
    config = load_config(repo / "config" / "config.yaml")
    assert not [c for c in preflight.startup_checks(config, repo) if c.failed]
    paper = load_config(repo / "config" / "paper.yaml")  # downloads: left to their own jobs
    assert not [c for c in preflight.startup_checks(paper, repo) if c.failed]


def test_startup_checks_the_gpu_only_when_asked(monkeypatch, tmp_path, no_network):
    _fake_cuda(monkeypatch, 0)
    config = _config(device="cuda")
    assert "gpu" not in {c.name for c in preflight.startup_checks(config, tmp_path)}
    (gpu,) = [c for c in preflight.startup_checks(config, tmp_path, gpu=True) if c.name == "gpu"]
    assert gpu.failed and "CUDA is not available" in gpu.message
