"""What limits mix on a finished run: its rank, the ranking head and the dropout, against lin and
the caps, on the first N contexts.

For every network of the run and each setup (the run's trainer; ranks; the monotone head; the
monotone head without dropout), trains mix on the run's pool draws exactly as the workflow does
(`adapt_mix_all_contexts`), scores it (`evaluate_mix`) after the last epoch, and prints the mean
context test 2AFC beside the run's lin on the same contexts and the mean of each fitted readout
of `results/stats/caps.parquet`, with the share of the gap from lin to the unconstrained readout
that mix closes. Writes nothing into the run.

    .venv/bin/python scripts/mix_study.py --results results --contexts 8
"""

from __future__ import annotations

import argparse
import copy
import logging
import tempfile
from pathlib import Path

import pandas as pd

from dpsim import analysis, steps
from dpsim.config import load_config, validate_config
from dpsim.contexts import run_contexts

#: (name, grid.mix.rank, train overrides)
SETUPS: tuple[tuple[str, int | None, dict], ...] = (
    ("run's trainer", None, {}),
    ("rank 4", 4, {}),
    ("rank 32", 32, {}),
    ("monotone head", None, {"head": "monotone"}),
    ("monotone head, no dropout", None, {"head": "monotone", "dropout": 0.0}),
)


def _mix_scores(config: dict, results: Path, network: str, work: Path) -> pd.Series:
    """Train and score mix for ``config`` on the run's pools; each context's test 2AFC."""
    names = [c.name for c in run_contexts(config)]
    names = names[: config["grid"]["mix"]["contexts"]]
    cell = {"network": network, "seed": 0}
    outputs = {k: [str(work / c / k) for c in names] for k in ("best", "last", "log")}
    pools = results / "pool"
    draws = range(config["pool"]["train_draws"])
    inputs = {
        "train": [str(pools / f"train/draw{d}") for d in draws],
        "val": str(pools / "val/draw0"),
    }
    steps.call("adapt_mix_all_contexts", config, inputs, outputs, cell, state=None)
    evaluations = [str(work / f"{c}.parquet") for c in names]
    scored = {
        "last": outputs["last"],
        "best": outputs["best"],
        "pool": str(pools / "test/draw0"),
        "rankings": str(results / "contexts" / "rankings.parquet"),
    }
    steps.call("evaluate_mix", config, scored, {"evaluations": evaluations}, cell)
    items = analysis.at_checkpoint(analysis.read_context_items(evaluations), "last")
    return items.groupby("context")["score"].mean()


def _setup(config: dict, contexts: int, rank: int | None, train: dict) -> dict:
    changed = copy.deepcopy(config)
    changed["grid"]["mix"]["contexts"] = contexts
    if rank is not None:
        changed["grid"]["mix"]["rank"] = rank
    changed["train"].update(train)
    return validate_config(changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--results", default="results")
    parser.add_argument("--contexts", type=int, default=8, help="the first N contexts")
    parser.add_argument("--networks", nargs="*", help="default: the run's grid.networks")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(args.config)
    results = Path(args.results)
    caps = pd.read_parquet(results / "stats" / "caps.parquet")
    summary = analysis.at_checkpoint(pd.read_parquet(results / "summary.parquet"), "last")
    rows = []
    for network in args.networks or config["grid"]["networks"]:
        for name, rank, train in SETUPS:
            with tempfile.TemporaryDirectory() as temp:
                setup = _setup(config, args.contexts, rank, train)
                mix = _mix_scores(setup, results, network, Path(temp))
            chosen = list(mix.index)
            lin = summary[
                (summary["network"] == network)
                & (summary["variant"] == "lin")
                & (summary["dataset"] == "context")
                & summary["context"].isin(chosen)
            ]["score"].mean()
            cap = caps[(caps["network"] == network) & caps["context"].isin(chosen)]
            cap = cap.groupby("weighting")["score"].mean()
            rows.append(
                {
                    "network": network,
                    "setup": name,
                    "contexts": len(chosen),
                    "lin": lin,
                    "mix": mix.mean(),
                    **{f"{w}_cap": cap.get(w) for w in ("unit", "nonnegative", "unconstrained")},
                    "gap_closed": (mix.mean() - lin) / (cap.get("unconstrained") - lin),
                }
            )
            print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False), flush=True)
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
