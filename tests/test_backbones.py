"""Tapped torchvision backbones: taps and channels, in-place safety, and the three weight kinds.

Every network here is built at random (seeded) weights; ImageNet files are stand-ins made from a
random model and named with their own hash, so no test needs the internet. The only network
traffic goes to 127.0.0.1 (a closed port, or the local test server).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import torch
import torchvision
from local_http import LocalHTTPServer, unused_port

from dpsim import backbones, weights
from dpsim.backbones import Backbone, build_backbone
from dpsim.taps import LAYER_TAPS
from dpsim.weights import (
    WeightsInfo,
    WeightsUnavailableError,
    available_offline,
    imagenet_weights_file,
)

SEED = 3


def _seeded_torchvision(network: str, seed: int, **kwargs: object) -> torch.nn.Module:
    """The plain torchvision model, initialised under ``seed`` (the independent reference)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torchvision.models.get_model(network, weights=None, **kwargs).eval()


def _images(n: int = 2, side: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(seed))


def _hooked_outputs(model: torch.nn.Module, names: list[str], x: torch.Tensor) -> list:
    """Clones of the outputs of the named modules, taken the moment each module returns."""
    modules = dict(model.named_modules())
    seen: dict[str, torch.Tensor] = {}
    handles = [
        modules[name].register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, out.detach().clone())
        )
        for name in names
    ]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return [seen[name] for name in names]


