"""The Snakemake workflow end to end on a tiny config, config errors at start-up, and the linter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from local_http import LocalHTTPServer

from dpsim import feature_cache, run_profile
from dpsim.config import load_config
from dpsim.data.bapps import BappsDataset
from dpsim.data.fixture import FixtureSpec, write_archives, write_fixture
from dpsim.data.pool import load_pool
from dpsim.data.sources import embedded_images
from dpsim.evaluate import COLUMNS as EVAL_COLUMNS
from dpsim.figure_registry import FIGURES
from dpsim.metric import load_metric

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from browser import first_screen, inspect_page
from lint_workflow import unexpected_lints

pytestmark = pytest.mark.workflow


def snakemake(repo: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)


def _config(tmp_path: Path, repo: Path, **changes) -> Path:
    config = yaml.safe_load((repo / "tests" / "configs" / "tiny.yaml").read_text())
    config.update(changes)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    repo = Path(__file__).resolve().parents[1]
    workdir = tmp_path_factory.mktemp("tiny")
    config = _config(workdir, repo)
    run = snakemake(repo, workdir, "--configfile", str(config), "--cores", "2")
    assert run.returncode == 0, run.stderr[-4000:]
    return workdir


@pytest.mark.slow
def test_tiny_workflow_builds_rankings_pool_and_figure(tiny_run):
    rankings = pd.read_parquet(tiny_run / "results/contexts/rankings.parquet")
    assert rankings["context"].tolist() == ["c000", "c001"]
    assert rankings["order"].iloc[0].tolist()[:2] == ["color", "zoom_in"]
    for split, draws in {"train": 2, "val": 1, "test": 1}.items():
        for draw in range(draws):
            pool = load_pool(tiny_run / f"results/pool/{split}/draw{draw}", verify=True)
            assert len(pool) == {"train": 40, "val": 20, "test": 20}[split]
    assert (tiny_run / "results/figures/distortion_examples.png").stat().st_size > 10_000
    assert (tiny_run / "results/figures/distortion_examples.svg").exists()
    manifest = json.loads((tiny_run / "results/bapps/manifest.json").read_text())
    assert manifest["source"] == "fixture" and manifest["synthetic_judgments"] is True
    cached = BappsDataset(tiny_run / "results/bapps/cache", "jnd", "val", "traditional")
    assert len(cached) == 10
    for log in ("data/prepare_images", "contexts/rankings", "pool/train_draw1", "data/bapps_cache"):
        assert "job started" in (tiny_run / f"logs/{log}.log").read_text()


@pytest.mark.slow
def test_every_job_of_the_tiny_run_reports_its_start_up_and_step_time(tiny_run):
    table = run_profile.profile_run(run_profile.latest_log(tiny_run), root=tiny_run)
    measured = table[table["rule"] != "all"]  # the target rule runs no job of its own
    assert {"adapt_direct", "adapt_lin_all_contexts", "report"} <= set(measured["rule"])
    assert measured["startup_s"].gt(0).all()
    # every job wrote its step line; a trivial step (rankings of 2 contexts) may round to 0 ms
    assert measured["step_s"].notna().all() and measured["step_s"].ge(0).all()
    assert measured.set_index("rule").loc["adapt_direct", "step_s"] > 0
    assert (
        measured["startup_s"] + measured["step_s"] <= measured["wall_s"] + 2 * measured["jobs"]
    ).all()


@pytest.mark.slow
def test_tiny_workflow_trains_and_evaluates_the_grid(tiny_run):
    for variant in ("lin", "mix", "lora", "tune"):
        for context in ("c000", "c001"):
            folder = tiny_run / f"results/metrics/alexnet/{variant}/{context}/seed0"
            log = pd.read_parquet(folder / "log.parquet")
            assert log["epoch"].tolist() == [0, 1] and log["val_2afc"].between(0, 1).all()
            metric = load_metric(folder / "best.pt")
            assert metric.variant == variant and metric.backbone.network == "alexnet"
            table = pd.read_parquet(
                tiny_run / f"results/eval/alexnet/{variant}/{context}/seed0.parquet"
            )
            assert list(table.columns) == list(EVAL_COLUMNS)
            assert set(table["dataset"]) == {"context", "bapps", "bapps_train"}
            assert (table[table["dataset"] == "context"]["subset"] == context).all()
            # 20 context triplets, 2 x 12 BAPPS 2AFC and 2 x 10 JND items, and the 2 x 8 BAPPS
            # train triplets that fit the likelihood (fewer than bapps.fit_items) per checkpoint
            assert table.groupby("checkpoint").size().to_dict() == {"best": 80, "last": 80}
            fit = table[table["dataset"] == "bapps_train"]
            assert (
                fit["votes"].eq(2).all()
                and table.query("dataset == 'bapps' and kind == '2afc'")["votes"].eq(5).all()
            )
            assert len(table[table["dataset"] == "context"]) == 40  # 20 per checkpoint
    baseline = pd.read_parquet(tiny_run / "results/eval/alexnet/baseline/all/seed0.parquet")
    assert set(baseline[baseline["dataset"] == "context"]["subset"]) == {"c000", "c001"}
    bapps = baseline[baseline["dataset"] == "bapps"]
    assert set(bapps["subset"]) == {"traditional", "superres"} and set(bapps["kind"]) == {
        "2afc",
        "jnd",
    }
    assert (tiny_run / "results/eval/pixel/l2/all/seed0.parquet").exists()
    summary = pd.read_parquet(tiny_run / "results/summary.parquet")
    on_contexts = summary[summary["dataset"] == "context"]
    assert set(on_contexts["context"]) == {"c000", "c001"}
    assert set(on_contexts["variant"]) == {"lin", "mix", "lora", "tune", "baseline", "l2"}
    assert on_contexts["n"].eq(20).all() and summary["score"].between(0, 1).all()
    assert (tiny_run / "results/benchmarks/adapt/alexnet_lin_all_seed0.tsv").exists()
    votes = pd.read_parquet(tiny_run / "results/stats/likelihood.parquet")
    assert set(votes["dataset"]) == {"bapps"} and set(votes["subset"]) == {
        "traditional",
        "superres",
    }
    assert votes["fit_items"].eq(16).all() and (votes["chance"] <= votes["ceiling"]).all()
    assert {"lin", "baseline", "l2"} <= set(votes["variant"])
    tradeoff = pd.read_parquet(tiny_run / "results/stats/tradeoff.parquet")
    assert set(tradeoff["variant"]) == {"lin", "mix", "lora", "tune"} and len(tradeoff) == 8
    numbers = tradeoff.groupby("variant")["trained_parameters"].first()
    assert numbers["lin"] < numbers["mix"] < numbers["lora"] < numbers["tune"]  # the rungs
    jobs = tradeoff.groupby("variant")["job_contexts"].first().to_dict()
    assert jobs == {"lin": 2, "mix": 2, "lora": 1, "tune": 1}


@pytest.mark.slow
def test_tiny_workflow_writes_the_statistics(tiny_run):
    stats = tiny_run / "results/stats"
    context_tests = pd.read_parquet(stats / "context_tests.parquet")
    assert len(context_tests) == 8  # lin, mix, lora, tune x 2 contexts
    assert context_tests["n"].eq(20).all() and context_tests["p"].between(0, 1).all()
    bapps_tests = pd.read_parquet(stats / "bapps_tests.parquet")
    assert len(bapps_tests) == 16  # 4 variants x (2AFC, JND) x 2 subsets
    assert bapps_tests["n"].eq(2).all() and bapps_tests["margin"].eq(0.02).all()
    deltas = pd.read_parquet(stats / "bapps_deltas.parquet")
    assert np.allclose(deltas["delta"], deltas["score"] - deltas["baseline_score"])
    difficulty = pd.read_parquet(stats / "difficulty.parquet")
    assert difficulty["note"].str.contains("at least 3 contexts").all()
    models = pd.read_parquet(stats / "mixed_models.parquet")
    assert set(models["dataset"]) == {"context", "bapps"}
    pairs = pd.read_parquet(stats / "pairs.parquet")
    assert (pairs["rank_first"] < pairs["rank_second"]).all() and pairs["n"].gt(0).all()
    # Every metric's pair scores, weighted by their triplets, give back its context score.
    summary = pd.read_parquet(tiny_run / "results/summary.parquet")
    scores = summary[
        (summary["dataset"] == "context") & summary["checkpoint"].isin(["last", "none"])
    ]
    keys = ["network", "variant", "context", "seed"]
    weighted = pairs.assign(total=pairs["score"] * pairs["n"]).groupby(keys)[["total", "n"]].sum()
    merged = scores.merge(weighted.reset_index(), on=keys, suffixes=("", "_pairs"))
    assert len(merged) == len(scores) == 12  # (lin, mix, lora, tune, baseline, l2) x 2
    assert np.allclose(merged["total"] / merged["n_pairs"], merged["score"])
    orderings = pd.read_parquet(stats / "orderings.parquet")
    assert len(orderings) == 12 and orderings["kendall_tau"].between(-1, 1).all()
    caps = pd.read_parquet(stats / "caps.parquet")
    assert len(caps) == 2 * 3 and set(caps["weighting"]) == {"unit", "nonnegative", "unconstrained"}
    unit = caps[caps["weighting"] == "unit"].merge(scores, on=["network", "context", "seed"])
    unit = unit[unit["variant"] == "baseline"]  # unit weights are the untrained baseline
    assert len(unit) == 2 and np.allclose(unit["score_x"], unit["score_y"])
    checkpoints = pd.read_parquet(stats / "checkpoints.parquet")
    on_contexts = checkpoints[checkpoints["dataset"] == "context"]
    assert set(on_contexts["variant"]) == {"lin", "mix", "lora", "tune"}
    assert on_contexts["n"].eq(2).all()
    assert np.allclose(on_contexts["mean_difference"], on_contexts["best"] - on_contexts["last"])


@pytest.mark.slow
def test_tiny_workflow_runs_the_readout_study(tiny_run):
    table = pd.read_parquet(tiny_run / "results/readout/summary.parquet")
    # alexnet x random: (2 descriptors x 2 weightings + spatial tuned) x (all + 4 taps) x
    # (2 + 2 BAPPS + 1 MOS).
    assert len(table) == (2 * 2 + 1) * 5 * 5
    assert set(table["kind"]) == {"2afc", "jnd", "mos"}
    fixture = pd.read_csv(tiny_run / "results/mos/fixture/mos.csv")
    assert len(fixture) == 12
    # The readout's (spatial, unit, all layers) row is the untrained baseline's score.
    summary = pd.read_parquet(tiny_run / "results/summary.parquet")
    base = summary[(summary["variant"] == "baseline") & (summary["dataset"] == "bapps")]
    mine = table[
        (table["descriptor"] == "spatial")
        & (table["weighting"] == "unit")
        & (table["layers"] == "all")
        & (table["dataset"] == "bapps")
    ]
    merged = base.merge(mine, on=["kind", "subset"], suffixes=("_eval", "_readout"))
    assert len(merged) == 4
    two_afc = merged[merged["kind"] == "2afc"]
    assert np.allclose(two_afc["score_eval"], two_afc["score_readout"], atol=1e-6)
    # JND mAP ranks 10 pairs by distance: float noise between the two code paths (features of a
    # pair in one batch or two) can swap near-equal distances, moving mAP by a step of ~0.02.
    jnd = merged[merged["kind"] == "jnd"]
    assert np.allclose(jnd["score_eval"], jnd["score_readout"], atol=0.05)


@pytest.mark.slow
@pytest.mark.browser
def test_tiny_workflow_ends_in_a_readable_report(tiny_run, repo):
    for name in (entry.name for entry in FIGURES):
        assert (tiny_run / f"results/figures/{name}.png").stat().st_size > 5_000, name
        assert (tiny_run / f"results/figures/{name}.svg").exists(), name
    report = tiny_run / "reports/report.html"
    text = report.read_text()
    assert "Demo run" in text
    assert "inverted ranking head" in text or "ranking head ended inverted" in text  # the logs
    page = inspect_page(report, tiny_run / "report.png")
    assert page.console_errors == [] and page.broken_images == [], page
    assert page.empty_sections == [] and page.external_requests == [], page
    assert page.images == len(FIGURES)  # the tiny run draws every figure of the registry
    assert "readout" in page.sections
    screen = first_screen(report)  # the answer on the first screen, no cell taller than it
    assert screen.answer_bottom is not None and screen.answer_bottom <= 800, screen
    assert screen.answer_rows == 4 and screen.tallest_cell <= 800, screen  # lin, mix, lora, tune
    # The same run also gives Snakemake's own report, with every flagged figure.
    built = snakemake(
        repo,
        tiny_run,
        "--configfile",
        str(tiny_run / "config.yaml"),
        "--report",
        str(tiny_run / "snakemake_report.html"),
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tiny_run / "snakemake_report.html").stat().st_size > 100_000


@pytest.mark.slow
def _scheduled_jobs(output: str) -> set[tuple[str, tuple[str, ...]]]:
    """(rule, wildcards) of every job a dry run's output lists."""
    jobs = set()
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n?)*)", output, re.M):
        found = re.search(r"^    wildcards: (.*)$", body, re.M)
        jobs.add((rule, tuple(found[1].split(", ")) if found else ()))
    return jobs


