"""Time the paper grid's expensive jobs on a GPU through the workflow's own functions.

Builds a training pool draw of the paper's size (4,000 triplets of 64x64 images, distortions on
the device) and two epochs of ``tune`` training per network of the paper grid, then prints JSON
with the seconds of each epoch (the first pays for warm-up: cuDNN autotuning, allocations), of
the whole job, and of each pool draw. Random-init weights (same cost as ImageNet ones).
The embedded demo photographs stand in for STL-10 (same image size, so the same cost).

    python scripts/gpu_job_timing.py --out timing.json [--device cuda] [--networks alexnet ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from dpsim import steps
from dpsim.config import validate_config
from dpsim.names import STUDY_NETWORKS


def _config(triplets: int, device: str) -> dict:
    return validate_config(
        {
            "contexts": {"count": 1},
            "pool": {"triplets": {"train": triplets, "val": 1000, "test": 16}, "train_draws": 1},
            "grid": {"weights": "random", "variants": ["tune"]},
            "train": {"epochs_constant": 2, "epochs_decay": 0},
            "device": device,
        }
    )


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--triplets", type=int, default=4000)
    parser.add_argument("--networks", nargs="+", default=list(STUDY_NETWORKS))
    args = parser.parse_args()
    config = _config(args.triplets, args.device)
    work = Path(tempfile.mkdtemp())
    splits = [str(work / f"{s}.npy") for s in ("train", "val", "test")]
    index = [p[:-4] + ".parquet" for p in splits]
    steps.call("prepare_images", config, {}, {"images": splits, "index": index})
    timings: dict = {"device": torch.cuda.get_device_name(0) if "cuda" in args.device else "cpu"}
    for split in ("train", "val"):
        _sync(args.device)
        start = time.perf_counter()
        steps.call(
            "pool_draw",
            config,
            {"images": splits[0 if split == "train" else 1]},
            {"pool": str(work / f"pool_{split}")},
            {"split": split, "draw": 0},
        )
        _sync(args.device)
        timings[f"pool_{split}_s"] = time.perf_counter() - start
    for network in args.networks:
        paths = {k: str(work / network / "c000" / f"{k}") for k in ("best", "last", "log")}
        paths["log"] += ".parquet"
        _sync(args.device)
        start = time.perf_counter()
        steps.call(
            "adapt_direct",
            config,
            {"train": [str(work / "pool_train")], "val": str(work / "pool_val")},
            paths,
            {"network": network, "variant": "tune", "context": "c000", "seed": 0},
            state=None,
        )
        _sync(args.device)
        seconds = pd.read_parquet(paths["log"])["seconds"].tolist()
        timings[network] = {"job_s": time.perf_counter() - start, "epochs_s": seconds}
        print(network, timings[network], flush=True)
    Path(args.out).write_text(json.dumps(timings, indent=2))
    print(json.dumps(timings, indent=2))


if __name__ == "__main__":
    main()
