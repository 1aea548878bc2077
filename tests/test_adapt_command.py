"""``dpsim adapt``: the config it writes, its argument checks, one run from outside the clone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image
from test_judgment_pool import write_judgments

from dpsim import adapt_command, cli, load_metric
from dpsim.config import ConfigError, load_config
from dpsim.data.judgment_fixture import write_nights_fixture
from dpsim.data.pool import load_pool

DPSIM = str(Path(sys.executable).parent / "dpsim")  # the installed console script
SMALL = {
    "pool": {"triplets": {"train": 64, "val": 32, "test": 32}, "shard_size": 64, "batch_size": 64},
    "bapps": {"fixture": {"train_items": 8, "val_items": 12, "jnd_items": 10}},
    "train": {"batch_size": 16, "epochs_constant": 1, "epochs_decay": 1},
    "evaluate": {"baselines": ["baseline", "l2"]},
    "figures": {"examples_per_distortion": 2},
}


def _request(tmp_path: Path, **changes) -> adapt_command.AdaptRequest:
    fields = {"out": tmp_path / "run", "rankings": (("pixelate", "jpeg", "noise"),), **changes}
    return adapt_command.AdaptRequest(**fields)


def test_the_workflow_ships_inside_the_package():
    folder = adapt_command.workflow_dir()
    for part in ("Snakefile", "rules/adapt.smk", "workflow_scripts/pool_draw.py"):
        assert (folder / part).is_file(), part
    assert (folder / "config" / "config.yaml").is_file()
    assert (folder / "profiles" / "default" / "config.yaml").is_file()


def test_the_written_config_is_complete_and_reads_back_the_same(tmp_path):
    extra = tmp_path / "small.yaml"
    extra.write_text(yaml.safe_dump(SMALL))
    photos = tmp_path / "photos"
    photos.mkdir()
    request = _request(tmp_path, images=photos, extra=extra, network="squeezenet1_1")
    config = adapt_command.build_config(request)
    assert config["distortions"]["set"] == ["pixelate", "jpeg", "noise"]
    assert config["contexts"] == {**config["contexts"], "source": "list"}
    assert config["contexts"]["rankings"] == [["pixelate", "jpeg", "noise"]]
    assert config["images"]["folder"]["path"] == str(photos.resolve())
    assert config["grid"]["networks"] == ["squeezenet1_1"] and config["grid"]["variants"] == ["lin"]
    assert config["readout"]["networks"] == []  # off unless asked for
    assert config["pool"]["triplets"]["train"] == 64  # --config is merged last
    path = adapt_command.write_config(config, request.out)
    assert load_config(path) == config  # every key written: the file alone repeats the run
    assert "Rerun or edit it: snakemake -s" in path.read_text().splitlines()[1]
    notes = " ".join(adapt_command.offline_notes(config))
    assert "random" in notes and "SYNTHETIC" in notes and "embedded" not in notes
    expected = request.out / "results/metrics/squeezenet1_1/lin/c000/seed0/last.pt"
    assert expected in adapt_command.checkpoints(config, request.out)


def test_triplets_make_a_judgments_context(tmp_path):
    table = tmp_path / "mine.csv"
    request = adapt_command.AdaptRequest(out=tmp_path / "run", triplets=table, variants=("lin",))
    changes = adapt_command.overrides(request)
    assert changes["contexts"] == {
        "source": "judgments",
        "judgments": {"path": str(table.resolve()), "format": "csv"},
    }
    assert changes["pool"] == {"train_draws": 1}
    with pytest.raises(ValueError, match="either --ranking"):
        adapt_command.overrides(_request(tmp_path, triplets=table))
    with pytest.raises(ValueError, match="either --ranking"):
        adapt_command.overrides(adapt_command.AdaptRequest(out=tmp_path / "run"))


def test_bad_arguments_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="two or more distortions"):
        adapt_command.parse_ranking("blur")
    with pytest.raises(ValueError, match=r"name=package\.module:function"):
        adapt_command.parse_plugin("stripes")
    two_sets = _request(tmp_path, rankings=(("blur", "jpeg"), ("blur", "noise")))
    with pytest.raises(ValueError, match="does not order the same distortions"):
        adapt_command.build_config(two_sets)
    with pytest.raises(ConfigError, match="did you mean 'pixelate'"):
        adapt_command.build_config(_request(tmp_path, rankings=(("pixelated", "jpeg"),)))
    with pytest.raises(ConfigError, match="alexnett"):
        adapt_command.build_config(_request(tmp_path, network="alexnett"))
    assert not (tmp_path / "run").exists()
    status = cli.main(["adapt", "--out", str(tmp_path / "x"), "--ranking", "blur,jpg"])
    assert status == 2 and not (tmp_path / "x").exists()


def _run(command: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)


def _photos(folder: Path, count: int = 12) -> None:
    folder.mkdir()
    generator = np.random.default_rng(0)
    x = np.linspace(0.0, 1.0, 96)
    for k in range(count):
        base = np.stack([np.outer(np.sin(x * (k + 1)), 1 - x), np.outer(1 - x, x), np.outer(x, x)])
        noisy = np.clip(0.8 * base + generator.normal(0, 0.08, base.shape) + 0.1, 0, 1)
        Image.fromarray((noisy.transpose(1, 2, 0) * 255).astype(np.uint8)).save(folder / f"{k}.png")


@pytest.mark.slow
@pytest.mark.workflow
def test_dpsim_adapt_from_outside_the_clone_gives_a_loadable_metric(tmp_path, repo):
    """Photos and a ranking of new distortions and a plug-in -> a metric, a report and a config
    to rerun; the whole workflow over a set with no study distortion (pool, labels, training,
    evaluation, pairs analysis, figures, report)."""
    assert repo not in tmp_path.parents
    _photos(tmp_path / "photos")
    small = {**SMALL, "distortions": {"params": {"jpeg": {"quality": [5, 20]}}}}
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(small))
    env = {**os.environ, "PYTHONPATH": str(repo / "tests")}  # tests/user_distortions.py
    chosen = ["pixelate", "jpeg", "noise", "occlusion", "stripes"]
    command = [DPSIM, "adapt", "--images", "photos", "--ranking", ",".join(chosen)]
    command += ["--plugin", "stripes=user_distortions:stripes", "--out", "runs/mine"]
    command += ["--config", "small.yaml", "--cores", "2"]
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "offline run, backbone weights: random" in run.stdout
    out = tmp_path / "runs/mine"
    pool = load_pool(out / "results/pool/test/draw0")
    assert pool.distortions == tuple(chosen) and pool.params0.shape[1] == 4
    jpeg = np.concatenate([pool.params0[pool.d0 == 1, 0], pool.params1[pool.d1 == 1, 0]])
    assert len(jpeg) and jpeg.min() >= 5 and jpeg.max() <= 20
    pairs = pd.read_parquet(out / "results/stats/pairs.parquet")
    assert "stripes" in set(pairs["first"]) | set(pairs["second"]) <= set(chosen)
    checkpoint = out / "results/metrics/alexnet/lin/c000/seed0/last.pt"
    assert "metric runs/mine/results/metrics/alexnet/lin/c000/seed0/last.pt" in run.stdout
    assert (out / "reports/report.html").stat().st_size > 10_000
    metric = load_metric(checkpoint)
    images = torch.rand(2, 3, 64, 64)
    distances = metric(images[:1] * 2 - 1, images[1:] * 2 - 1)
    assert distances.shape == (1,) and float(distances) > 0
    pair = ["photos/0.png", "photos/1.png", "--metric", str(checkpoint), "--size", "64"]
    shown = subprocess.run(
        [DPSIM, "distance", *pair], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert shown.returncode == 0, shown.stderr
    assert float(shown.stdout.split()[0]) > 0
    workflow = str(adapt_command.workflow_dir() / "Snakefile")
    again = [sys.executable, "-m", "snakemake", "-s", workflow, "-d", str(out)]
    again += ["--configfile", str(out / "config.yaml"), "-n"]
    rerun = _run(again, tmp_path, env)
    assert rerun.returncode == 0 and "Nothing to be done" in rerun.stdout + rerun.stderr
    broken = [*command[:6], "--plugin", "stripes=user_distortions:nope", "--out", "runs/broken"]
    run = subprocess.run(
        [*broken, "--dry-run"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    said = run.stdout + run.stderr
    assert run.returncode != 0 and "distortions.plugins.stripes" in said
    assert "user_distortions has no function 'nope'" in said


@pytest.mark.slow
@pytest.mark.workflow
def test_dpsim_adapt_on_a_csv_of_judgments_gives_a_loadable_metric(tmp_path, repo):
    """A few hundred judged triplets (shares) -> a metric trained on them, tested by bootstrap."""
    csv = write_judgments(tmp_path / "data", count=200)
    mapping = {"ref": "reference", "p0": "first", "p1": "second", "judge": "share"}
    nights = write_nights_fixture(tmp_path / "nights", count=30)  # scored beside BAPPS
    judged = {"nights": {"path": str(nights), "format": "nights", "split": "test"}}
    extra = {
        **SMALL,
        "contexts": {"judgments": {"columns": mapping}},
        "evaluate": {"judgment_sets": judged},
    }
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(extra))
    command = [DPSIM, "adapt", "--triplets", str(csv.relative_to(tmp_path)), "--out", "runs/j"]
    command += ["--variant", "lin", "--variant", "tune", "--config", "small.yaml", "--cores", "2"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = tmp_path / "runs/j"
    tests = pd.read_parquet(out / "results/stats/context_tests.parquet")
    assert set(tests["variant"]) == {"lin", "tune"} and set(tests["test"]) == {"paired_bootstrap"}
    assert tests["n"].eq(40).all()  # the test split: 20% of 200
    for variant in ("lin", "tune"):
        checkpoint = out / f"results/metrics/alexnet/{variant}/c000/seed0/last.pt"
        assert f"metric runs/j/results/metrics/alexnet/{variant}/c000/seed0/last.pt" in run.stdout
        pair = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
        distance = load_metric(checkpoint)(pair[:1], pair[1:])
        assert float(distance) > 0
    summary = pd.read_parquet(out / "results/summary.parquet")
    on_nights = summary[summary["dataset"] == "nights"]
    assert set(on_nights["variant"]) >= {"lin", "tune", "baseline"} and on_nights["n"].eq(10).all()
    judged_tests = pd.read_parquet(out / "results/stats/judgment_set_tests.parquet")
    assert set(judged_tests["variant"]) == {"lin", "tune"}
    report = (out / "reports/report.html").read_text()
    assert "Human perception (other judgment sets)" in report and "On nights (2afc), lin" in report
    assert (out / "reports/report.html").stat().st_size > 10_000
