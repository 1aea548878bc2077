"""Pairs/s and 2AFC triplets/s of dpsim's metric against the ``lpips`` package and the limit.

Three sides, on identical inputs in [-1, 1] and the same random-init backbone weights (lpips's
``pnet_rand=True`` keeps it offline; its features receive dpsim's weights), with the official
LPIPS v0.1 linear weights that ship inside the lpips package:

- ``dpsim``: the metric as a user calls it, ``metric(x, y)`` (input checks included) and
  ``metric.triplet_distances(ref, p0, p1)``, under ``torch.inference_mode()``;
- ``lpips``: ``lpips.LPIPS(x, y)`` under ``torch.no_grad()`` (its usual use); a triplet costs it
  two calls, (ref, p0) and (ref, p1);
- ``limit``: the backbone's layers alone (torchvision's own feature stack, in-place ReLUs as
  torchvision builds it, cut after the last tap) on the images the metric must pass through
  them, already scaled and in the metric's memory layout (channels-last): 2 N images for N
  pairs, 3 N for N triplets. Timed both as one pass of all of them (``limit_joined``) and as
  one pass per batch of N (``limit_per_batch``); a round's limit is the faster of the two
  (which one depends on the network: squeezenet1_1 runs 3 x 128 images 1.6x faster in three
  passes than in one). No metric can be faster than the network it reads, so
  ``dpsim / limit`` says how much the metric adds; the goal is >= 0.95.

The sides are timed interleaved (dpsim, lpips, limit_joined, limit_per_batch, dpsim, ...), one
call each per round, and reported as the median of the rounds with their spread; the ratios
are the medians of the per-round ratios. Peak memory is, for dpsim and lpips each in a fresh
subprocess, the growth of the resident set sampled every 0.5 ms during one batch (CPU), or the
CUDA allocator's peak above what was allocated before.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from timing import batch_peak_mb, in_fresh_process, interleaved_rates, round_ratios, summary

from dpsim.metric import DPSMetric, build_metric

LPIPS_NAMES = {"alexnet": "alex", "squeezenet1_1": "squeeze", "vgg16": "vgg"}
GOAL_OF_LIMIT = 0.95
SIDES = ("dpsim", "lpips", "limit_joined", "limit_per_batch", "limit")
WORKLOADS = ("pairs", "triplets")


@dataclass(frozen=True)
class Case:
    """One configuration: network, image size (px) and batch size (pairs or triplets)."""

    network: str
    size: int
    batch: int

    @property
    def label(self) -> str:
        return f"{self.network}_{self.size}px"


CASES = (
    Case("alexnet", 64, 128),
    Case("squeezenet1_1", 64, 128),
    Case("vgg16", 64, 32),
    Case("alexnet", 256, 32),
)


def _renamed(state: dict[str, torch.Tensor], target: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``state`` (torchvision ``features`` keys, ``6.weight``) under the keys of a module built
    from slices of the same features (lpips's ``slice3.6.weight``)."""
    return {key: state[key.split(".", 1)[1]] for key in target.state_dict()}


def _features_state(ours: DPSMetric) -> dict[str, torch.Tensor]:
    """dpsim's backbone weights under torchvision ``features`` keys (``6.weight``)."""
    return {
        k.split("features.", 1)[1]: v
        for k, v in ours.backbone.state_dict().items()
        if "features." in k
    }


class Limit(torch.nn.Module):
    """torchvision's feature stack up to the metric's last tap, exactly as torchvision builds
    it (in-place ReLUs), returning the tapped outputs: the network alone."""

    def __init__(self, ours: DPSMetric) -> None:
        super().__init__()
        features = torchvision.models.get_model(ours.backbone.network, weights=None).features
        features.load_state_dict(_features_state(ours))
        taps = [int(tap.split(".")[1]) for tap in ours.backbone.taps]  # "features.4" -> 4
        self.features = features[: max(taps) + 1].to(memory_format=torch.channels_last)
        self.taps = set(taps)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
        return outputs


def build_sides(network: str, device: str) -> tuple[DPSMetric, torch.nn.Module, Limit]:
    """dpsim's metric, lpips's and the limit, sharing backbone (and linear) weights."""
    import lpips

    short = LPIPS_NAMES[network]
    ours = build_metric(network, "lin", weights="random", seed=0)
    ours.load_lpips_weights(Path(lpips.__file__).parent / "weights" / "v0.1" / f"{short}.pth")
    theirs = lpips.LPIPS(net=short, pnet_rand=True, verbose=False)
    theirs.net.load_state_dict(_renamed(_features_state(ours), theirs.net))
    limit = Limit(ours)
    return ours.to(device).eval(), theirs.to(device).eval(), limit.to(device).eval()


