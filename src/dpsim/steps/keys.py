"""The config keys each workflow job reads: one function per rule, of the rule's name.

A rule passes ``params: settings=...`` built here and nothing else of the config, so Snakemake's
params trigger re-runs a job exactly when something it reads changed: ``stats.alpha`` re-runs
the statistics, never a training. Every function returns plain, key-sorted data (dicts, lists,
strings, numbers; Snakemake ignores any other type when it compares params) shaped like the
config, plus a ``job`` entry with the job's wildcards where the step needs them, and values
derived from the config for one job (a context's ranking, a network's taps). The steps of
:mod:`dpsim.steps` receive exactly this mapping, so a step cannot read a key its rule did not
pass.

This module imports neither torch nor pandas: the workflow calls it for every job while it
builds the DAG.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dpsim.contexts import run_contexts
from dpsim.names import BACKBONE_TRAINED, NETWORK_BASELINES
from dpsim.taps import fixed_input, readout_taps

Config = Mapping[str, Any]
Wildcards = Mapping[str, str]

#: The grid keys that define a grid network's metric (with the network and seed wildcards).
GRID_METRIC = ("grid.weights", "grid.taps", "grid.readout", "grid.weights_dir")


def _grid_metric(wildcards: Wildcards) -> tuple[str, ...]:
    """:data:`GRID_METRIC`, with ``grid.input_resize`` for a network that runs at one size only
    (no other network reads it, so changing it re-runs only the jobs of ViTs and MaxViT)."""
    resizes = fixed_input(wildcards.get("network", ""))
    return (*GRID_METRIC, "grid.input_resize") if resizes else GRID_METRIC


#: What limits one training of a variant that trains the backbone (which contexts are trained
#: is not a job's business: a job trains its own context).
DIRECT_LIMITS = tuple(
    f"grid.direct.{k}"
    for k in ("train_triplets", "val_triplets", "epochs_constant", "epochs_decay")
)
#: What getting BAPPS onto disk reads (the source's own options; not the packing size).
BAPPS_SOURCE = (
    "bapps.source",
    "bapps.root",
    "bapps.path",
    "bapps.base_url",
    "bapps.mirrors",
    "bapps.archives",
    "bapps.timeout_s",
    "bapps.connect_timeout_s",
    "bapps.sha256",
    "bapps.retries",
    "bapps.check_counts",
)


def plain(value: Any) -> Any:
    """``value`` as plain data with every mapping's keys sorted (a stable ``repr``)."""
    if isinstance(value, Mapping):
        return {str(k): plain(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def pick(config: Config, *paths: str) -> dict[str, Any]:
    """The values at dotted ``paths`` of ``config``, nested as in the config and key-sorted.

    ``pick(config, "stats", "figures.example_triplets")`` gives ``{"figures":
    {"example_triplets": 6}, "stats": {...}}``. A path the config lacks is an error, naming it.
    """
    picked: dict[str, Any] = {}
    for path in paths:
        node: Any = config
        parts = path.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, Mapping) or part not in node:
                raise KeyError(f"config key {'.'.join(parts[: depth + 1])} does not exist")
            node = node[part]
        target = picked
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = node
    return plain(picked)


def _job(wildcards: Wildcards, *names: str) -> dict[str, Any]:
    """The job's wildcards ``names``; ``seed`` and ``draw`` as integers."""
    numeric = {"seed", "draw"}
    return {n: int(wildcards[n]) if n in numeric else str(wildcards[n]) for n in names}


def _contexts(config: Config, variant: str = "lin") -> list[dict[str, Any]]:
    """The contexts ``variant`` is trained on: all, or the first ``grid.direct.contexts`` for
    the variants that train the backbone, or the first ``grid.mix.contexts`` for mix."""
    chosen = run_contexts(config)
    if variant in BACKBONE_TRAINED:
        chosen = chosen[: config["grid"]["direct"]["contexts"]]
    elif variant == "mix":
        chosen = chosen[: config["grid"]["mix"]["contexts"]]
    return [{"name": c.name, "ranking": list(c.ranking)} for c in chosen]


# ---------------------------------------------------------------- rules/data.smk


def prepare_images(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, "images", "seed")


def bapps_download(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, *BAPPS_SOURCE)


def bapps_fixture(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, "bapps.fixture", "seed")


def bapps_manifest(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, *BAPPS_SOURCE)


def bapps_cache(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, "bapps.image_size", "bapps.fit_items", "seed")


def judgment_sets(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, "evaluate.judgment_sets")


# ---------------------------------------------------------------- rules/contexts.smk


def rankings(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, "contexts", "distortions.set")


def _distortions(config: Config) -> dict[str, Any]:
    """The run's distortion set with the ranges and plug-ins of its members only: a range of a
    distortion the run does not use changes nothing it draws."""
    section = config["distortions"]
    members = section["set"]
    return plain(
        {
            "distortions": {
                "set": members,
                "params": {n: section["params"][n] for n in members if n in section["params"]},
                "plugins": {n: section["plugins"][n] for n in members if n in section["plugins"]},
            }
        }
    )


def pool_draw(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    split = wildcards["split"]
    if config["contexts"]["source"] == "judgments":  # the judgments are the pool
        keys = pick(config, "contexts.source", "contexts.judgments", "pool.shard_size", "seed")
        return plain({**keys, "job": _job(wildcards, "split", "draw")})
    keys = pick(config, f"pool.triplets.{split}", "pool.shard_size", "pool.batch_size")
    return plain(
        {
            **keys,
            **pick(config, "seed", "device"),
            **_distortions(config),
            "job": _job(wildcards, "split", "draw"),
        }
    )


def distortion_examples(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    keys = pick(config, "figures.examples_per_distortion", "seed")
    return plain({**keys, **_distortions(config)})


# ---------------------------------------------------------------- rules/adapt.smk


def pool_statistics(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    keys = pick(config, *_grid_metric(wildcards), "device")
    return plain({**keys, "job": _job(wildcards, "network", "seed")})


def adapt_lin_all_contexts(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    keys = pick(config, *_grid_metric(wildcards), "train", "seed", "device")
    job = {**_job(wildcards, "network", "seed"), "variant": "lin"}
    return plain({**keys, "job": job, "contexts": _contexts(config)})


def adapt_mix_all_contexts(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    keys = pick(config, *_grid_metric(wildcards), "grid.mix.rank", "train", "seed", "device")
    job = {**_job(wildcards, "network", "seed"), "variant": "mix"}
    return plain({**keys, "job": job, "contexts": _contexts(config, "mix")})


def adapt_direct(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    """A pack's job (``wildcards["contexts"]``: its contexts, comma-separated; dpsim.packs) or
    one context's (``wildcards["context"]``)."""
    job = _job(wildcards, "network", "variant", "seed")
    limits = DIRECT_LIMITS if job["variant"] in BACKBONE_TRAINED else ()
    rank = ("grid.lora.rank",) if job["variant"] == "lora" else ()
    keys = pick(config, *_grid_metric(wildcards), *limits, *rank, "train", "seed", "device")
    names = wildcards["contexts"].split(",") if "contexts" in wildcards else [wildcards["context"]]
    known = {c["name"]: c for c in _contexts(config)}
    missing = [name for name in names if name not in known]
    if missing:
        raise KeyError(f"contexts {', '.join(missing)} are not contexts of the config")
    return plain({**keys, "job": job, "contexts": [known[name] for name in names]})


# ---------------------------------------------------------------- rules/evaluate.smk


def evaluation_statistics(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    keys = pick(config, *_grid_metric(wildcards), "device")
    return plain({**keys, "job": _job(wildcards, "network", "seed")})


def evaluate_lin(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    names = [c["name"] for c in _contexts(config)]
    job = {**_job(wildcards, "network", "seed"), "variant": "lin"}
    return plain({"job": job, "contexts": names})


def evaluate_trained(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    keys = pick(config, "evaluate.batch_size", "device")
    job = _job(wildcards, "network", "variant", "seed")
    names = [c["name"] for c in _contexts(config, job["variant"])]
    return plain({**keys, "job": job, "contexts": names})


def evaluate_mix(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    keys = pick(config, *_grid_metric(wildcards), "grid.mix.rank", "evaluate.batch_size", "device")
    job = {**_job(wildcards, "network", "seed"), "variant": "mix"}
    names = [c["name"] for c in _contexts(config, "mix")]
    return plain({**keys, "job": job, "contexts": names})


def evaluate_untrained(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    variant = wildcards["untrained"]
    reads_network = _grid_metric(wildcards) if variant in NETWORK_BASELINES else ()
    keys = pick(config, *reads_network, "evaluate.batch_size", "device")
    job = {**_job(wildcards, "network", "seed"), "variant": variant}
    return plain({**keys, "job": job})


# ---------------------------------------------------------------- rules/analysis.smk


def caps(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return plain({"job": _job(wildcards, "network", "seed"), "contexts": _contexts(config)})


def stats(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, "stats", "seed")


def result_figures(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, "figures.example_triplets", "stats.checkpoint", "stats.margin", "seed")


# ---------------------------------------------------------------- rules/readout.smk


def mos_fixture(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    return pick(config, "mos.fixture_pairs", "seed")


def readout(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    section = ("descriptors", "weightings", "lr", "batch_size", "epochs")
    mos = ("sets", "image_size", "resize")
    keys = pick(
        config,
        *(f"readout.{k}" for k in section),
        *(f"mos.{k}" for k in mos),
        "grid.weights_dir",
        *(("grid.input_resize",) if fixed_input(wildcards["network"]) else ()),
        "seed",
        "device",
    )
    keys["readout"]["taps"] = readout_taps(config["readout"], wildcards["network"])
    return plain({**keys, "job": _job(wildcards, "network", "weights")})


# ---------------------------------------------------------------- rules/report.smk


def report(config: Config, wildcards: Wildcards) -> dict[str, Any]:
    """The whole config: the report shows it, and its findings and provenance read most of it."""
    return plain(config)


#: Every rule that reads config keys, by name.
RULES: dict[str, Callable[[Config, Wildcards], dict[str, Any]]] = {
    function.__name__: function
    for function in (
        prepare_images,
        bapps_download,
        bapps_fixture,
        bapps_manifest,
        bapps_cache,
        judgment_sets,
        rankings,
        pool_draw,
        distortion_examples,
        pool_statistics,
        adapt_lin_all_contexts,
        adapt_mix_all_contexts,
        adapt_direct,
        evaluation_statistics,
        evaluate_lin,
        evaluate_trained,
        evaluate_mix,
        evaluate_untrained,
        caps,
        stats,
        result_figures,
        mos_fixture,
        readout,
        report,
    )
}


def settings(rule: str, config: Config, wildcards: Wildcards | None = None) -> dict[str, Any]:
    """The ``settings`` param of a job of ``rule`` (see the module docstring)."""
    return RULES[rule](config, dict(wildcards or {}))
