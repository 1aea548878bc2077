"""The ``dpsim`` command: distance between image files, info, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dpsim import cli
from dpsim.metric import build_metric, save_metric


@pytest.fixture
def pngs(tmp_path: Path) -> tuple[Path, Path]:
    generator = np.random.default_rng(0)
    a = generator.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + generator.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    return tmp_path / "a.png", tmp_path / "b.png"


def _expected(metric, a: Path, b: Path) -> float:
    def load(path):
        array = np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)
        return torch.from_numpy(array.copy()).float().unsqueeze(0) / 127.5 - 1

    with torch.no_grad():
        return float(metric.eval()(load(a), load(b)))


def test_distance_with_random_weights_prints_the_metric_value(pngs, capsys):
    assert cli.main(["distance", *map(str, pngs), "--weights", "random", "--layers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = _expected(build_metric("alexnet", "baseline", weights="random"), *pngs)
    assert float(lines[0]) == pytest.approx(expected, rel=1e-5)
    assert len(lines) == 6 and lines[1].split()[0] == "features.1"
    assert sum(float(line.split()[1]) for line in lines[1:]) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("variant", ["lin", "mix"])
def test_distance_with_a_metric_checkpoint(pngs, tmp_path, capsys, variant):
    metric = build_metric("squeezenet1_1", variant, weights="random", seed=4, mix_rank=5)
    with torch.no_grad():
        metric.weights[0].mul_(3.0)
        if metric.mixing is not None:  # far from its small start: the term counts
            for q in metric.mixing.mixing:
                q.mul_(30.0)
    save_metric(metric, tmp_path / "metric.pt")
    assert cli.main(["distance", *map(str, pngs), "--metric", str(tmp_path / "metric.pt")]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(_expected(metric, *pngs), rel=1e-5)


def test_clear_errors(pngs, tmp_path, capsys):
    assert (
        cli.main(["distance", str(tmp_path / "missing.png"), str(pngs[1]), "--weights", "random"])
        == 2
    )
    assert "missing.png does not exist" in capsys.readouterr().err
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "small.png")
    assert (
        cli.main(["distance", str(pngs[0]), str(tmp_path / "small.png"), "--weights", "random"])
        == 2
    )
    assert "give --size N" in capsys.readouterr().err
    assert cli.main(["distance", *map(str, pngs), "--weights", "random", "--net", "alexnett"]) == 2
    assert "did you mean 'alexnet'" in capsys.readouterr().err


def test_size_option_resizes_both(pngs, tmp_path, capsys):
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "small.png")
    args = ["distance", str(pngs[0]), str(tmp_path / "small.png"), "--weights", "random"]
    assert cli.main([*args, "--size", "32"]) == 0
    assert float(capsys.readouterr().out) > 0


def test_info_lists_taps_and_offline_weights(tmp_path, capsys):
    assert cli.main(["info", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "alexnet: ImageNet weights missing (alexnet-owt-7be5be79.pth)" in out
    assert "features.1, features.4, features.7, features.9, features.11" in out
    assert "resnet50" in out and "layer4" in out
