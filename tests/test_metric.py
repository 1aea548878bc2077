"""The DPS metric: LPIPS formula to 1e-5 (independent code and the lpips package), readouts,
variants, non-negativity, gradients, input checks, checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision

from dpsim import metric as M
from dpsim.backbones import build_backbone

LPIPS_TAPS = {
    "alexnet": (1, 4, 7, 9, 11),
    "vgg16": (3, 8, 15, 22, 29),
    "squeezenet1_1": (1, 4, 7, 9, 10, 11, 12),
}
LPIPS_FILES = {"alexnet": "alex.pth", "vgg16": "vgg.pth", "squeezenet1_1": "squeeze.pth"}


def _images(n: int = 4, seed: int = 0, size: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=generator) * 2 - 1


@pytest.fixture(scope="module")
def alexnet_backbone():
    return build_backbone("alexnet", "lpips", weights="random", seed=3)


def _reference_lpips(features_module, taps, x, y, weights):
    """LPIPS written out directly from the paper's definition, independently of dpsim."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
    total = torch.zeros(len(x), dtype=torch.float64)
    hx, hy = (x - shift) / scale, (y - shift) / scale
    start = 0
    for k, tap in enumerate(taps):
        for index in range(start, tap + 1):
            layer = features_module[index]
            hx, hy = layer(hx), layer(hy)
        start = tap + 1
        nx = hx / (torch.sqrt((hx**2).sum(dim=1, keepdim=True)) + 1e-10)
        ny = hy / (torch.sqrt((hy**2).sum(dim=1, keepdim=True)) + 1e-10)
        conv = F.conv2d((nx - ny) ** 2, weights[k].view(1, -1, 1, 1))
        total += conv.mean(dim=(2, 3)).flatten().double()
    return total