def _changed(config: dict, path: str, value) -> dict:
    changed = json.loads(json.dumps(config))
    node = changed
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return changed


def _cell_jobs(network: str, seed: int) -> set[tuple[str, tuple[str, ...]]]:
    """Every job of one (network, seed) of the tiny grid: caches, lin, mix, lora, tune on both
    contexts, their evaluations, the untrained baseline's and the caps."""
    net, at = f"network={network}", f"seed={seed}"
    return {
        ("pool_statistics", (net, at)),
        ("adapt_lin_all_contexts", (net, at)),
        ("adapt_mix_all_contexts", (net, at)),
        ("evaluate_mix", (net, at)),
        *(("adapt_direct_c000_c001", (net, f"variant={v}", at)) for v in ("lora", "tune")),
        ("evaluation_statistics", (net, at)),
        ("evaluate_lin", (net, at)),
        ("caps", (net, at)),
        ("evaluate_trained", (net, "variant=tune", at)),
        ("evaluate_trained", (net, "variant=lora", at)),
        ("evaluate_untrained", (net, "untrained=baseline", at)),
    }


AGGREGATION = {("summary", ()), ("stats", ()), ("result_figures", ()), ("report", ()), ("all", ())}
RERUN_SETS = {
    "stats.alpha": (0.1, {("stats", ()), ("result_figures", ()), ("report", ()), ("all", ())}),
    "figures.example_triplets": (3, {("result_figures", ()), ("report", ()), ("all", ())}),
    "figures.examples_per_distortion": (
        3,
        {("distortion_examples", ()), ("report", ()), ("all", ())},
    ),
    "grid.seeds": ([0, 1], AGGREGATION | _cell_jobs("alexnet", 1)),
    # A new context: its own lora and tune jobs; the all-contexts jobs (lin and mix training, every
    # evaluation, which score all contexts) re-run by design. No pool, cache, statistics or
    # readout job.
    "contexts.count": (
        3,
        AGGREGATION
        | {
            ("rankings", ()),
            # packs of 2: c002 starts a pack of its own, c000_c001 stays as it is
            ("adapt_direct_c002", ("network=alexnet", "variant=tune", "seed=0")),
            ("adapt_direct_c002", ("network=alexnet", "variant=lora", "seed=0")),
            ("adapt_lin_all_contexts", ("network=alexnet", "seed=0")),
            ("adapt_mix_all_contexts", ("network=alexnet", "seed=0")),
            ("evaluate_lin", ("network=alexnet", "seed=0")),
            ("evaluate_mix", ("network=alexnet", "seed=0")),
            ("caps", ("network=alexnet", "seed=0")),
            ("evaluate_trained", ("network=alexnet", "variant=tune", "seed=0")),
            ("evaluate_trained", ("network=alexnet", "variant=lora", "seed=0")),
            ("evaluate_untrained", ("network=alexnet", "untrained=baseline", "seed=0")),
            ("evaluate_untrained", ("network=pixel", "untrained=l2", "seed=0")),
        },
    ),
    "grid.networks": (["alexnet", "squeezenet1_1"], AGGREGATION | _cell_jobs("squeezenet1_1", 0)),
    # jpeg is not in the run's set: its range changes no pool (the report shows the whole config)
    "distortions.params.jpeg": ({"quality": [5, 9]}, {("report", ()), ("all", ())}),
}


