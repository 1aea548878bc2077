"""lin on a finished run's 100 contexts with each ranking head and sync setting, against the caps.

For every network of the run and each setup (LPIPS head without and with the sync term, monotone
head without and with it), trains lin on the run's cached statistics exactly as the workflow does
(`adapt_lin_all_contexts`), scores every context from the frozen statistics (`evaluate_lin`) after
the last epoch, and tests it against the run's untrained baseline per context (exact McNemar,
Holm across contexts, as the statistics do). Prints the mean context test 2AFC, the share of
contexts improved and significantly improved, beside the mean of each fitted readout of
`results/stats/caps.parquet`. Writes nothing into the run.

    .venv/bin/python scripts/head_study.py --results results
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import pandas as pd

from dpsim import analysis, steps
from dpsim.config import load_config
from dpsim.contexts import run_contexts

SETUPS = (
    ("lpips", "off"),
    ("lpips", "below_chance"),
    ("monotone", "off"),
    ("monotone", "below_chance"),
)


def _lin_items(config: dict, results: Path, network: str, work: Path) -> pd.DataFrame:
    """Train and score lin for ``config`` on the run's caches; the context test items."""
    names = [c.name for c in run_contexts(config)]
    cache = results / "cache" / network / "seed0"
    cell = {"network": network, "seed": 0}
    outputs = {k: [str(work / c / k) for c in names] for k in ("best", "last", "log")}
    draws = range(config["pool"]["train_draws"])
    inputs = {
        "train": [str(cache / f"train_draw{d}.npz") for d in draws],
        "val": str(cache / "val_draw0.npz"),
    }
    steps.call("adapt_lin_all_contexts", config, inputs, outputs, cell, state=None)
    evaluations = [str(work / f"{c}.parquet") for c in names]
    scored = {
        "last": outputs["last"],
        "best": outputs["best"],
        "test": str(cache / "test_draw0.npz"),
        "bapps": str(cache / "bapps_val.npz"),
        "rankings": str(results / "contexts" / "rankings.parquet"),
    }
    steps.call("evaluate_lin", config, scored, {"evaluations": evaluations}, cell)
    return analysis.read_context_items(evaluations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--results", default="results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(args.config)
    results = Path(args.results)
    settings = analysis.StatsSettings.from_config(config["stats"], config["seed"])
    caps = pd.read_parquet(results / "stats" / "caps.parquet")
    rows = []
    for network in config["grid"]["networks"]:
        baseline = analysis.read_context_items(
            [results / "eval" / network / "baseline" / "all" / "seed0.parquet"]
        )
        cap = caps[caps["network"] == network].groupby("weighting")["score"].mean()
        for head, sync in SETUPS:
            setup = {**config, "train": {**config["train"], "head": head, "sync": sync}}
            with tempfile.TemporaryDirectory() as temp:
                lin = _lin_items(setup, results, network, Path(temp))
            items = analysis.at_checkpoint(pd.concat([lin, baseline], ignore_index=True), "last")
            tests = analysis.context_tests(items, settings)
            rows.append(
                {
                    "network": network,
                    "head": head,
                    "sync": sync,
                    "mean_context_2afc": tests["adapted_score"].mean(),
                    "improved": tests["improved"].mean(),
                    "improved_significantly": tests["improved_significant"].mean(),
                    "baseline": tests["baseline_score"].mean(),
                    **{f"{w}_cap": cap.get(w) for w in ("unit", "nonnegative", "unconstrained")},
                }
            )
            print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False), flush=True)
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