def _torchvision_features(network: str, backbone) -> torch.nn.Sequential:
    model = torchvision.models.get_model(network, weights=None)
    state = {k.split("model.", 1)[-1]: v for k, v in backbone.state_dict().items()}
    model.features.load_state_dict(
        {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    )
    for module in model.features.modules():
        if hasattr(module, "inplace"):
            module.inplace = False
    return model.features.eval()


def test_lpips_formula_equals_an_independent_implementation(alexnet_backbone):
    metric = M.DPSMetric(alexnet_backbone, "lin").eval()
    with torch.no_grad():
        for k, w in enumerate(metric.weights):
            w.copy_(torch.rand(len(w), generator=torch.Generator().manual_seed(k)))
        x, y = _images(seed=1), _images(seed=2)
        ours = metric(x, y)
        features = _torchvision_features("alexnet", alexnet_backbone)
        expected = _reference_lpips(features, LPIPS_TAPS["alexnet"], x, y, list(metric.weights))
    torch.testing.assert_close(ours.double(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("network", ["alexnet", "squeezenet1_1", "vgg16"])
def test_official_lpips_weights_reproduce_the_lpips_package(network):
    lpips = pytest.importorskip("lpips")
    backbone = build_backbone(network, "lpips", weights="random", seed=0)
    ours = M.DPSMetric(backbone, "lin").eval()
    weight_file = Path(lpips.__file__).parent / "weights" / "v0.1" / LPIPS_FILES[network]
    ours.load_lpips_weights(weight_file)
    short = {"alexnet": "alex", "vgg16": "vgg", "squeezenet1_1": "squeeze"}[network]
    reference = lpips.LPIPS(net=short, pnet_rand=True, verbose=False).eval()
    features = _torchvision_features(network, backbone).state_dict()
    renamed = {}
    for key in reference.net.state_dict():
        index_and_param = key.split(".", 1)[1]  # slice3.6.weight -> 6.weight
        renamed[key] = features[index_and_param]
    reference.net.load_state_dict(renamed)
    x, y = _images(seed=4), _images(seed=5)
    with torch.no_grad():
        expected = reference(x, y).flatten()
        got = ours(x, y)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_baseline_is_a_cosine_distance_readout(alexnet_backbone):
    metric = M.DPSMetric(alexnet_backbone, "baseline").eval()
    x, y = _images(seed=6), _images(seed=7)
    with torch.no_grad():
        layers = metric.distances_by_layer(x, y)
        raw = alexnet_backbone(metric.scaling(torch.cat([x, y])))
    for k, f in enumerate(raw):
        cos = F.cosine_similarity(f[:4], f[4:], dim=1, eps=0)  # per position, across channels
        torch.testing.assert_close(layers[:, k], (2 - 2 * cos).mean(dim=(1, 2)), atol=1e-5, rtol=0)
    assert not any(p.requires_grad for p in metric.parameters())


@pytest.mark.parametrize("readout", M.READOUTS)
def test_distance_to_itself_is_zero_and_symmetric(alexnet_backbone, readout):
    metric = M.DPSMetric(alexnet_backbone, "lin", readout=readout).eval()
    x, y = _images(seed=8), _images(seed=9)
    with torch.no_grad():
        assert torch.allclose(metric(x, x), torch.zeros(4), atol=1e-7)
        torch.testing.assert_close(metric(x, y), metric(y, x))
        assert (metric(x, y) > 0).all()


def test_readout_statistics_by_hand():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 5, 3, 4, generator=generator), torch.rand(2, 5, 3, 4, generator=generator)
    keep = torch.nn.Identity()
    spatial = ((x - y) ** 2).mean(dim=(2, 3))
    mean = (x.mean(dim=(2, 3)) - y.mean(dim=(2, 3))) ** 2
    ordered = ((x.flatten(2).sort(2).values - y.flatten(2).sort(2).values) ** 2).mean(2)
    torch.testing.assert_close(M.channel_statistics(x, y, "spatial", keep), spatial)
    torch.testing.assert_close(M.channel_statistics(x, y, "mean", keep), mean)
    torch.testing.assert_close(M.channel_statistics(x, y, "spatial+sort", keep), spatial + ordered)
    # mean and sort ignore where things are: a spatial shuffle of x changes only "spatial"
    shuffled = x.flatten(2)[:, :, torch.randperm(12, generator=generator)].view_as(x)
    torch.testing.assert_close(M.channel_statistics(shuffled, y, "sort", keep), ordered)
    torch.testing.assert_close(M.channel_statistics(shuffled, y, "mean", keep), mean)
    assert not torch.allclose(M.channel_statistics(shuffled, y, "spatial", keep), spatial)


def test_weights_stay_non_negative_after_an_optimiser_step(alexnet_backbone):
    metric = M.DPSMetric(alexnet_backbone, "lin").train()
    optimizer = torch.optim.SGD([p for p in metric.parameters() if p.requires_grad], lr=1e6)
    metric.attach_clamp(optimizer)
    metric(_images(seed=1), _images(seed=2)).sum().backward()  # pushes every weight down
    optimizer.step()
    weights = torch.cat([w.detach() for w in metric.weights])
    assert (weights >= 0).all() and (weights == 0).any()


@pytest.mark.parametrize(("variant", "backbone_learns"), [("lin", False), ("tune", True)])
def test_gradients_reach_the_backbone_only_when_tuning(variant, backbone_learns):
    backbone = build_backbone("alexnet", "lpips", weights="random", seed=0)
    metric = M.DPSMetric(backbone, variant).train()
    metric(_images(seed=1), _images(seed=2)).sum().backward()
    backbone_grads = [p.grad for p in metric.backbone.parameters()]
    assert all(g is not None for g in backbone_grads) == backbone_learns
    assert all(g is None for g in backbone_grads) == (not backbone_learns)
    assert all(w.grad is not None for w in metric.weights)


def test_frozen_backbone_stays_in_eval_mode():
    metric = M.DPSMetric(build_backbone("resnet18", "study", weights="random"), "lin").train()
    assert not metric.backbone.training and metric.training
    tuned = M.DPSMetric(build_backbone("resnet18", "study", weights="random"), "tune").train()
    assert tuned.backbone.training


def test_dropout_only_in_training(alexnet_backbone):
    metric = M.DPSMetric(alexnet_backbone, "lin")
    x, y = _images(seed=1), _images(seed=2)
    metric.eval()
    with torch.no_grad():
        assert torch.equal(metric(x, y), metric(x, y))
        metric.train()
        torch.manual_seed(0)
        first = metric(x, y)
        torch.manual_seed(1)
        assert not torch.equal(first, metric(x, y))


def test_triplet_path_equals_two_pair_calls(alexnet_backbone):
    metric = M.DPSMetric(alexnet_backbone, "lin").eval()
    ref, p0, p1 = _images(seed=1), _images(seed=2), _images(seed=3)
    with torch.no_grad():
        d0, d1 = metric.triplet_distances(ref, p0, p1)
        torch.testing.assert_close(d0, metric(ref, p0), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(d1, metric(ref, p1), atol=1e-6, rtol=1e-5)


def test_input_checks_name_the_problem(alexnet_backbone):
    metric = M.DPSMetric(alexnet_backbone, "lin").eval()
    good = _images()
    unit = (good + 1) / 2
    with pytest.raises(ValueError, match=r"looks like images in \[0, 1\]"):
        metric(unit, unit)
    torch.testing.assert_close(metric(unit, unit * 0.5, input_range="0,1"), metric(good, unit - 1))
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\].*x / 127\.5 - 1"):
        metric(good * 255, good)
    with pytest.raises(ValueError, match=r"shape \(N, 3, H, W\), got \(3, 64, 64\)"):
        metric(good[0], good[0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        metric(good, good.clone().fill_(float("nan")))
    with pytest.raises(TypeError, match="floating-point"):
        metric(good.to(torch.uint8), good)
    with pytest.raises(ValueError, match="did you mean 'tune'"):
        M.DPSMetric(alexnet_backbone, "tun")
    assert metric(unit, unit, check_range=False).shape == (4,)


@pytest.mark.parametrize("variant", ["lin", "tune"])
def test_checkpoint_round_trip(tmp_path, variant):
    metric = M.build_metric("squeezenet1_1", variant, weights="random", seed=2).eval()
    with torch.no_grad():
        for w in metric.weights:
            w.mul_(torch.rand_like(w))
        if variant == "tune":
            next(metric.backbone.parameters()).add_(0.1)
    M.save_metric(metric, tmp_path / "m.pt")
    loaded = M.load_metric(tmp_path / "m.pt").eval()
    assert loaded.describe() == metric.describe()
    x, y = _images(seed=1), _images(seed=2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, y), metric(x, y))


def test_checkpoint_rebuilds_random_weights_from_the_recorded_seed(tmp_path):
    metric = M.build_metric("squeezenet1_1", "lin", weights="random", seed=5).eval()
    assert metric.describe()["weights"]["seed"] == 5
    M.save_metric(metric, tmp_path / "m.pt")
    checkpoint = torch.load(tmp_path / "m.pt", weights_only=True)
    checkpoint["metric"]["weights"]["source"] = "seed=999"  # a label only: never parsed back
    torch.save(checkpoint, tmp_path / "relabelled.pt")
    loaded = M.load_metric(tmp_path / "relabelled.pt").eval()
    x, y = _images(seed=1), _images(seed=2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, y), metric(x, y), rtol=0, atol=0)


def test_checkpoint_of_an_older_format_is_refused_with_the_fix(tmp_path):
    metric = M.build_metric("squeezenet1_1", "lin", weights="random", seed=5)
    M.save_metric(metric, tmp_path / "m.pt")
    checkpoint = torch.load(tmp_path / "m.pt", weights_only=True)
    checkpoint["metric"]["format"] = 1
    torch.save(checkpoint, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"format 2 \(found 1\).*train the metric again"):
        M.load_metric(tmp_path / "old.pt")


def test_checkpoint_on_a_weights_file_that_changed_since_is_refused(tmp_path):
    torch.manual_seed(1)
    weights = tmp_path / "squeeze.pt"
    torch.save(torchvision.models.squeezenet1_1().state_dict(), weights)
    metric = M.build_metric("squeezenet1_1", "lin", weights=str(weights))
    M.save_metric(metric, tmp_path / "m.pt")
    assert M.load_metric(tmp_path / "m.pt").describe() == metric.describe()
    torch.manual_seed(2)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), weights)
    with pytest.raises(ValueError, match="the file changed since"):
        M.load_metric(tmp_path / "m.pt")