@pytest.mark.slow
@pytest.mark.parametrize("key", list(RERUN_SETS))
def test_a_config_change_reruns_exactly_what_reads_it(tiny_run, repo, key):
    value, expected = RERUN_SETS[key]
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    changed = tiny_run / f"changed_{key}.yaml"
    changed.write_text(yaml.safe_dump(_changed(config, key, value)))
    run = snakemake(repo, tiny_run, "-n", "--configfile", str(changed))
    assert run.returncode == 0, run.stderr[-3000:]
    assert _scheduled_jobs(run.stdout) == expected


def _reversed_keys(value):
    if isinstance(value, dict):
        return {k: _reversed_keys(value[k]) for k in reversed(list(value))}
    return value


@pytest.mark.slow
def test_reordering_the_config_keys_reruns_nothing(tiny_run, repo):
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    reordered = tiny_run / "reordered.yaml"
    reordered.write_text(yaml.safe_dump(_reversed_keys(config), sort_keys=False))
    run = snakemake(repo, tiny_run, "-n", "--configfile", str(reordered))
    assert run.returncode == 0, run.stderr[-3000:]
    assert _scheduled_jobs(run.stdout) == set(), run.stdout[-2000:]


@pytest.mark.slow
def test_pool_does_not_depend_on_the_contexts(tiny_run, tmp_path, repo):
    other = {
        "source": "list",
        "rankings": [["blur", "darken", "color", "zoom_in", "rotate", "translate"]],
    }
    config = _config(tmp_path, repo, contexts=other)
    draws = ("train/draw0", "train/draw1", "val/draw0", "test/draw0")
    targets = ["results/contexts/rankings.parquet", *(f"results/pool/{d}" for d in draws)]
    run = snakemake(repo, tmp_path, "--configfile", str(config), "--cores", "2", *targets)
    assert run.returncode == 0, run.stderr[-4000:]
    rankings = pd.read_parquet(tmp_path / "results/contexts/rankings.parquet")
    assert rankings["order_text"].tolist() == [
        "blur > darken > color > zoom_in > rotate > translate"
    ]
    for draw_dir in draws:
        first = json.loads((tiny_run / "results/pool" / draw_dir / "manifest.json").read_text())
        second = json.loads((tmp_path / "results/pool" / draw_dir / "manifest.json").read_text())
        assert first["shards"] == second["shards"]  # identical sha256 of every shard


