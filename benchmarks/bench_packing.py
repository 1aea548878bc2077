"""A packed tune grid against one context per job: wall time of the whole ``snakemake`` run.

alexnet tune (random init) on 20 contexts, 1 + 1 epochs on 256 training and 256 validation
triplets (``grid.direct``), run by Snakemake with ``--cores 2`` in a scratch folder, once with
``grid.contexts_per_job: 1`` (20 jobs) and once with 10 (2 jobs), in turns (A, B, A, B, ...).
The pools are drawn first and shared, so only the training jobs are timed; each round starts
from no checkpoint and no training state. Both arms train the same 20 metrics (the tests show
a pack's checkpoints equal the one-context jobs' bit for bit).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from timing import round_ratios, summary

ROOT = Path(__file__).resolve().parent.parent
CONTEXTS = 20
PACKED = 10
GOAL = 3.0


def _overlay(per_job: int) -> dict:
    return {
        "contexts": {"count": CONTEXTS},
        "pool": {"triplets": {"train": 256, "val": 256, "test": 64}, "train_draws": 1},
        "grid": {
            "networks": ["alexnet"],
            "variants": ["tune"],
            "contexts_per_job": per_job,
            "direct": {
                "contexts": CONTEXTS,
                "train_triplets": 256,
                "val_triplets": 256,
                "epochs_constant": 1,
                "epochs_decay": 1,
            },
        },
    }


def _targets() -> list[str]:
    return [f"results/metrics/alexnet/tune/c{k:03d}/seed0/last.pt" for k in range(CONTEXTS)]


def _snakemake(workdir: Path, overlay: Path, targets: list[str]) -> float:
    command = [
        str(Path(sys.executable).parent / "snakemake"),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "--quiet",
        "--configfile",
        str(ROOT / "config" / "config.yaml"),
        str(overlay),
        "--",
        *targets,
    ]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"snakemake failed ({overlay.name}):\n{run.stderr[-3000:]}")
    return time.perf_counter() - start


def _fresh(workdir: Path) -> None:
    """No checkpoint and no training state left from the previous round."""
    for folder in ("results/metrics", "results/train_state"):
        shutil.rmtree(workdir / folder, ignore_errors=True)


def run(rounds: int = 2, device: str = "cpu") -> dict:
    del device  # the workflow's jobs choose their device from the config (auto)
    with tempfile.TemporaryDirectory(prefix="dpsim-packing-") as scratch:
        workdir = Path(scratch)
        overlays = {}
        for per_job in (1, PACKED):
            overlays[per_job] = workdir / f"per_job_{per_job}.yaml"
            overlays[per_job].write_text(yaml.safe_dump(_overlay(per_job)))
        pools = ["results/pool/train/draw0", "results/pool/val/draw0"]
        _snakemake(workdir, overlays[1], pools)  # drawn once, shared by every round
        seconds: dict[int, list[float]] = {1: [], PACKED: []}
        for _ in range(rounds):
            for per_job in (1, PACKED):
                _fresh(workdir)
                seconds[per_job].append(_snakemake(workdir, overlays[per_job], _targets()))
    speedups = round_ratios(seconds[1], seconds[PACKED])
    return {
        "what": (
            f"alexnet tune on {CONTEXTS} contexts, 1 + 1 epochs on 256 triplets, snakemake "
            f"--cores 2: one context per job against {PACKED} per job, wall time, A B A B"
        ),
        "rounds": rounds,
        "seconds_one_per_job": [round(s, 1) for s in seconds[1]],
        f"seconds_{PACKED}_per_job": [round(s, 1) for s in seconds[PACKED]],
        "speedup": summary(speedups, 2),
        "goal_speedup": GOAL,
        "meets_goal": summary(speedups)["median"] >= GOAL,
    }