def test_forward_gives_distances_and_the_layers_sum_to_them(alexnet_backbone):
    metric = M.DPSMetric(alexnet_backbone, "baseline").eval()
    x, y = _images(seed=3), _images(seed=4)
    with torch.no_grad():
        total, layers = metric(x, y), metric.distances_by_layer(x, y)
    assert isinstance(total, torch.Tensor) and total.shape == (4,)
    assert layers.shape == (4, len(alexnet_backbone.taps))
    torch.testing.assert_close(layers.sum(dim=1), total)


def test_lpips_weight_file_for_another_network_is_refused(alexnet_backbone):
    lpips = pytest.importorskip("lpips")
    metric = M.DPSMetric(alexnet_backbone, "lin")
    vgg_file = Path(lpips.__file__).parent / "weights" / "v0.1" / "vgg.pth"
    with pytest.raises(ValueError, match=r"lin\d has shape .*expected"):
        metric.load_lpips_weights(vgg_file)


def test_scratch_always_starts_from_random_weights():
    metric = M.build_metric("alexnet", "scratch", weights="imagenet", seed=1)
    assert metric.backbone.weights.kind == "random"


def test_the_lean_inference_path_gives_the_autograd_paths_distances(alexnet_backbone):
    # Under inference the network's input is one buffer filled in place, each batch has a
    # pass of its own and the maps are normalised in place; with a gradient to the images none
    # of that may happen. The input is the same floats; the distances agree to 1e-7 (a
    # convolution library may pick another kernel for another batch size).
    metric = M.DPSMetric(alexnet_backbone, "lin").eval()
    ref, p0, p1 = _images(seed=20), _images(seed=21), _images(seed=22)
    with torch.inference_mode():
        lean_input = metric.network_input([ref, p0])
        lean_pair = metric(ref, p0)
        lean_triplet = metric.triplet_distances(ref, p0, p1)
    graph_inputs = [t.clone().requires_grad_(True) for t in (ref, p0, p1)]
    graph_input = metric.network_input(graph_inputs[:2])
    graph_pair = metric(*graph_inputs[:2])
    graph_triplet = metric.triplet_distances(*graph_inputs)
    assert graph_pair.requires_grad and graph_input.requires_grad  # the gradient path was taken
    assert torch.equal(lean_input, graph_input.detach())
    assert lean_input.is_contiguous(memory_format=torch.channels_last)
    for lean, graph in ((lean_pair, graph_pair), *zip(lean_triplet, graph_triplet, strict=True)):
        torch.testing.assert_close(lean, graph.detach(), rtol=0, atol=1e-7)
    torch.testing.assert_close(lean_triplet[0], lean_pair, rtol=0, atol=1e-7)


