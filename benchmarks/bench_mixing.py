"""The mix term from difference maps or from channel second moments: storage and speed.

For the study taps of alexnet and squeezenet1_1 at 64 px, what one triplet costs to keep for
training ``mix`` on frozen features: its three feature maps (``3 sum_l C_l H_l W_l`` numbers,
from which both comparisons' differences follow) against the two comparisons' second moments
``G = mean_hw D D^T`` (``2 sum_l C_l^2``), in float16. Then the mixing term's forward and
backward pass (rank 16, 256 comparisons) on each, timed interleaved (maps, moments, maps, ...)
and reported as the median of the rounds with their spread.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from dpsim.backbones import build_backbone
from dpsim.metric import unit_normalise
from dpsim.mixing import channel_moments, mixing_from_maps, mixing_from_moments

NETWORKS = ("alexnet", "squeezenet1_1")
FLOAT16_BYTES = 2
#: Memory a demanding user may give the frozen features (bytes), to say up to what pool size
#: each form fits.
BUDGET_BYTES = 8e9


def _shapes(network: str) -> list[tuple[int, int, int]]:
    backbone = build_backbone(network, "study", weights="random").eval()
    with torch.no_grad():
        maps = backbone(torch.zeros(1, 3, 64, 64))
    return [tuple(m.shape[1:]) for m in maps]  # type: ignore[misc]


def _pass_seconds(differences: list[torch.Tensor], rank: int, moments: bool) -> float:
    """One forward and backward pass of the mixing term of every layer."""
    qs = [torch.randn(rank, d.shape[1], requires_grad=True) for d in differences]
    inputs = [channel_moments(d) for d in differences] if moments else differences
    start = time.perf_counter()
    term = mixing_from_moments if moments else mixing_from_maps
    total = sum(term(x, q).sum() for x, q in zip(inputs, qs, strict=True))
    total.backward()  # type: ignore[union-attr]
    return time.perf_counter() - start


def _network_row(network: str, comparisons: int, rank: int, rounds: int) -> dict:
    shapes = _shapes(network)
    map_numbers = 3 * sum(c * h * w for c, h, w in shapes)
    moment_numbers = 2 * sum(c * c for c, _, _ in shapes)
    generator = torch.Generator().manual_seed(0)
    differences = [
        unit_normalise(torch.randn(comparisons, c, h, w, generator=generator))
        - unit_normalise(torch.randn(comparisons, c, h, w, generator=generator))
        for c, h, w in shapes
    ]
    times: dict[str, list[float]] = {"maps": [], "moments": []}
    for _ in range(rounds):  # interleaved: load on the machine hits both alike
        times["maps"].append(_pass_seconds(differences, rank, moments=False))
        times["moments"].append(_pass_seconds(differences, rank, moments=True))
    medians = {k: float(np.median(v)) for k, v in times.items()}
    per_triplet = {"maps": map_numbers * FLOAT16_BYTES, "moments": moment_numbers * FLOAT16_BYTES}
    return {
        "network": network,
        "layers": [list(s) for s in shapes],
        "bytes_per_triplet_float16": per_triplet,
        "triplets_in_budget": {k: int(BUDGET_BYTES // v) for k, v in per_triplet.items()},
        "pass_ms_median": {k: round(v * 1e3, 1) for k, v in medians.items()},
        "pass_ms_spread": {
            k: [round(min(v) * 1e3, 1), round(max(v) * 1e3, 1)] for k, v in times.items()
        },
        "moments_over_maps_time": round(medians["moments"] / medians["maps"], 2),
    }


def run(device: str = "cpu", comparisons: int = 256, rank: int = 16, rounds: int = 5) -> dict:
    """Storage per triplet and pass time of both forms for each network (CPU timing)."""
    return {
        "what": (
            "mix term from maps vs second moments: float16 bytes per triplet, triplets in "
            f"{BUDGET_BYTES / 1e9:g} GB, forward+backward ms for {comparisons} comparisons at "
            f"rank {rank} (median of {rounds} interleaved rounds, with min/max)"
        ),
        "networks": [_network_row(n, comparisons, rank, rounds) for n in NETWORKS],
    }
