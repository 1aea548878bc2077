# Config validation (before any job runs), wildcard constraints, target lists.
from pathlib import Path

import dpsim.config
from dpsim.contexts import contexts_from_config
from dpsim.names import READOUT_FIGURES, RESULT_FIGURES, SPLITS, STATS_FILES

config.update(
    dpsim.config.validate_config(
        config, source="workflow config (config/config.yaml merged with --configfile / --config)"
    )
)


CONTEXTS = [c.name for c in contexts_from_config(config["contexts"])]
GRID = config["grid"]
DIRECT_VARIANTS = "tune|scratch" if GRID["batch_contexts"] else "lin|tune|scratch"
# Jobs ask the scheduler for a GPU only when the config asks for CUDA explicitly.
GPU_JOBS = 1 if config["device"].startswith("cuda") else 0


wildcard_constraints:
    split="|".join(SPLITS),
    draw=r"\d+",
    seed=r"\d+",
    network=r"[a-z0-9_]+",
    context=r"c\d+",
    untrained="baseline|cosine|l2|ssim",


def pool_draws(split):
    """Pool draws of a split: several fresh draws for training, one for val and test."""
    return range(config["pool"]["train_draws"]) if split == "train" else range(1)


def pool_dirs():
    return [
        f"results/pool/{split}/draw{draw}" for split in SPLITS for draw in pool_draws(split)
    ]


def bapps_fixture_input():
    """The generated fixture when BAPPS comes from it; nothing for a local copy."""
    return ["results/bapps/fixture"] if config["bapps"]["source"] == "fixture" else []


# Pool draws whose frozen-backbone statistics are cached: every training draw and val.
CACHED_DRAWS = [("train", d) for d in pool_draws("train")] + [("val", 0)]


def train_caches(wildcards):
    """Statistics of every training draw of the pool, for the batched lin training."""
    return [
        f"results/cache/{wildcards.network}/seed{wildcards.seed}/train_draw{d}.npz"
        for d in pool_draws("train")
    ]


def train_pools(wildcards):
    """Every training draw of the pool (one per epoch, in turn)."""
    return [f"results/pool/train/draw{d}" for d in pool_draws("train")]


def trained_runs():
    """(network, variant, context, seed) of every adapted metric of the grid."""
    return [
        (network, variant, context, seed)
        for network in GRID["networks"]
        for variant in GRID["variants"]
        if variant != "baseline"
        for context in CONTEXTS
        for seed in GRID["seeds"]
    ]


def trained_eval_files():
    return [f"results/eval/{n}/{v}/{c}/seed{s}.parquet" for n, v, c, s in trained_runs()]


def untrained_eval_files():
    chosen = set(config["evaluate"]["baselines"]) | (
        {"baseline"} if "baseline" in GRID["variants"] else set()
    )
    per_network = [
        f"results/eval/{network}/{variant}/all/seed{seed}.parquet"
        for network in GRID["networks"]
        for variant in sorted(chosen & {"baseline", "cosine"})
        for seed in GRID["seeds"]
    ]
    pixel = [f"results/eval/pixel/{v}/all/seed0.parquet" for v in sorted(chosen & {"l2", "ssim"})]
    return per_network + pixel


def all_targets():
    return [
        "results/contexts/rankings.parquet",
        *pool_dirs(),
        "results/figures/distortion_examples.png",
        "results/bapps/cache",
        *trained_eval_files(),
        *untrained_eval_files(),
        "results/summary.parquet",
        *stats_tables().values(),
        *readout_outputs(),
        "reports/report.html",
    ]


def training_logs():
    """Training log of every adapted metric of the grid."""
    return [f"results/metrics/{n}/{v}/{c}/seed{s}/log.parquet" for n, v, c, s in trained_runs()]


def stats_tables():
    return {name: f"results/stats/{name}.parquet" for name in STATS_FILES}


def figure_png(name):
    return f"results/figures/{name}.png"


READOUT = config["readout"]


def readout_files():
    return [
        f"results/readout/{network}/{weights}.parquet"
        for network in READOUT["networks"]
        for weights in READOUT["weights"]
    ]


def readout_outputs():
    """The readout study's summary and figures (nothing when no network is listed)."""
    if not READOUT["networks"]:
        return []
    return ["results/readout/summary.parquet", *map(figure_png, READOUT_FIGURES)]


def mos_fixture_input():
    """The generated MOS fixture when a MOS set of the config is the fixture."""
    used = any(entry["format"] == "fixture" for entry in config["mos"]["sets"])
    return ["results/mos/fixture"] if used and READOUT["networks"] else []
