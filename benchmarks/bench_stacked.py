"""Training a pack's K tune models: one after another, or side by side with ``torch.func.vmap``.

Issue 19 asks which way a packed job should train its contexts. The contexts of a pack share
the pool's images and differ in their labels, so K models can see the same batch: ``vmap`` over
their stacked parameters (``torch.func.stack_module_state`` and ``functional_call``) computes
all K in one call, where the sequential way runs K forward and backward passes. Each side does
one training step of K alexnet tune metrics (random init, study taps) on one batch of 64
triplets at 64 px: distances, a logistic loss on ``d1 - d0`` against each model's own labels
(the ranking head is a few numbers and left out: the backbone's passes are the cost), the
gradients, and an Adam step. The vmap side runs the same formula on NCHW tensors (see
``_TripletModule``: vmap cannot use the metric's channels-last layout). Timed interleaved
(sequential, vmap, ...), median of the rounds with the spread. dpsim trains one context
after another (bit for bit as alone in a job); this says what side-by-side training would buy
on this machine.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from timing import interleaved_rates, round_ratios, summary
from torch.func import functional_call, grad, stack_module_state, vmap

from dpsim.metric import DPSMetric, build_metric, unit_normalise

MODELS = 4
BATCH = 64


def _batch(models: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = [torch.rand(BATCH, 3, 64, 64, generator=generator) * 2 - 1 for _ in range(3)]
    labels = (torch.rand(models, BATCH, generator=generator) > 0.5).float()
    return images, labels


def _loss(d0: torch.Tensor, d1: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(d1 - d0, labels)


def sequential_step(metrics: list[DPSMetric], optimizers, images, labels) -> None:
    """K forward and backward passes, one model after another."""
    for metric, optimizer, own in zip(metrics, optimizers, labels, strict=True):
        optimizer.zero_grad(set_to_none=True)
        d0, d1 = metric.triplet_distances(*images)
        _loss(d0, d1, own).backward()
        optimizer.step()


class Stacked:
    """K copies of a metric as stacked parameters, stepped together through ``vmap``."""

    def __init__(self, metrics: list[DPSMetric]) -> None:
        self.base = copy.deepcopy(metrics[0]).to("meta")
        params, self.buffers = stack_module_state(metrics)
        self.params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        self.optimizer = torch.optim.Adam(self.params.values(), lr=1e-4)

        def loss(params, buffers, own, ref, p0, p1):
            d0, d1 = functional_call(self.base, (params, buffers), (ref, p0, p1), strict=False)
            return _loss(d0, d1, own)

        self._grads = vmap(grad(loss), in_dims=(0, 0, 0, None, None, None), randomness="different")

    def step(self, images, labels) -> None:
        grads = self._grads(self.params, self.buffers, labels, *images)
        for name, tensor in self.params.items():
            tensor.grad = grads[name]
        self.optimizer.step()


class _TripletModule(torch.nn.Module):
    """``triplet_distances`` as ``forward``, so that ``functional_call`` can reach it, on
    contiguous (NCHW) images: ``vmap`` cannot re-lay out a tensor channels-last (PyTorch 2.14:
    "Tensor.clone(memory_format) inside vmap is only supported with ... contiguous_format")."""

    def __init__(self, metric: DPSMetric) -> None:
        super().__init__()
        self.metric = metric

    def forward(self, ref, p0, p1):
        metric = self.metric
        refs, first, second = (
            [unit_normalise(f) for f in metric.backbone(metric.scaling(images))]
            for images in (ref, p0, p1)
        )
        d0 = metric.layer_distances(refs, first).sum(dim=1)
        d1 = metric.layer_distances(refs, second).sum(dim=1)
        return d0, d1


def run(rounds: int = 5, device: str = "cpu", models: int = MODELS) -> dict:
    metrics = [build_metric("alexnet", "tune", taps="study", seed=0).train() for _ in range(models)]
    images, labels = _batch(models)
    optimizers = [torch.optim.Adam(m.parameters(), lr=1e-4) for m in metrics]
    stacked = Stacked([_TripletModule(m) for m in metrics])
    steps = {
        "sequential": lambda: sequential_step(metrics, optimizers, images, labels),
        "vmap": lambda: stacked.step(images, labels),
    }
    for step in steps.values():  # warm-up
        step()
    rates = interleaved_rates(steps, models * BATCH, rounds)
    return {
        "what": (
            f"one training step of {models} alexnet tune metrics on {BATCH} triplets at 64 px: "
            "one after another against vmap over stacked parameters, interleaved"
        ),
        "device": device,
        "rounds": rounds,
        "triplets_per_s": {name: summary(values, 1) for name, values in rates.items()},
        "vmap_over_sequential": summary(round_ratios(rates["vmap"], rates["sequential"])),
    }
