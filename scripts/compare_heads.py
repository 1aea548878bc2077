"""Train lin on a finished run's feature cache with the LPIPS head and the monotone head.

Shows whether LPIPS's unconstrained ranking head learns to read the distances backwards (see
:mod:`dpsim.head`): per context and head, the first, middle and last epoch's loss, the metric's
train and val 2AFC and the head's own val 2AFC. Needs the run's ``results/cache/{network}`` and
the config it ran (``make run`` makes them); writes nothing into the run.

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
from dpsim.contexts import contexts_from_config

COLUMNS = ["epoch", "loss", "train_2afc", "val_2afc", "val_head_2afc"]


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
    contexts = [c.name for c in contexts_from_config(config["contexts"])]
    draws = config["pool"]["train_draws"]
    inputs = {
        "train": [str(cache / f"train_draw{d}.npz") for d in range(draws)],
        "val": str(cache / "val_draw0.npz"),
    }
    for head in ("lpips", "monotone"):
        train = {**config["train"], "lr": args.lr, "head": head}
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
            for context, log_path in zip(contexts, outputs["log"], strict=True):
                log = pd.read_parquet(log_path)
                rows = log.iloc[[0, len(log) // 2, -1]][COLUMNS].round(3)
                print(f"\n{args.network} lin, head {head}, context {context}")
                print(rows.to_string(index=False))


if __name__ == "__main__":
    main()
