"""Train lin on a finished run's feature cache: LPIPS head, LPIPS head + sync term, monotone head.

Shows whether LPIPS's unconstrained ranking head learns to read the distances backwards (see
:mod:`dpsim.head`) and what the adaptation study's sync term (``train.sync``) does about it: per
context and setup, the first, middle and last epoch's loss, the share of batches with the sync
term on, the metric's train and val 2AFC and the head's own val 2AFC; then per setup the mean
val 2AFC of the metric over the contexts at the first and the last epoch. Needs the run's
``results/cache/{network}`` and the config it ran (``make run`` makes them); writes nothing into
the run.

    .venv/bin/python scripts/compare_heads.py --network alexnet --epochs 20 --lr 0.01
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import pandas as pd

from dpsim import steps
from dpsim.config import load_config
from dpsim.contexts import run_contexts

COLUMNS = ["epoch", "loss", "sync_share", "train_2afc", "val_2afc", "val_head_2afc"]
#: (head, sync) of each setup compared.
SETUPS = (("lpips", "off"), ("lpips", "below_chance"), ("monotone", "off"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--results", default="results", help="the finished run's results folder")
    parser.add_argument("--network", default="alexnet")
    parser.add_argument("--seed", type=int, default=0, help="the grid seed of the cache")
    parser.add_argument(
        "--epochs", type=int, default=20, help="constant epochs (and as many decay)"
    )
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(args.config)
    results = Path(args.results)
    cache = results / "cache" / args.network / f"seed{args.seed}"
    contexts = [c.name for c in run_contexts(config)]
    draws = config["pool"]["train_draws"]
    inputs = {
        "train": [str(cache / f"train_draw{d}.npz") for d in range(draws)],
        "val": str(cache / "val_draw0.npz"),
    }
    means = []
    for head, sync in SETUPS:
        train = {**config["train"], "lr": args.lr, "head": head, "sync": sync}
        train.update(epochs_constant=args.epochs, epochs_decay=args.epochs)
        with tempfile.TemporaryDirectory() as temp:
            outputs = {
                k: [f"{temp}/{c}/{k}.{'parquet' if k == 'log' else 'pt'}" for c in contexts]
                for k in ("best", "last", "log")
            }
            steps.call(
                "adapt_lin_all_contexts",
                {**config, "train": train, "device": "cpu"},
                inputs,
                outputs,
                {"network": args.network, "seed": args.seed},
                state=None,
            )
            logs = [pd.read_parquet(path) for path in outputs["log"]]
        for context, log in zip(contexts, logs, strict=True):
            rows = log.iloc[[0, len(log) // 2, -1]][COLUMNS].round(3)
            print(f"\n{args.network} lin, head {head}, sync {sync}, context {context}")
            print(rows.to_string(index=False))
        first = sum(log["val_2afc"].iloc[0] for log in logs) / len(logs)
        last = sum(log["val_2afc"].iloc[-1] for log in logs) / len(logs)
        means.append({"head": head, "sync": sync, "first_val_2afc": first, "last_val_2afc": last})
    print(f"\n{args.network} lin, mean val 2AFC over {len(contexts)} contexts")
    print(pd.DataFrame(means).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
