# Config validation (before any job runs), wildcard constraints, job settings, target lists.
from pathlib import Path

import dpsim.cluster
import dpsim.config
import dpsim.preflight
from dpsim import integrity, packs
from dpsim.contexts import run_contexts
from dpsim.figure_registry import figures_of, report_input, svg_output
from dpsim.names import BACKBONE_TRAINED, NETWORK_BASELINES, SPLITS, STATS_FILES, UNTRAINED
from dpsim.steps import keys as step_keys
from dpsim.weights import WEIGHT_CHOICES

config.update(
    dpsim.config.validate_config(
        config, source="workflow config (config/config.yaml merged with --configfile / --config)"
    )
)

# Files and folders the config names are checked now (dry runs too), not when the job that reads
# them starts, possibly after a download.
if workflow.is_main_process:
    dpsim.preflight.raise_on_failure(dpsim.preflight.startup_checks(config))


onstart:
    # Before the first job, once the executor is known. Jobs run here: the GPU must be here too
    # (on a cluster each GPU job checks its own node as it starts). SLURM accepts jobs no node
    # can run and leaves them pending forever: fail at once instead.
    if workflow.local_exec:
        dpsim.preflight.raise_on_failure([dpsim.preflight.check_gpu(config["device"])])
    elif workflow.executor_plugin.name == "slurm":
        nodes = dpsim.cluster.read_nodes()
        if nodes is not None:
            dpsim.cluster.raise_on_misfits(slurm_requests(), nodes)


def slurm_requests():
    """What each job or group job this run submits asks SLURM for (one entry per rule/group)."""
    requests = {}
    for job in workflow.dag.needrun_jobs():
        group = workflow.dag.get_job_group(job)
        if group is not None:
            what = f"group {job.group} ({len(group.jobs)} jobs)"
            unit, threads = group, int(group.resources.get("_cores", 1))
        elif workflow.is_local(job.rule):
            continue
        else:
            what, unit, threads = f"rule {job.rule.name}", job, job.threads
        resources = dict(unit.resources.items())
        requests[what] = dpsim.cluster.request_of(what, resources, threads)
    return list(requests.values())


CONTEXTS = [c.name for c in run_contexts(config)]
GRID = config["grid"]
# tune and scratch train the backbone on the images: grid.direct.contexts may limit them.
DIRECT_CONTEXTS = CONTEXTS[: GRID["direct"]["contexts"]]
# mix trains on frozen difference maps: grid.mix.contexts may limit it (memory, time).
MIX_CONTEXTS = CONTEXTS[: GRID["mix"]["contexts"]]
READOUT = config["readout"]
IMAGE_TRAINED = "|".join(BACKBONE_TRAINED)  # trained on the images, grid.contexts_per_job a job
# The image-training jobs: one rule per pack of consecutive contexts (dpsim.packs), for the
# backbone-training variants and, with grid.batch_contexts false, lin.
DIRECT_PACKS = packs.direct_packs(
    {
        **dict.fromkeys(BACKBONE_TRAINED, DIRECT_CONTEXTS),
        **({} if GRID["batch_contexts"] else {"lin": CONTEXTS}),
    },
    GRID["contexts_per_job"],
)
# Jobs ask the scheduler for a GPU only when the config asks for CUDA explicitly.
GPU_JOBS = 1 if config["device"].startswith("cuda") else 0


wildcard_constraints:
    split="|".join(SPLITS),
    draw=r"\d+",
    seed=r"\d+",
    network=r"[a-z0-9_]+",
    context=r"c\d+",
    untrained="|".join(UNTRAINED),


def settings(rule_name, contexts=None):
    """The config keys a job of ``rule_name`` reads (dpsim.steps.keys), as its one config param;
    ``contexts``: the pack of an image-training rule (dpsim.packs)."""
    packed = {} if contexts is None else {"contexts": ",".join(contexts)}
    return lambda wildcards: step_keys.settings(rule_name, config, {**wildcards, **packed})


def direct_resources(pack):
    """What a pack's job asks for: the minutes of its contexts in turn, and the memory of one."""
    asked = GRID["direct"]["job"]
    return {
        "mem_mb": asked["mem_mb"],
        "runtime": asked["minutes_per_context"] * len(pack.contexts),
        "gpu": GPU_JOBS,
    }


def judgments_input(wildcards=None):
    """The table (or folder) of a judgments context, an input of its pool draws."""
    section = config["contexts"]
    return [section["judgments"]["path"]] if section["source"] == "judgments" else []


def judgment_set_tables(wildcards=None):
    """The tables (or folders) of evaluate.judgment_sets: inputs of their packing."""
    return [section["path"] for section in config["evaluate"]["judgment_sets"].values()]


def judgment_sets_input(wildcards=None):
    """The packed judgment sets every evaluation scores beside BAPPS (none configured: none)."""
    return ["results/judgments/cache"] if config["evaluate"]["judgment_sets"] else []


def weights_file(wildcards=None):
    """A state-dict file given as grid.weights: an input, so replacing it re-runs its jobs."""
    return [] if GRID["weights"] in WEIGHT_CHOICES else [GRID["weights"]]


