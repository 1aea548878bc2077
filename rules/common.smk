# Config validation (before any job runs), wildcard constraints, target lists.
import dpsim.config
from dpsim.data.sources import SPLITS

config.update(
    dpsim.config.validate_config(
        config, source="workflow config (config/config.yaml merged with --configfile / --config)"
    )
)


wildcard_constraints:
    split="|".join(SPLITS),
    draw=r"\d+",


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


def all_targets():
    return [
        "results/contexts/rankings.parquet",
        *pool_dirs(),
        "results/figures/distortion_examples.png",
        "results/bapps/cache",
    ]
