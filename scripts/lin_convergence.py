"""Where does lin stop improving on the demo's features? Pool sizes x epochs, 100 contexts.

Builds the default config's images and, per pool size, two training draws and a val draw, their
frozen-backbone statistics, then trains lin on the study's first 100 reference contexts for each
epoch count (the demo's lr 0.01 and batch 64, the sync term on) and prints the mean val 2AFC of
the metric over the contexts after the first and the last epoch. Writes only under --work.

    .venv/bin/python scripts/lin_convergence.py --network alexnet --sizes 256 1024 2048 \
        --epochs 1 5 10 20 --work /tmp/lin_convergence
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from dpsim import steps
from dpsim.config import load_config


def _pools(config: dict, work: Path) -> list[str]:
    images = [str(work / f"{s}.npy") for s in ("train", "val", "test")]
    if not Path(images[0]).exists():
        index = [p[:-4] + ".parquet" for p in images]
        steps.call("prepare_images", config, {}, {"images": images, "index": index})
    draws = [("train", 0), ("train", 1), ("val", 0)]
    pools = [str(work / f"pool_{split}{draw}") for split, draw in draws]
    for (split, draw), out in zip(draws, pools, strict=True):
        if not Path(out).exists():
            source = {"images": images[0 if split == "train" else 1]}
            steps.call("pool_draw", config, source, {"pool": out}, {"split": split, "draw": draw})
    return pools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--network", default="alexnet")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 5, 10, 20])
    parser.add_argument("--work", default="/tmp/lin_convergence")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = load_config(args.config)
    names = [f"c{i:03d}" for i in range(100)]
    rows = []
    for size in args.sizes:
        pool = {**base["pool"], "triplets": {**base["pool"]["triplets"], "train": size}}
        config = {**base, "contexts": {**base["contexts"], "count": 100}, "pool": pool}
        work = Path(args.work) / f"train{size}"
        pools = _pools(config, work)
        caches = [str(work / f"{args.network}_{Path(p).name}.npz") for p in pools]
        cell = {"network": args.network, "seed": 0}
        if not Path(caches[-1]).exists():
            steps.call("pool_statistics", config, {"pools": pools}, {"caches": caches}, cell)
        for epochs in args.epochs:
            train = {**config["train"], "epochs_constant": epochs, "epochs_decay": epochs}
            out = {
                k: [str(work / f"lin{epochs}/{c}/{k}") for c in names]
                for k in ("best", "last", "log")
            }
            start = time.perf_counter()
            inputs = {"train": caches[:2], "val": caches[2]}
            steps.call(
                "adapt_lin_all_contexts", {**config, "train": train}, inputs, out, cell, state=None
            )
            logs = pd.concat([pd.read_parquet(p) for p in out["log"]])
            last = logs[logs["epoch"] == 2 * epochs - 1]["val_2afc"]
            rows.append(
                {
                    "network": args.network,
                    "train_triplets": size,
                    "epochs": 2 * epochs,
                    "first_val_2afc": logs[logs["epoch"] == 0]["val_2afc"].mean(),
                    "last_val_2afc": last.mean(),
                    "contexts_above_0.5": int((last > 0.5).sum()),
                    "train_seconds": time.perf_counter() - start,
                }
            )
            print(pd.DataFrame(rows[-1:]).round(4).to_string(index=False), flush=True)
    print(pd.DataFrame(rows).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
