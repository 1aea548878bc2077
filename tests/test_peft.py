"""The parameter-efficient rungs: LoRA starts as the base network and merges to one kernel,
BitFit trains the biases alone, only each rung's numbers get gradients, checkpoints reload."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dpsim.metric import build_metric, load_metric, save_metric
from dpsim.peft import LoRAConv2d, add_lora


@pytest.fixture(scope="module")
def images():
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(3, 3, 32, 32, generator=generator) * 2 - 1 for _ in range(2)]


@pytest.mark.parametrize("network", ["alexnet", "squeezenet1_1"])
def test_a_zero_initialised_lora_is_the_base_network(images, network):
    base = build_metric(network, "lin", taps="study").eval()
    lora = build_metric(network, "lora", taps="study", lora_rank=3).eval()
    wrapped = [m for m in lora.backbone.modules() if isinstance(m, LoRAConv2d)]
    convolutions = [m for m in base.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(wrapped) == len(convolutions) > 0  # every convolution up to the last tap
    assert all(
        m.lora_b.detach().abs().max() == 0 and m.lora_a.detach().abs().max() > 0 for m in wrapped
    )
    with torch.no_grad():
        assert torch.equal(lora(*images), base(*images))


def test_a_lora_convolution_is_its_merged_kernel():
    conv = torch.nn.Conv2d(4, 6, 3, padding=1, stride=2)
    holder = torch.nn.Sequential(conv)
    add_lora(holder, rank=2, seed=5)
    (lora,) = holder
    with torch.no_grad():
        lora.lora_b.normal_()
    x = torch.randn(2, 4, 9, 9)
    kernel = lora.weight + (lora.lora_b @ lora.lora_a).view_as(lora.weight)
    expected = F.conv2d(x, kernel, lora.bias, stride=2, padding=1)
    torch.testing.assert_close(lora(x), expected)
    again = torch.nn.Sequential(torch.nn.Conv2d(4, 6, 3))
    add_lora(again, rank=2, seed=5)
    assert torch.equal(again[0].lora_a, lora.lora_a)  # A is drawn from the seed
    with pytest.raises(ValueError, match="rank must be >= 1"):
        add_lora(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)), rank=0)


@pytest.mark.parametrize(
    ("variant", "trained"),
    [("lora", ("lora_a", "lora_b")), ("bitfit", ("bias",))],
)
def test_gradients_reach_only_what_each_rung_trains(images, variant, trained):
    metric = build_metric("squeezenet1_1", variant, taps="study")
    metric.train()
    if variant == "lora":  # B = 0 gives A no gradient yet: move B first
        with torch.no_grad():
            for m in metric.backbone.modules():
                if isinstance(m, LoRAConv2d):
                    m.lora_b.normal_(std=0.01)
    metric(*images).sum().backward()
    graded = {n for n, p in metric.named_parameters() if p.grad is not None}
    backbone = {n.split(".")[-1] for n in graded if n.startswith("backbone.")}
    assert backbone == set(trained)
    assert {n for n in graded if not n.startswith("backbone.")} == {
        f"weights.{k}" for k in range(4)
    }
    assert all(p.grad.abs().max() > 0 for n, p in metric.named_parameters() if p.grad is not None)


@pytest.mark.parametrize("variant", ["lora", "bitfit"])
def test_checkpoints_keep_only_the_trained_part_and_reload_to_the_same_distances(
    images, tmp_path, variant
):
    metric = build_metric("alexnet", variant, taps="study", lora_rank=2).eval()
    with torch.no_grad():
        for parameter in metric.backbone.parameters():
            if parameter.requires_grad:
                parameter.add_(torch.randn_like(parameter) * 0.05)
    path = tmp_path / f"{variant}.pt"
    save_metric(metric, path)
    state = torch.load(path, weights_only=True)["state"]
    assert not any(k.endswith(".weight") and k.startswith("backbone.") for k in state)
    reloaded = load_metric(path).eval()
    assert reloaded.describe() == metric.describe()
    with torch.no_grad():
        moved = metric(*images)
        assert torch.equal(reloaded(*images), moved)
        base = build_metric("alexnet", "lin", taps="study").eval()
        assert not torch.allclose(base(*images), moved)  # the trained part counts
