"""Vision transformers as backbones: token and channels-last outputs as maps, the recorded
input resize of ViT and MaxViT, metrics on them, and lin learning a planted context on a ViT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_backbones import _hooked_outputs, _images, _seeded_torchvision
from test_train import _settings

from dpsim.backbones import build_backbone
from dpsim.config import validate_config
from dpsim.head import RankingHeads
from dpsim.metric import build_metric, layer_statistics, load_metric, save_metric
from dpsim.train import CachedLinSource, train

VIT_TAP = "encoder.layers.encoder_layer_1"


def test_vit_tokens_become_the_patch_grid_of_a_resized_image():
    backbone = build_backbone("vit_b_32", [VIT_TAP], seed=3)
    x = _images(side=64)
    (got,) = backbone(x)
    assert backbone.channels == (768,) and got.shape == (2, 768, 7, 7)  # 224 / 32 patches
    model = _seeded_torchvision("vit_b_32", 3)
    resized = torch.nn.functional.interpolate(
        x, size=(224, 224), mode="bicubic", align_corners=False, antialias=True
    )
    (tokens,) = _hooked_outputs(model, [VIT_TAP], resized)  # N x (1 + 49) x 768
    grid = tokens[:, 1:].reshape(2, 7, 7, 768).permute(0, 3, 1, 2)  # row-major patches
    torch.testing.assert_close(got, grid, rtol=0, atol=1e-5)  # the cut graph rounds apart
    assert "input resized to 224 px (bicubic)" in repr(backbone)


def test_vit_study_taps_are_four_blocks_over_the_depth():
    backbone = build_backbone("vit_b_16", "study")
    assert backbone.taps == tuple(f"encoder.layers.encoder_layer_{k}" for k in (2, 5, 8, 11))
    with torch.no_grad():
        maps = backbone(_images(n=1, side=32))
    assert [tuple(m.shape) for m in maps] == [(1, 768, 14, 14)] * 4


@pytest.mark.parametrize("network", ["swin_t", "swin_v2_t"])
def test_swin_stages_are_permuted_to_channels_first_at_64_px(network):
    backbone = build_backbone(network, "study", seed=1)
    x = _images(side=64)
    with torch.no_grad():
        maps = backbone(x)
    shapes = [(2, 96, 16, 16), (2, 192, 8, 8), (2, 384, 4, 4), (2, 768, 2, 2)]
    assert [tuple(m.shape) for m in maps] == shapes and backbone.input_side is None
    model = _seeded_torchvision(network, 1)
    references = _hooked_outputs(model, list(backbone.taps), x)  # N x H x W x C
    for ours, reference in zip(maps, references, strict=True):
        torch.testing.assert_close(ours, reference.permute(0, 3, 1, 2), rtol=0, atol=0)


def test_maxvit_runs_at_224_px_and_its_resize_is_recorded():
    metric = build_metric("maxvit_t", "lin", taps="study")
    with torch.no_grad():
        maps = metric.backbone(_images(n=1, side=64))
    assert [tuple(m.shape) for m in maps] == [
        (1, 64, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 512, 7, 7)
    ]  # fmt: skip
    assert metric.describe()["input_resize"] == {"side": 224, "mode": "bicubic"}
    assert "input_resize" not in build_metric("alexnet", "lin").describe()


def test_transformer_distances_are_zero_to_itself_and_symmetric(tmp_path):
    x, y = (
        torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(s)) * 2 - 1 for s in (0, 1)
    )
    for network, taps in (("swin_t", "study"), ("vit_b_32", [VIT_TAP])):
        metric = build_metric(network, "lin", taps=taps, resize_mode="bilinear").eval()
        with torch.no_grad():
            torch.testing.assert_close(metric(x, x), torch.zeros(2), rtol=0, atol=1e-6)
            forward, backward = metric(x, y), metric(y, x)
        torch.testing.assert_close(forward, backward, rtol=1e-6, atol=0)
        assert bool((forward > 0).all())
    save_metric(metric, tmp_path / "vit.pt")  # the ViT: its bilinear resize comes back
    again = load_metric(tmp_path / "vit.pt").eval()
    assert again.backbone.resize_mode == "bilinear"
    with torch.no_grad():
        torch.testing.assert_close(again(x, y), forward, rtol=0, atol=0)


def test_transformers_have_study_taps_in_the_config():
    config = validate_config({"grid": {"networks": ["swin_t", "vit_b_32", "maxvit_t"]}})
    assert config["grid"]["input_resize"] == "bicubic"


def _colour_noise_statistics(refs: int, versions: int) -> np.ndarray:
    """ViT statistics ``(refs, 2, versions, C)`` of each reference against copies with noise in
    its red (``[:, 0]``) or its green channel (``[:, 1]``)."""
    metric = build_metric("vit_b_32", "lin", taps=[VIT_TAP]).eval()
    generator = torch.Generator().manual_seed(0)
    ref = torch.rand(refs, 3, 32, 32, generator=generator) * 1.6 - 0.8
    noise = torch.zeros(refs, 2, versions, 3, 32, 32)
    draws = 0.25 * torch.randn(refs, 2, versions, 32, 32, generator=generator)
    noise[:, 0, :, 0], noise[:, 1, :, 1] = draws[:, 0], draws[:, 1]
    copies = (ref[:, None, None] + noise).clamp(-1, 1).reshape(-1, 3, 32, 32)
    with torch.inference_mode():
        refs_features = [f.repeat_interleave(2 * versions, 0) for f in metric.features(ref)]
        stats = layer_statistics(refs_features, metric.features(copies), "spatial")
    return stats.numpy().reshape(refs, 2, versions, -1)


def test_lin_on_a_vit_learns_a_planted_context():
    """The context keeps the noise colour the unit-weighted ViT finds farther more similar:
    unit weights score below chance by construction; lin must find the channels that tell."""
    stats = _colour_noise_statistics(refs=14, versions=4)
    closer = int(stats[:, 0].sum(-1).mean() < stats[:, 1].sum(-1).mean())  # the farther colour
    rng = np.random.default_rng(0)

    def draw(rows):
        s0, s1, label = [], [], []
        for r in rows:
            for near in stats[r, closer]:
                for far in stats[r, 1 - closer]:
                    first = rng.random() < 0.5  # p0 is the closer one
                    s0.append(near if first else far)
                    s1.append(far if first else near)
                    label.append(0.0 if first else 1.0)
        return (np.array(s0), np.array(s1)), np.array(label, dtype=np.float32)[:, None]

    data = {0: draw(range(11)), "val": draw(range(11, 14))}
    source = CachedLinSource(
        {k: (a.astype(np.float32), b.astype(np.float32)) for k, ((a, b), _) in data.items()},
        {k: label for k, (_, label) in data.items()},
        0.0,
        torch.ones(stats.shape[-1]),
    )
    # the study's sync term: without it the ranking head inverts (the metric's own score 0,
    # the head's 1) when the metric starts below chance, as unit weights do here
    settings = _settings(
        lr=0.05, batch_size=32, epochs_constant=6, epochs_decay=2, sync="below_chance"
    )
    torch.manual_seed(5)
    result = train(source, RankingHeads(1), settings, seed=0, keys=("planted",), progress=False)
    (s0, s1), label = data["val"]
    unit = float(np.mean((s0.sum(1) > s1.sum(1)) == label[:, 0]))
    assert unit < 0.5 and result.best_val[0] > 0.9


@pytest.mark.parametrize(("variant", "backbone_learns"), [("mix", False), ("tune", True)])
def test_mix_and_tune_train_on_a_swin(variant, backbone_learns):
    metric = build_metric("swin_t", variant, taps="study").train()
    x, y = _images(seed=1, side=32), _images(seed=2, side=32)
    metric(x.clamp(-1, 1), y.clamp(-1, 1)).sum().backward()
    learned = [p.grad is not None for p in metric.backbone.parameters() if p.requires_grad]
    assert bool(learned) == backbone_learns and all(learned)
    assert all(w.grad is not None for w in metric.weights)


def test_dpsim_distance_scores_two_files_through_a_vit(tmp_path, capsys):
    from PIL import Image

    from dpsim import cli

    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    arguments = ["distance", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "--net"]
    arguments += ["vit_b_32", "--taps", "study", "--weights", "random", "--layers"]
    assert cli.main(arguments) == 0
    printed = capsys.readouterr().out
    assert "encoder.layers.encoder_layer_11" in printed


def test_only_the_resized_networks_jobs_read_grid_input_resize():
    from dpsim.steps import keys

    config = validate_config({"grid": {"networks": ["alexnet", "vit_b_32"]}})
    for rule in ("pool_statistics", "evaluation_statistics"):
        vit = keys.settings(rule, config, {"network": "vit_b_32", "seed": "0"})
        alexnet = keys.settings(rule, config, {"network": "alexnet", "seed": "0"})
        assert vit["grid"]["input_resize"] == "bicubic" and "input_resize" not in alexnet["grid"]
