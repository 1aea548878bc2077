"""Pairs/s and 2AFC triplets/s of dpsim's metric against the ``lpips`` package, plus peak memory.

Both sides use AlexNet with the same random-init backbone (``pnet_rand=True`` keeps lpips
offline; its features receive dpsim's weights) and the official LPIPS v0.1 linear weights that
ship inside the lpips package, on identical 64x64 inputs in [-1, 1]. lpips runs under
``torch.no_grad()`` (its usual use); dpsim under ``torch.inference_mode()``. A triplet costs lpips
two calls, lpips(ref, p0) and lpips(ref, p1); dpsim computes the reference's features once.
Peak memory is, for each side in a fresh subprocess, the growth of the resident set sampled every
0.5 ms during one batch (CPU), or the CUDA allocator's peak above what was allocated before.
"""

from __future__ import annotations

import gc
import multiprocessing
import threading
import time
from pathlib import Path

import psutil
import torch
from timing import rate

from dpsim.metric import DPSMetric, build_metric


def build_pair(device: str) -> tuple[DPSMetric, torch.nn.Module]:
    """dpsim's metric and lpips's, sharing backbone and linear weights."""
    import lpips

    ours = build_metric("alexnet", "lin", weights="random", seed=0)
    ours.load_lpips_weights(Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth")
    theirs = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    features = {k.split("features.", 1)[1]: v for k, v in ours.backbone.state_dict().items()}
    theirs.net.load_state_dict({k: features[k.split(".", 1)[1]] for k in theirs.net.state_dict()})
    return ours.to(device).eval(), theirs.to(device).eval()


def _inputs(batch: int, device: str) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.rand(batch, 3, 64, 64, generator=generator) * 2 - 1).to(device) for _ in range(3)
    ]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def workloads(ours, theirs, batch: int, device: str) -> dict:
    ref, p0, p1 = _inputs(batch, device)

    def ours_pairs() -> None:
        with torch.inference_mode():
            ours(ref, p0)
        _sync(device)

    def theirs_pairs() -> None:
        with torch.no_grad():
            theirs(ref, p0)
        _sync(device)

    def ours_triplets() -> None:
        with torch.inference_mode():
            ours.triplet_distances(ref, p0, p1)
        _sync(device)

    def theirs_triplets() -> None:
        with torch.no_grad():
            theirs(ref, p0)
            theirs(ref, p1)
        _sync(device)

    return {
        "dpsim_pairs": ours_pairs,
        "lpips_pairs": theirs_pairs,
        "dpsim_triplets": ours_triplets,
        "lpips_triplets": theirs_triplets,
    }


def _peak_worker(name: str, batch: int, device: str, queue) -> None:
    ours, theirs = build_pair(device)
    work = workloads(ours, theirs, batch, device)[name]
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        work()
        queue.put((torch.cuda.max_memory_allocated() - before) / 2**20)
        return
    process = psutil.Process()
    before, peak, done = process.memory_info().rss, [0], threading.Event()

    def sample() -> None:  # the resident set's high-water mark while the work runs
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.0005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    work()
    done.set()
    sampler.join()
    queue.put((peak[0] - before) / 2**20)


def peak_memory_mb(name: str, batch: int, device: str) -> float:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_worker, args=(name, batch, device, queue))
    process.start()
    value = queue.get(timeout=300)
    process.join(timeout=60)
    return round(value, 1)


def run(batch: int = 128, repeats: int = 5, device: str = "cpu") -> dict:
    ours, theirs = build_pair(device)
    work = workloads(ours, theirs, batch, device)
    for function in work.values():  # warm-up (and cuDNN autotuning on GPU)
        function()
    rates = {name: rate(function, batch, repeats) for name, function in work.items()}
    peaks = {name: peak_memory_mb(name, batch, device) for name in work}
    return {
        "what": "alexnet LPIPS at 64x64: dpsim vs the lpips package, same weights and inputs",
        "batch_size": batch,
        "device": device,
        **{f"{name}_per_s": round(value, 1) for name, value in rates.items()},
        "speedup_pairs": round(rates["dpsim_pairs"] / rates["lpips_pairs"], 2),
        "speedup_triplets": round(rates["dpsim_triplets"] / rates["lpips_triplets"], 2),
        "goal_speedup_pairs": 1.2,
        "goal_speedup_triplets": 1.5,
        "peak_memory_mb": peaks,
    }