def test_taps_that_share_memory_are_normalised_without_overwriting_each_other():
    maps = torch.rand(2, 4, 3, 3) + 0.1
    view = maps[:, :, :2]  # a second tap on the same storage
    alone = torch.rand(2, 4, 3, 3) + 0.1
    expected = [M.unit_normalise(t.clone()) for t in (maps, view, alone)]
    with torch.no_grad():
        graphless = M.normalised_taps([maps.clone(), maps.clone()])
    assert all(torch.equal(g, expected[0]) for g in graphless)
    kept = [t.clone() for t in (maps, alone)]
    in_graph = M.normalised_taps(list(kept))  # gradient mode: nothing is overwritten
    assert all(g is not k for g, k in zip(in_graph, kept, strict=True))
    taps = [maps, view, alone]
    with torch.no_grad():
        got = M.normalised_taps(taps)
    assert taps == []  # the raw maps are released as their normalised ones are made
    for ours, reference in zip(got, expected, strict=True):
        assert torch.equal(ours, reference)
    assert got[2] is alone and got[0] is not maps  # in place only where nothing else reads it


def test_dpsim_load_metric_gives_a_frozen_distance_that_serves_as_a_loss(tmp_path):
    import warnings

    import dpsim

    metric = M.build_metric("alexnet", "lin", weights="random", seed=3).eval()
    with torch.no_grad():
        for w in metric.weights:
            w.mul_(torch.rand_like(w))
    M.save_metric(metric, tmp_path / "m.pt")
    loaded = dpsim.load_metric(tmp_path / "m.pt")
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    target, start = _images(seed=30), _images(seed=31)
    with torch.no_grad():
        torch.testing.assert_close(loaded(start, target), metric(start, target), rtol=0, atol=0)
    image = start.clone().requires_grad_(True)
    optimiser = torch.optim.SGD([image], lr=0.5)
    losses = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning from the input checks on a graph tensor
        for _ in range(5):  # a few steps of the image towards the target under the metric
            optimiser.zero_grad()
            loss = loaded(image.clamp(-1, 1), target).sum()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
    assert image.grad is not None and torch.isfinite(image.grad).all()
    assert losses[-1] < losses[0]