def figure_png(name):
    return f"results/figures/{name}.png"


def figure_svg(name):
    return f"results/figures/{name}.svg"


def figure_outputs(rule_name):
    """A drawing rule's outputs: each registry figure's PNG (flagged for the report) and SVG."""
    outputs = {}
    for entry in figures_of(rule_name):
        outputs[entry.name] = report(
            figure_png(entry.name),
            caption=f"../reports/captions/{entry.caption}",
            category=entry.category,
        )
        outputs[svg_output(entry.name)] = figure_svg(entry.name)
    return outputs


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


def contexts_of(variant):
    """The contexts a variant is trained on (all, or grid.direct.contexts for tune / scratch,
    grid.mix.contexts for mix)."""
    if variant == "mix":
        return MIX_CONTEXTS
    return DIRECT_CONTEXTS if variant in BACKBONE_TRAINED else CONTEXTS


def mix_memory_mb(wildcards):
    """Memory of a mix training job: the difference maps of every pool draw it holds, and room."""
    return dpsim.preflight.mix_memory_mb(config, wildcards.network)


def trained_runs():
    """(network, variant, context, seed) of every adapted metric of the grid."""
    return [
        (network, variant, context, seed)
        for network in GRID["networks"]
        for variant in GRID["variants"]
        if variant != "baseline"
        for context in contexts_of(variant)
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
        for variant in sorted(chosen & set(NETWORK_BASELINES))
        for seed in GRID["seeds"]
    ]
    pixel = [
        f"results/eval/pixel/{v}/all/seed0.parquet"
        for v in sorted(chosen - set(NETWORK_BASELINES))
    ]
    return per_network + pixel


def training_logs():
    """Training log of every adapted metric of the grid."""
    return [f"results/metrics/{n}/{v}/{c}/seed{s}/log.parquet" for n, v, c, s in trained_runs()]


def checkpoints():
    """Best and last checkpoint of every adapted metric of the grid."""
    return [
        f"results/metrics/{n}/{v}/{c}/seed{s}/{which}.pt"
        for n, v, c, s in trained_runs()
        for which in ("best", "last")
    ]


def cache_files():
    """Frozen-backbone statistics of every grid network and seed: pool draws and BAPPS val."""
    names = [f"{split}_draw{draw}" for split, draw in CACHED_DRAWS] + ["test_draw0", "bapps_val"]
    return [
        f"results/cache/{network}/seed{seed}/{name}.npz"
        for network in GRID["networks"]
        for seed in GRID["seeds"]
        for name in names
    ]


def cap_files():
    """The fitted readouts of every grid network and seed (results/stats/caps gathers them)."""
    return [
        f"results/caps/{network}/seed{seed}.parquet"
        for network in GRID["networks"]
        for seed in GRID["seeds"]
    ]


def stats_tables():
    return {name: f"results/stats/{name}.parquet" for name in STATS_FILES}


def readout_files():
    return [
        f"results/readout/{network}/{weights}.parquet"
        for network in READOUT["networks"]
        for weights in READOUT["weights"]
    ]


def readout_summary():
    """The readout study's summary table (nothing when no network is listed)."""
    return ["results/readout/summary.parquet"] if READOUT["networks"] else []


def drawn_figures():
    """Every registry figure this run draws (the readout study's only with a readout study)."""
    rules = ["distortion_examples", "result_figures"]
    rules += ["readout_figures"] if READOUT["networks"] else []
    return [entry.name for rule_name in rules for entry in figures_of(rule_name)]


def mos_fixture_input():
    """The generated MOS fixture when a MOS set of the config is the fixture."""
    used = any(entry["format"] == "fixture" for entry in config["mos"]["sets"])
    return ["results/mos/fixture"] if used and READOUT["networks"] else []


def intermediate_files():
    """Every file the workflow writes on the way to its results. They are targets too: Snakemake
    rebuilds a missing file only when it is a target or a job that reads it has to run, and a
    failed job's outputs are deleted while the files made from them stay, so without them a
    rerun would find "nothing to be done" with these missing."""
    return [
        *expand("results/images/{split}.{ext}", split=SPLITS, ext=("npy", "parquet")),
        *pool_dirs(),
        *bapps_fixture_input(),
        "results/bapps/manifest.json",
        "results/bapps/cache",
        *cache_files(),
        *checkpoints(),
        *training_logs(),
        *cap_files(),
        *mos_fixture_input(),
        *readout_files(),
        *map(figure_svg, drawn_figures()),
    ]


def all_targets():
    return [
        "results/contexts/rankings.parquet",
        *intermediate_files(),
        *trained_eval_files(),
        *untrained_eval_files(),
        "results/summary.parquet",
        *stats_tables().values(),
        *readout_summary(),
        *map(figure_png, drawn_figures()),
        "reports/report.html",
    ]


# Intermediates that differ in size from what their writer recorded stop the run before any job
# starts (a started job's old outputs are deleted): the error names each file, the rule that
# writes it, and what to delete. Only here, in the main process: cluster jobs read this file
# again while other jobs write.
if workflow.is_main_process:
    integrity.stop_if_corrupt([*pool_dirs(), "results/bapps/cache", *cache_files()])