def _inputs(case: Case, device: str) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    shape = (case.batch, 3, case.size, case.size)
    return [(torch.rand(shape, generator=generator) * 2 - 1).to(device) for _ in range(3)]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def workloads(
    sides: tuple[DPSMetric, torch.nn.Module, Limit], case: Case, device: str
) -> dict[str, dict[str, Callable[[], None]]]:
    """``{workload: {side: one batch}}`` for pairs and triplets."""
    ours, theirs, limit = sides
    ref, p0, p1 = _inputs(case, device)
    with torch.no_grad():
        prepared = ours.scaling(torch.cat([ref, p0, p1])).contiguous(
            memory_format=torch.channels_last
        )
    pair_images, triplet_images = prepared[: 2 * case.batch], prepared
    batches = [prepared[k * case.batch : (k + 1) * case.batch].clone() for k in range(3)]

    def timed(function: Callable[[], object], mode: Callable = torch.inference_mode):
        def call() -> None:
            with mode():
                function()
            _sync(device)

        return call

    return {
        "pairs": {
            "dpsim": timed(lambda: ours(ref, p0)),
            "lpips": timed(lambda: theirs(ref, p0), torch.no_grad),
            "limit_joined": timed(lambda: limit(pair_images)),
            "limit_per_batch": timed(lambda: [limit(b) for b in batches[:2]]),
        },
        "triplets": {
            "dpsim": timed(lambda: ours.triplet_distances(ref, p0, p1)),
            "lpips": timed(lambda: (theirs(ref, p0), theirs(ref, p1)), torch.no_grad),
            "limit_joined": timed(lambda: limit(triplet_images)),
            "limit_per_batch": timed(lambda: [limit(b) for b in batches]),
        },
    }


def _peak_worker(case: Case, workload: str, side: str, device: str, queue) -> None:
    work = workloads(build_sides(case.network, device), case, device)[workload][side]
    work()  # warm-up: one-off allocations (oneDNN primitives, caches) are not the workload's
    gc.collect()
    queue.put(batch_peak_mb(work, device))


def peak_memory_mb(case: Case, workload: str, side: str, device: str) -> float:
    """Peak memory of one batch of ``workload`` by ``side``, measured in a fresh process."""
    return in_fresh_process(_peak_worker, (case, workload, side, device))


def _workload_row(rates: dict[str, list[float]]) -> dict:
    both = zip(rates["limit_joined"], rates["limit_per_batch"], strict=True)
    rates["limit"] = [max(pair) for pair in both]
    of_limit = round_ratios(rates["dpsim"], rates["limit"])
    over_lpips = round_ratios(rates["dpsim"], rates["lpips"])
    return {
        **{f"{side}_per_s": summary(rates[side], 1) for side in SIDES},
        "dpsim_of_limit": summary(of_limit),
        "dpsim_over_lpips": summary(over_lpips),
        "meets_goal": summary(of_limit)["median"] >= GOAL_OF_LIMIT,
    }


def case_row(case: Case, device: str, rounds: int, memory: bool) -> dict:
    """Interleaved rates of the three sides on both workloads, and their peak memory."""
    work = workloads(build_sides(case.network, device), case, device)
    row: dict = {"network": case.network, "size": case.size, "batch_size": case.batch}
    for workload, functions in work.items():
        for function in functions.values():  # warm-up (and cuDNN autotuning on a GPU)
            function()
        row[workload] = _workload_row(interleaved_rates(functions, case.batch, rounds))
    if memory:
        row["peak_memory_mb"] = {
            f"{side}_{workload}": peak_memory_mb(case, workload, side, device)
            for workload in WORKLOADS
            for side in ("dpsim", "lpips")
        }
        peaks = row["peak_memory_mb"]
        row["triplet_memory_within_lpips"] = peaks["dpsim_triplets"] <= peaks["lpips_triplets"]
    return row


def run(rounds: int = 7, device: str = "cpu", cases: tuple[Case, ...] = CASES) -> dict:
    return {
        "what": (
            "LPIPS distances: dpsim vs the lpips package vs the backbone alone (the limit), "
            "same weights and inputs, timed interleaved; median of the rounds with low/high"
        ),
        "device": device,
        "rounds": rounds,
        "goal_dpsim_of_limit": GOAL_OF_LIMIT,
        "goal_triplet_memory": "dpsim's triplet peak <= lpips's",
        "cases": {case.label: case_row(case, device, rounds, memory=True) for case in cases},
    }