def _damageable_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the finished tiny run (files, their times, Snakemake's records) to damage."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    return workdir


#: An intermediate file of each kind, and the rule a rerun must schedule once it is missing.
MISSING = {
    "results/images/val.npy": "prepare_images",
    "results/bapps/manifest.json": "bapps_manifest",
    "results/cache/alexnet/seed0/val_draw0.npz": "pool_statistics",
    "results/cache/alexnet/seed0/bapps_val.npz": "evaluation_statistics",
    "results/metrics/alexnet/lin/c000/seed0/best.pt": "adapt_lin_all_contexts",
    "results/metrics/alexnet/tune/c001/seed0/log.parquet": "adapt_direct_c000_c001",
    "results/caps/alexnet/seed0.parquet": "caps",
    "results/readout/alexnet/random.parquet": "readout",
}


@pytest.mark.slow
def test_a_rerun_rebuilds_any_missing_intermediate(tiny_run, tmp_path, repo):
    # Snakemake rebuilds a missing file only when it is a target or a job reading it must run;
    # a failed job's outputs are deleted while what was made from them stays. Every
    # intermediate is a target, so none can go missing with "nothing to be done".
    workdir = _damageable_copy(tiny_run, tmp_path)
    config = str(workdir / "config.yaml")
    for path, rule in MISSING.items():
        aside = tmp_path / "aside"
        (workdir / path).rename(aside)
        run = snakemake(repo, workdir, "-n", "--configfile", config)
        (aside).rename(workdir / path)
        assert run.returncode == 0, run.stderr[-3000:]
        assert rule in {job for job, _ in _scheduled_jobs(run.stdout)}, (path, run.stdout[-2000:])


def _flip_byte(path: Path) -> None:
    """Change one byte in the middle of ``path``: same size, so only its sha256 tells."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_a_corrupt_feature_cache_is_named_and_a_rerun_rebuilds_it(tiny_run, tmp_path, repo):
    workdir = _damageable_copy(tiny_run, tmp_path)
    config = str(workdir / "config.yaml")
    cache = "results/cache/alexnet/seed0/train_draw0.npz"
    checkpoint = workdir / "results/metrics/alexnet/lin/c000/seed0/best.pt"
    _flip_byte(workdir / cache)
    failed = snakemake(repo, workdir, "--configfile", config, "--cores", "2")
    assert failed.returncode != 0
    assert f"{cache} is corrupt: sha256" in failed.stderr, failed.stderr[-4000:]
    assert "written by the rule pool_statistics" in failed.stderr
    assert f"delete {(workdir / cache).resolve()} and run snakemake again" in failed.stderr
    assert "BadZipFile" not in failed.stderr
    assert not checkpoint.exists()  # Snakemake deletes a job's old outputs when it starts it
    (workdir / cache).unlink()  # as the message says
    rebuilt = snakemake(repo, workdir, "--configfile", config, "--cores", "2")
    assert rebuilt.returncode == 0, rebuilt.stderr[-4000:]
    assert len(feature_cache.read_cache(workdir / cache)["s0"]) == 40
    assert checkpoint.exists() and (workdir / "results/caps/alexnet/seed0.parquet").exists()
    done = snakemake(repo, workdir, "-n", "--configfile", config)
    assert _scheduled_jobs(done.stdout) == set(), done.stdout[-2000:]


@pytest.mark.slow
def test_a_truncated_pool_shard_stops_the_run_before_any_job(tiny_run, tmp_path, repo):
    # Snakemake follows a directory() output by the folder's timestamp: it would never see this.
    workdir = _damageable_copy(tiny_run, tmp_path)
    config = str(workdir / "config.yaml")
    draw = "results/pool/test/draw0"
    shard = workdir / draw / "shard_00001.npz"
    size = shard.stat().st_size
    with open(shard, "r+b") as handle:
        handle.truncate(size // 2)
    for args in (["-n"], ["--cores", "2"]):
        stopped = snakemake(repo, workdir, *args, "--configfile", config)
        message = stopped.stdout + stopped.stderr  # a dry run logs to stdout
        assert stopped.returncode != 0, message[-2000:]
        assert f"{draw}/shard_00001.npz is corrupt: {size // 2:,} bytes where" in message, message
        assert "written by the rule pool_draw" in message
        assert f"delete {(workdir / draw).resolve()} and run snakemake again" in message
        assert "Building DAG of jobs" not in stopped.stdout + message  # before any job
    shutil.rmtree(workdir / draw)  # as the message says
    rebuilt = snakemake(repo, workdir, "--configfile", config, "--cores", "2")
    assert rebuilt.returncode == 0, rebuilt.stderr[-4000:]
    assert len(load_pool(workdir / draw)) == 20
    done = snakemake(repo, workdir, "-n", "--configfile", config)
    assert _scheduled_jobs(done.stdout) == set(), done.stdout[-2000:]


@pytest.mark.slow
def test_bapps_download_rule_against_a_local_server(tmp_path, repo):
    tree = tmp_path / "tree"
    tiles = embedded_images(["astronaut"], 64, [1.0], 8.0).images
    write_fixture(tree, tiles, FixtureSpec(train_items=3, val_items=4, jnd_items=3))
    archives = write_archives(tree, tmp_path / "archives")
    files = {f"/dataset/{name}.tar.gz": path.read_bytes() for name, path in archives.items()}
    with LocalHTTPServer(files) as server:
        bapps = {"source": "download", "root": str(tmp_path / "bapps"), "check_counts": False}
        config = _config(tmp_path, repo, bapps={**bapps, "base_url": server.url("/dataset")})
        run = snakemake(
            repo, tmp_path, "--configfile", str(config), "--cores", "1", "results/bapps/cache"
        )
    assert run.returncode == 0, run.stderr[-4000:]
    manifest = json.loads((tmp_path / "results/bapps/manifest.json").read_text())
    assert manifest["source"] == "download" and set(manifest["archives"]) == set(archives)
    assert len(BappsDataset(tmp_path / "results/bapps/cache", "2afc", "val", "superres")) == 4


def test_bad_config_stops_before_any_job(tmp_path, repo):
    config = _config(tmp_path, repo, pool={"triplet": 5}, grid={"networks": ["alexnett"]})
    run = snakemake(repo, tmp_path, "--configfile", str(config), "--cores", "1")
    assert run.returncode != 0
    assert "pool.triplet: unknown key" in run.stderr and "did you mean 'triplets'" in run.stderr
    assert "grid.networks[0]: 'alexnett'" in run.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


def test_lint_checker_accepts_only_the_conda_advice():
    text = (
        "Lints for rule a (line 4, rules/x.smk):\n"
        "    * Specify a conda environment or container for each rule.:\n"
        "      This way, the used software ...\n"
        "Lints for rule b (line 9, rules/x.smk):\n"
        "    * No log directive defined:\n"
    )
    assert unexpected_lints(text) == ["rule b (line 9, rules/x.smk): No log directive defined"]


def test_lint_checker_catches_a_real_lint(tmp_path):
    (tmp_path / "Snakefile").write_text(
        'rule a:\n    output: "a.txt"\n    shell: "touch {output}"\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "-s", str(tmp_path / "Snakefile")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert any("log" in lint.lower() for lint in unexpected_lints(run.stdout + run.stderr))


def test_repository_workflow_passes_the_lint_checker(repo):
    run = subprocess.run(
        [sys.executable, str(repo / "scripts" / "lint_workflow.py")],
        capture_output=True,
        text=True,
        cwd=repo,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.slow
def test_paper_config_dry_run_lists_the_full_grid(tmp_path, repo):
    config = repo / "config" / "paper.yaml"
    run = snakemake(repo, tmp_path, "-n", "--configfile", str(config))
    assert run.returncode == 0, run.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", run.stdout, flags=re.MULTILINE))
    # 5 networks x (tune, scratch) x 100 contexts, in packs of grid.contexts_per_job (10): 10
    # rules of 10 jobs; lin trains all contexts of a network at once.
    packs = {rule: n for rule, n in counts.items() if rule.startswith("adapt_direct_")}
    assert len(packs) == 10 and set(packs.values()) == {"10"}
    assert "adapt_direct_c000_c009" in packs and counts["adapt_lin_all_contexts"] == "5"
    assert counts["evaluate_trained"] == "10"  # 5 networks x (tune, scratch), all contexts
    # lin: one statistics pass per network, then every context's metric from the statistics.
    assert counts["evaluation_statistics"] == "5" and counts["evaluate_lin"] == "5"
    assert counts["evaluate_untrained"] == "12"  # (baseline, cosine) x 5 networks + L2 + SSIM
    assert counts["pool_draw"] == "12" and counts["bapps_download"] == "1"


# ---------------------------------------------------------------- start-up checks, GPU requests


def _job_resources(output: str) -> dict[str, str]:
    """rule -> the resources line of its jobs in a dry run's output (the same for every job)."""
    found = {}
    for rule, body in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n?)*)", output, re.M):
        line = re.search(r"^    resources: (.*)$", body, re.M)
        found[rule] = line[1] if line else ""
    return found


