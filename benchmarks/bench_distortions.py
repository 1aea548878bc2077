"""Triplets/s of the batched distortion synthesis against torchvision transforms image by image.

Both sides make the same kind of triplets from the same uint8 64x64 references: two different
distortions per reference, fresh random parameters each. The baseline is what a training script
would do with torchvision: build the six transforms once and call one per image.
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision.transforms as T
from timing import rate

from dpsim import distortions

TORCHVISION_TRANSFORMS = {
    "rotate": T.RandomRotation(degrees=(30, 330), fill=0),
    "translate": T.RandomAffine(degrees=0, translate=(0.5, 0.5), fill=0),
    "darken": T.ColorJitter(brightness=(0.1, 0.5)),
    "color": T.ColorJitter(hue=0.5),
    "blur": T.GaussianBlur(kernel_size=(11, 21), sigma=(4, 10)),
    "zoom_in": T.RandomAffine(degrees=0, scale=(1.1, 2), fill=0),
}


def torchvision_one_by_one(refs: torch.Tensor, d0: np.ndarray, d1: np.ndarray) -> None:
    transforms = [TORCHVISION_TRANSFORMS[name] for name in distortions.DISTORTIONS]
    for i in range(len(refs)):
        transforms[d0[i]](refs[i])
        transforms[d1[i]](refs[i])


def batched(refs: torch.Tensor, d0: np.ndarray, d1: np.ndarray, batch: int, device: str) -> None:
    generator = np.random.default_rng(0)
    for lo in range(0, len(refs), batch):
        chunk = refs[lo : lo + batch].to(device)
        for ids in (d0[lo : lo + batch], d1[lo : lo + batch]):
            params = distortions.draw_params(generator, ids, refs.shape[-1])
            distortions.apply_uint8(chunk, ids, params)
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(triplets: int = 1024, batch: int = 512, repeats: int = 3, device: str = "cpu") -> dict:
    """Measure both ways on the same references; returns rates and their ratio."""
    generator = np.random.default_rng(1)
    refs = torch.from_numpy(generator.integers(0, 256, (triplets, 3, 64, 64), dtype=np.uint8))
    d0, d1 = distortions.draw_distinct_pairs(generator, triplets)
    batched(refs[:batch], d0, d1, batch, device)  # warm-up
    torchvision_one_by_one(refs[:32], d0, d1)
    ours = rate(lambda: batched(refs, d0, d1, batch, device), triplets, repeats)
    baseline = rate(lambda: torchvision_one_by_one(refs, d0, d1), triplets, repeats)
    return {
        "what": "triplets/s: batched dpsim.distortions vs torchvision transforms image by image",
        "triplets": triplets,
        "batch_size": batch,
        "device": device,
        "dpsim_triplets_per_s": round(ours, 1),
        "torchvision_triplets_per_s": round(baseline, 1),
        "speedup": round(ours / baseline, 2),
        "goal_speedup": 5.0,
    }
