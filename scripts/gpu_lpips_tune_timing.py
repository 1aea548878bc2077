"""Time LPIPS ``tune`` on BAPPS (the readout study's ``tuned`` weighting) through dpsim's trainer.

For each network, trains the whole metric (LPIPS taps, ranking head, LPIPS preset: Adam 1e-4,
batch 50) for two epochs on ``--triplets`` random 64x64 triplets held on the device, exactly as
:func:`dpsim.readout.tune_metric` does, and prints JSON with each epoch's seconds and the
projection to the BAPPS 2AFC train split (151,400 triplets, LPIPS: 5 + 5 epochs). Image content
does not change the cost, so no BAPPS is needed.

    python scripts/gpu_lpips_tune_timing.py --out tune.json [--device cuda] [--triplets 5000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from dpsim.head import RankingHeads
from dpsim.metric import build_metric
from dpsim.train import PRESETS, DirectSource, TrainSettings, train

BAPPS_TRAIN_TRIPLETS = 151_400
LPIPS_EPOCHS = 10


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_network(network: str, triplets: int, device: str) -> dict:
    """Seconds of two training epochs of ``tune`` on random triplets, and the projection."""
    generator = np.random.default_rng(0)
    images = generator.integers(0, 256, (triplets, 3, 3, 64, 64), dtype=np.uint8)
    judge = generator.random(triplets).astype(np.float32)
    pools = {0: (images, judge), "val": (images[:500], (judge[:500] > 0.5) * 1.0)}
    metric = build_metric(network, "tune", taps="lpips", weights="random")
    source = DirectSource(metric, pools, device=device)
    settings = TrainSettings(**{**PRESETS["lpips"], "epochs_constant": 1, "epochs_decay": 0})
    seconds = []
    for epoch in range(2):  # the first pays for warm-up
        _sync(device)
        start = time.perf_counter()
        train(source, RankingHeads(1), settings, seed=epoch, keys=(network,), progress=False)
        _sync(device)
        seconds.append(round(time.perf_counter() - start, 2))
    per_triplet = seconds[-1] / triplets
    hours = per_triplet * BAPPS_TRAIN_TRIPLETS * LPIPS_EPOCHS / 3600
    return {"epoch_seconds": seconds, "projected_hours_bapps_10_epochs": round(hours, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--triplets", type=int, default=5000)
    parser.add_argument("--networks", nargs="+", default=["alexnet", "vgg16", "squeezenet1_1"])
    args = parser.parse_args()
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    result = {"device": name, "triplets": args.triplets}
    for network in args.networks:
        result[network] = time_network(network, args.triplets, args.device)
        print(network, result[network], flush=True)
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