def test_every_job_that_uses_the_device_asks_for_a_gpu(tmp_path, repo):
    """With device: cuda, a rule whose job reads `device` declares gpu=1; no other rule does."""
    from dpsim.packs import is_pack_rule
    from dpsim.steps import keys

    config = _config(tmp_path, repo, device="cuda")
    run = snakemake(repo, tmp_path, "-n", "--configfile", str(config), "--forceall")
    assert run.returncode == 0, run.stderr[-3000:]
    resources = _job_resources(run.stdout)
    assert {"pool_draw", "evaluation_statistics", "readout"} <= set(resources)
    packs = [rule for rule in resources if rule.startswith("adapt_direct_")]
    assert packs and all("gpu=1" in resources[rule] for rule in packs)
    validated = load_config(config)
    wildcards = {"split": "train", "draw": "0", "network": "alexnet", "seed": "0"}
    wildcards |= {
        "variant": "tune",
        "context": "c000",
        "untrained": "baseline",
        "weights": "random",
    }
    del resources["all"]  # the target list runs nothing
    assert "gpu=1" not in resources.pop("report")  # shows the whole config, computes nothing
    for rule, line in resources.items():
        step = "adapt_direct" if is_pack_rule(rule) else rule  # the packs run one step
        # rules without settings (summary, the readout summary and figures) read no config
        reads_device = step in keys.RULES and "device" in keys.settings(step, validated, wildcards)
        assert ("gpu=1" in line) == reads_device, f"{rule}: reads device {reads_device}: {line}"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"grid": {"networks": ["alexnet"], "weights": "missing.pt"}}, "grid.weights:"),
        ({"bapps": {"source": "local", "path": "no/bapps"}}, "bapps.path:"),
        ({"images": {"source": "folder", "folder": {"path": "no/photos"}}}, "images.folder.path:"),
    ],
)
def test_a_missing_file_stops_the_run_before_any_job(tmp_path, repo, changes, expected):
    config = _config(tmp_path, repo, **changes)
    run = snakemake(repo, tmp_path, "--configfile", str(config), "--cores", "1")
    assert run.returncode != 0
    assert "preflight check" in run.stderr and expected in run.stderr, run.stderr[-2000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_stops_a_local_run_before_any_job(tmp_path, repo):
    config = _config(tmp_path, repo, device="cuda")
    run = snakemake(repo, tmp_path, "--configfile", str(config), "--cores", "1")
    assert run.returncode != 0
    assert "device: cuda is requested but CUDA is not available here" in run.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "logs").exists()