def _save_state(model: torch.nn.Module, path: Path) -> str:
    """Save ``model``'s state dict at ``path`` and return the file's SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_carries(backbone: Backbone, state: dict[str, torch.Tensor]) -> None:
    """Every parameter and buffer of the backbone equals the same-named entry of ``state``."""
    own = backbone.state_dict()
    assert own
    for key, value in own.items():
        assert torch.equal(value, state[key.removeprefix("model.")]), key


@pytest.fixture(scope="module")
def alexnet() -> Backbone:
    return build_backbone("alexnet", "lpips", weights="random", seed=SEED)


@pytest.fixture(scope="module")
def squeezenet_model() -> torch.nn.Module:
    return _seeded_torchvision("squeezenet1_1", 11)


# --------------------------------------------------------------------------------- taps


@pytest.mark.parametrize(
    ("network", "taps", "channels"),
    [
        ("vgg16", "lpips", (64, 128, 256, 512, 512)),
        ("squeezenet1_1", "lpips", (64, 128, 256, 384, 384, 512, 512)),
        ("resnet18", "study", (64, 64, 128, 512)),
        ("resnet50", "study", (64, 256, 512, 2048)),
    ],
)
def test_channels_of_the_named_taps(network, taps, channels):
    backbone = build_backbone(network, taps)
    assert backbone.network == network
    assert backbone.taps == LAYER_TAPS[network][taps]
    assert backbone.channels == channels
    features = backbone(_images(1))
    assert [f.shape[1] for f in features] == list(channels)


def test_alexnet_lpips_taps_equal_features_sliced_by_hand(alexnet):
    assert alexnet.taps == ("features.1", "features.4", "features.7", "features.9", "features.11")
    assert alexnet.channels == (64, 192, 384, 256, 256)
    model = _seeded_torchvision("alexnet", SEED)
    x = _images()
    with torch.no_grad():
        got = alexnet(x)
        expected = [model.features[: int(t.split(".")[1]) + 1](x) for t in alexnet.taps]
    assert [tuple(f.shape[2:]) for f in got] == [(15, 15), (7, 7), (3, 3), (3, 3), (3, 3)]
    for tap, ours, reference in zip(alexnet.taps, got, expected, strict=True):
        assert torch.equal(ours, reference), tap


def test_study_taps_are_a_subset_of_the_lpips_graph(alexnet):
    study = build_backbone("alexnet", "study", seed=SEED)
    assert study.channels == (64, 192, 384, 256)
    with torch.no_grad():
        lpips, ours = alexnet(_images()), study(_images())
    for tap, feature in zip(study.taps, ours, strict=True):
        assert torch.equal(feature, lpips[alexnet.taps.index(tap)])


def test_the_graph_stops_at_the_last_tap(alexnet):
    assert "model.features.0.weight" in alexnet.state_dict()
    assert not any("classifier" in key for key in alexnet.state_dict())
    resnet = build_backbone("resnet18", ["layer1"])
    assert not any(key.startswith(("model.layer2", "model.fc")) for key in resnet.state_dict())


def test_module_names_tap_the_module_output():
    backbone = build_backbone("resnet18", "study", seed=SEED)
    model = _seeded_torchvision("resnet18", SEED)
    x = _images(seed=1)
    expected = _hooked_outputs(model, list(backbone.taps), x)
    with torch.no_grad():
        got = backbone(x)
    assert [tuple(f.shape) for f in got] == [
        (2, 64, 32, 32),
        (2, 64, 16, 16),
        (2, 128, 8, 8),
        (2, 512, 2, 2),
    ]
    for tap, ours, reference in zip(backbone.taps, got, expected, strict=True):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0, msg=tap)


def test_any_network_with_explicit_taps_in_network_order():
    backbone = build_backbone("mobilenet_v3_small", ["features.5", "features.2"], seed=SEED)
    assert backbone.taps == ("features.2", "features.5")
    assert backbone.channels == (24, 40)
    model = _seeded_torchvision("mobilenet_v3_small", SEED)
    x = _images(seed=2)
    expected = _hooked_outputs(model, list(backbone.taps), x)
    with torch.no_grad():
        got = backbone(x)
    for ours, reference in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)


def test_a_tapped_tensor_is_not_overwritten_by_a_later_inplace_relu():
    # features.1 is nn.ReLU(inplace=True) in torchvision; it would clamp features.0's output.
    backbone = build_backbone("alexnet", ["features.0", "features.1"], seed=SEED)
    with torch.no_grad():
        conv, relu = backbone(_images())
    assert (conv < 0).any()
    torch.testing.assert_close(relu, conv.clamp(min=0), rtol=0, atol=0)


def test_relus_that_alone_read_a_fresh_output_work_in_place_and_change_nothing():
    # alexnet: each ReLU follows a convolution no one else reads; resnet18's block ReLU is one
    # module called after a batch norm and after the residual sum, so it stays out of place.
    alexnet = build_backbone("alexnet", "lpips", seed=SEED)
    relus = [m for m in alexnet.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 5 and all(m.inplace for m in relus)
    resnet = build_backbone("resnet18", ["layer1.0", "layer2"], seed=SEED)
    stem, *blocks = [m for m in resnet.modules() if isinstance(m, torch.nn.ReLU)]
    assert stem.inplace and not any(m.inplace for m in blocks)
    for network, backbone, taps in (
        ("alexnet", alexnet, list(alexnet.taps)),
        ("resnet18", resnet, ["layer1.0", "layer2"]),
    ):
        x = _images(seed=5)
        expected = _hooked_outputs(_seeded_torchvision(network, SEED), taps, x)
        for grad in (False, True):  # and in training, where autograd checks every overwrite
            with torch.set_grad_enabled(grad):
                got = backbone(x.clone().requires_grad_(grad))
            if grad:
                sum(g.sum() for g in got).backward()
            for ours, reference in zip(got, expected, strict=True):
                torch.testing.assert_close(ours.detach(), reference, rtol=0, atol=0)


def test_functional_inplace_relu_in_the_graph_is_made_out_of_place():
    # GoogLeNet's BasicConv2d calls F.relu(x, inplace=True) after its batch norm.
    backbone = build_backbone("googlenet", ["conv1.bn", "conv1", "maxpool1"], seed=SEED)
    model = _seeded_torchvision("googlenet", SEED, init_weights=True)
    x = _images(seed=3)
    expected = _hooked_outputs(model, ["conv1.bn", "conv1", "maxpool1"], x)
    with torch.no_grad():
        got = backbone(x)
    assert (got[0] < 0).any()
    for ours, reference in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)


def test_unknown_network_suggests_the_closest():
    with pytest.raises(ValueError, match=r"'alexnt'.*did you mean 'alexnet'"):
        build_backbone("alexnt")


def test_unknown_tap_names_it_with_a_suggestion_and_a_hint():
    with pytest.raises(ValueError, match=r"'featurs\.4'.*'features\.4'.*get_graph_node_names"):
        build_backbone("alexnet", ["features.1", "featurs.4"])
    with pytest.raises(ValueError, match=r"not a node or module name"):
        build_backbone("alexnet", ["features.1)"])
    with pytest.raises(ValueError, match=r"repeat"):
        build_backbone("alexnet", ["features.1", "features.1"])


def test_tap_set_errors():
    with pytest.raises(ValueError, match=r"resnet18 has no 'lpips' tap set.*study"):
        build_backbone("resnet18", "lpips")
    with pytest.raises(ValueError, match=r"did you mean 'lpips'"):
        build_backbone("alexnet", "lpip")
    with pytest.raises(ValueError, match=r"explicit list"):
        build_backbone("mobilenet_v3_small", "lpips")


def test_names_moved_to_taps_and_weights_are_still_importable_from_backbones():
    assert backbones.LAYER_TAPS is LAYER_TAPS
    moved = set(backbones.__all__) - {"LAYER_TAPS", "Backbone", "build_backbone"}
    assert moved == {
        "IMAGENET_WEIGHTS",
        "WeightsInfo",
        "WeightsUnavailableError",
        "available_offline",
        "imagenet_weights_file",
    }
    assert all(getattr(backbones, name) is getattr(weights, name) for name in moved)


def test_forward_checks_the_input(alexnet):
    with pytest.raises(ValueError, match=r"N x 3 x H x W, got \(1, 1, 64, 64\)"):
        alexnet(torch.zeros(1, 1, 64, 64))


# ----------------------------------------------------------------------------- weights


def test_random_weights_are_reproducible_and_leave_the_global_rng_alone():
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    first = build_backbone("squeezenet1_1", "lpips", seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    again = build_backbone("squeezenet1_1", "lpips", seed=7)
    other = build_backbone("squeezenet1_1", "lpips", seed=8)
    assert first.weights == WeightsInfo("random", "seed=7", None, seed=7)
    a, b, c = first.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.features.0.weight"], c["model.features.0.weight"])
    _assert_carries(first, _seeded_torchvision("squeezenet1_1", 7).state_dict())


def test_bad_seed_is_refused():
    with pytest.raises(ValueError, match=r"non-negative integer, got -1"):
        build_backbone("squeezenet1_1", seed=-1)


@pytest.mark.parametrize("wrapped", [False, True])
def test_file_weights_round_trip(tmp_path, squeezenet_model, wrapped):
    path = tmp_path / "squeeze.pth"
    state = squeezenet_model.state_dict()
    torch.save({"state_dict": state, "epoch": 3} if wrapped else state, path)
    backbone = build_backbone("squeezenet1_1", "lpips", weights=str(path), seed=0)
    _assert_carries(backbone, state)
    expected_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert backbone.weights == WeightsInfo("file", str(path), expected_sha)


def test_file_weights_with_missing_or_extra_keys_are_refused(tmp_path, squeezenet_model):
    state = dict(squeezenet_model.state_dict())
    missing = {k: v for k, v in state.items() if k != "features.3.expand3x3.bias"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"missing\.pth.*features\.3\.expand3x3\.bias"):
        build_backbone("squeezenet1_1", weights=str(tmp_path / "missing.pth"))
    torch.save({**state, "head.extra.weight": torch.zeros(2)}, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match=r"extra\.pth.*unexpected keys \['head\.extra\.weight'\]"):
        build_backbone("squeezenet1_1", weights=str(tmp_path / "extra.pth"))
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match=r"list\.pth holds a list, not a state dict"):
        build_backbone("squeezenet1_1", weights=str(tmp_path / "list.pth"))


def test_missing_weights_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.pth does not exist"):
        build_backbone("squeezenet1_1", weights=str(tmp_path / "nothing.pth"))
    with pytest.raises(FileNotFoundError, match=r"did you mean 'imagenet'"):
        build_backbone("squeezenet1_1", weights="imagenett")


def test_legacy_densenet_keys_are_renamed():
    value = torch.zeros(1)
    renamed = weights._rename_legacy_densenet_keys(
        {"features.denseblock1.denselayer1.norm.1.weight": value, "features.conv0.weight": value}
    )
    assert set(renamed) == {
        "features.denseblock1.denselayer1.norm1.weight",
        "features.conv0.weight",
    }


# ----------------------------------------------------------------------- imagenet weights


def test_imagenet_weights_are_torchvisions_v1_in_the_hub_layout(tmp_path):
    url, path = imagenet_weights_file("alexnet", tmp_path)
    assert url == torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    assert path == tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    url, _ = imagenet_weights_file("resnet50", tmp_path)
    assert url == torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url  # not the V2 default
    assert not available_offline("alexnet", tmp_path)


def test_imagenet_offline_fails_fast_saying_what_to_put_where(tmp_path, monkeypatch):
    url = f"http://127.0.0.1:{unused_port()}/alexnet-owt-7be5be79.pth"
    monkeypatch.setattr(weights, "_imagenet_url", lambda network: url)
    expected = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as raised:
        build_backbone("alexnet", weights="imagenet", cache_dir=tmp_path)
    assert time.monotonic() - start < 10
    message = str(raised.value)
    assert str(expected) in message
    assert url in message
    assert "weights: random" in message
    assert isinstance(raised.value, FileNotFoundError)
    assert not expected.exists()


@pytest.fixture
def imagenet_stand_in(tmp_path, monkeypatch, squeezenet_model):
    """A random squeezenet saved under a torchvision-style name that carries its own hash."""
    staging = tmp_path / "staging" / "weights.pth"
    digest = _save_state(squeezenet_model, staging)
    name = f"squeezenet1_1-{digest[:8]}.pth"
    url = f"http://127.0.0.1:{unused_port()}/models/{name}"
    monkeypatch.setattr(weights, "_imagenet_url", lambda network: url)
    return staging, digest, tmp_path / "torch"


def test_imagenet_file_in_place_loads_without_network(imagenet_stand_in, monkeypatch):
    staging, digest, cache_dir = imagenet_stand_in

    def no_network(url: str, timeout: float = 0) -> bool:
        raise AssertionError(f"the network was probed for {url}")

    monkeypatch.setattr(weights, "_host_reachable", no_network)
    _, path = imagenet_weights_file("squeezenet1_1", cache_dir)
    assert not available_offline("squeezenet1_1", cache_dir)
    path.parent.mkdir(parents=True)
    staging.rename(path)
    assert available_offline("squeezenet1_1", cache_dir)
    backbone = build_backbone("squeezenet1_1", "lpips", weights="imagenet", cache_dir=cache_dir)
    assert backbone.weights == WeightsInfo(
        "imagenet", "SqueezeNet1_1_Weights.IMAGENET1K_V1", digest
    )
    _assert_carries(backbone, torch.load(path, weights_only=True))


def test_imagenet_file_with_a_wrong_hash_is_called_corrupt(tmp_path, monkeypatch):
    name = "squeezenet1_1-deadbeef.pth"
    monkeypatch.setattr(weights, "_imagenet_url", lambda network: f"http://127.0.0.1:1/{name}")
    _, path = imagenet_weights_file("squeezenet1_1", tmp_path)
    _save_state(_seeded_torchvision("squeezenet1_1", 0), path)
    with pytest.raises(ValueError, match=r"corrupt.*deadbeef.*delete it and download it again"):
        build_backbone("squeezenet1_1", weights="imagenet", cache_dir=tmp_path)


def test_imagenet_download_when_the_host_answers(imagenet_stand_in, monkeypatch):
    staging, digest, cache_dir = imagenet_stand_in
    name = f"squeezenet1_1-{digest[:8]}.pth"
    with LocalHTTPServer({f"/models/{name}": staging.read_bytes()}) as server:
        url = server.url(f"/models/{name}")
        monkeypatch.setattr(weights, "_imagenet_url", lambda network: url)
        backbone = build_backbone("squeezenet1_1", weights="imagenet", cache_dir=cache_dir)
        assert [r.path for r in server.requests] == [f"/models/{name}"]
    _, path = imagenet_weights_file("squeezenet1_1", cache_dir)
    assert path.read_bytes() == staging.read_bytes()
    assert backbone.weights.sha256 == digest
    _assert_carries(backbone, torch.load(staging, weights_only=True))


def test_imagenet_download_with_a_wrong_hash_leaves_no_file(imagenet_stand_in, monkeypatch):
    _, digest, cache_dir = imagenet_stand_in
    name = f"squeezenet1_1-{digest[:8]}.pth"
    with LocalHTTPServer({f"/models/{name}": b"not the weights"}) as server:
        url = server.url(f"/models/{name}")
        monkeypatch.setattr(weights, "_imagenet_url", lambda network: url)
        with pytest.raises(WeightsUnavailableError, match=r"invalid hash value"):
            build_backbone("squeezenet1_1", weights="imagenet", cache_dir=cache_dir)
    assert not available_offline("squeezenet1_1", cache_dir)
    assert list((cache_dir / "hub" / "checkpoints").iterdir()) == []


def test_networks_without_v1_weights_say_so():
    with pytest.raises(ValueError, match=r"vit_h_14 has no IMAGENET1K_V1 weights"):
        imagenet_weights_file("vit_h_14", "unused")
