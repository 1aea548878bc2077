"""Images/s and memory of the transformer backbones beside alexnet, as dpsim metrics.

Each network's lin metric (its ``study`` taps, random weights) scores the same 64 px image
pairs: alexnet, squeezenet1_1 and swin_t at 64 px as they are; vit_b_32, vit_b_16 and maxvit_t
after their recorded resize to 224 px (the only size they run at). The networks are timed in
turns (alexnet, swin_t, ..., alexnet, ...) so load on a shared machine falls on all alike, and
each round's rate is divided by alexnet's of the same round. Memory: the state's size, and the
peak of one batch above what the built metric holds, each network in a fresh process (the
resident set's rise, sampled, on a CPU, with glibc returning freed buffers; the CUDA
allocator's peak on a GPU).
"""

from __future__ import annotations

import gc

import torch
from timing import batch_peak_mb, in_fresh_process, interleaved_rates, round_ratios, summary

from dpsim.metric import DPSMetric, build_metric

#: The networks compared, alexnet (the reference) first.
NETWORKS = ("alexnet", "squeezenet1_1", "swin_t", "vit_b_32", "vit_b_16", "maxvit_t")
PAIRS = 16
SIDE = 64


def _metric(network: str, device: str) -> DPSMetric:
    return build_metric(network, "lin", taps="study").to(device).eval()


def _pairs(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x, y = (torch.rand(PAIRS, 3, SIDE, SIDE, generator=generator) * 2 - 1 for _ in range(2))
    return x.to(device), y.to(device)


def _scorer(metric: DPSMetric, device: str):
    x, y = _pairs(device)

    def call() -> None:
        with torch.inference_mode():
            metric(x, y, check_range=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return call


def _peak_worker(network: str, device: str, queue) -> None:
    call = _scorer(_metric(network, device), device)
    call()  # warm-up: one-off allocations (oneDNN primitives, caches) are not the batch's
    gc.collect()
    queue.put(batch_peak_mb(call, device))


def run(rounds: int = 5, device: str = "cpu", networks: tuple[str, ...] = NETWORKS) -> dict:
    metrics = {name: _metric(name, device) for name in networks}
    calls = {name: _scorer(metric, device) for name, metric in metrics.items()}
    for call in calls.values():  # warm-up
        call()
    rates = interleaved_rates(calls, 2 * PAIRS, rounds)
    reference = networks[0]
    rows = {}
    for name, metric in metrics.items():
        state = sum(t.numel() * t.element_size() for t in metric.state_dict().values())
        side = metric.backbone.input_side
        rows[name] = {
            "input": f"{SIDE} px" + (f" resized to {side} px" if side else ""),
            "taps": list(metric.backbone.taps),
            "channels": list(metric.backbone.channels),
            "images_per_s": summary(rates[name], 1),
            f"rate_vs_{reference}": summary(round_ratios(rates[name], rates[reference])),
            "state_mb": round(state / 2**20, 1),
            "batch_peak_mb": in_fresh_process(_peak_worker, (name, device)),
        }
    return {
        "what": f"lin metric distances of {PAIRS} image pairs ({SIDE} px), random weights",
        "rounds": rounds,
        "device": device,
        "networks": rows,
    }
