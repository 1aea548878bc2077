"""Every GPU code path of the workflow on a tiny config, on CUDA and on the CPU, compared.

Runs the library functions the workflow's rules call (pool on the device, frozen-backbone
statistics, batched lin training, tune training with bf16 autocast, evaluation with fp16
autocast, the readout study) for the tiny test config, once with ``device=cuda`` and once with
``device=cpu``, and prints JSON: per stage the seconds, and the largest difference between the
two devices of the untrained baseline's distances and scores (which must agree up to fp16
rounding). Needs no Snakemake.

    python scripts/gpu_smoke.py --out smoke.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dpsim import experiment, pipeline
from dpsim.config import validate_config

TINY = Path(__file__).resolve().parents[1] / "tests" / "configs" / "tiny.yaml"


def _timed(timings: dict, name: str, function, **kwargs) -> None:
    start = time.perf_counter()
    function(**kwargs)
    timings[name] = round(time.perf_counter() - start, 3)


def run_on(device: str, config: dict, work: Path) -> dict:
    """The tiny config's stages on ``device`` under ``work``; returns their timings."""
    t: dict = {}
    work.mkdir(parents=True)
    images = [str(work / f"{s}.npy") for s in ("train", "val", "test")]
    pipeline.prepare_images(
        config["images"], config["seed"], images, [p[:-4] + ".pq" for p in images]
    )
    pipeline.write_rankings(config["contexts"], work / "rankings.parquet")
    pools = {"train": [], "val": [], "test": []}
    for split, image_path in zip(pools, images, strict=True):
        draws = config["pool"]["train_draws"] if split == "train" else 1
        for draw in range(draws):
            out = work / f"pool_{split}{draw}"
            _timed(
                t,
                f"pool_{split}{draw}",
                pipeline.build_pool_draw,
                section=config["pool"],
                seed=config["seed"],
                device=device,
                images_path=image_path,
                out_dir=out,
                split=split,
                draw=draw,
            )
            pools[split].append(str(out))
    pipeline.make_bapps_fixture(config["bapps"], config["seed"], work / "fixture")
    pipeline.write_bapps_manifest(config["bapps"], str(work / "fixture"), work / "manifest.json")
    pipeline.pack_bapps(config["bapps"], work / "manifest.json", work / "cache")
    grid, contexts = config["grid"], ["c000", "c001"]
    caches = [str(work / f"stats_{k}.npz") for k in range(len(pools["train"]) + 1)]
    _timed(
        t,
        "cache_statistics",
        experiment.cache_statistics,
        grid=grid,
        network="alexnet",
        seed=0,
        pool_dirs=[*pools["train"], pools["val"][0]],
        out_paths=caches,
        device=device,
    )
    outputs = {
        c: {k: str(work / f"lin_{c}.{k}") for k in ("best", "last", "log")} for c in contexts
    }
    _timed(
        t,
        "adapt_lin_contexts",
        experiment.adapt_lin_contexts,
        grid=grid,
        train_section=config["train"],
        config_seed=config["seed"],
        network="alexnet",
        seed=0,
        train_caches=caches[:-1],
        val_cache=caches[-1],
        rankings_path=str(work / "rankings.parquet"),
        outputs=outputs,
        state_file=None,
        device=device,
    )
    tune = {k: str(work / f"tune.{k}") for k in ("best", "last", "log")}
    _timed(
        t,
        "adapt_direct_tune",
        experiment.adapt_direct,
        grid=grid,
        train_section=config["train"],
        config_seed=config["seed"],
        network="alexnet",
        variant="tune",
        context="c000",
        seed=0,
        train_pools=pools["train"],
        val_pool=pools["val"][0],
        rankings_path=str(work / "rankings.parquet"),
        paths=tune,
        state_file=None,
        device=device,
    )
    _timed(
        t,
        "evaluate_trained",
        experiment.evaluate_trained,
        checkpoint=tune["best"],
        context="c000",
        seed=0,
        pool_test=pools["test"][0],
        rankings_path=str(work / "rankings.parquet"),
        bapps_cache=str(work / "cache"),
        out_path=str(work / "eval_tune.parquet"),
        device=device,
    )
    _timed(
        t,
        "evaluate_untrained",
        experiment.evaluate_untrained,
        grid=grid,
        network="alexnet",
        variant="baseline",
        seed=0,
        pool_test=pools["test"][0],
        rankings_path=str(work / "rankings.parquet"),
        bapps_cache=str(work / "cache"),
        out_path=str(work / "eval_baseline.parquet"),
        device=device,
    )
    run_config = dict(config, device=device)
    pipeline.make_mos_fixture(12, 0, images[2], work / "mos")
    _timed(
        t,
        "readout",
        pipeline.readout_job,
        config=run_config,
        network="alexnet",
        weights="random",
        bapps_cache=work / "cache",
        mos_fixture_dir=work / "mos",
        out_path=work / "readout.parquet",
    )
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--devices", nargs="+", default=["cuda", "cpu"])
    args = parser.parse_args()
    config = validate_config(yaml.safe_load(TINY.read_text()))
    work = Path(tempfile.mkdtemp())
    report = {device: run_on(device, config, work / device) for device in args.devices}
    if args.devices != ["cuda", "cpu"]:
        print(json.dumps(report, indent=2))
        return
    gpu, cpu = (pd.read_parquet(work / d / "eval_baseline.parquet") for d in ("cuda", "cpu"))
    report["baseline_max_abs_d0_difference"] = float(np.nanmax(np.abs(gpu["d0"] - cpu["d0"])))
    report["baseline_max_rel_d0_difference"] = float(
        np.nanmax(np.abs(gpu["d0"] - cpu["d0"]) / np.abs(cpu["d0"]).clip(1e-12))
    )
    report["baseline_score_agreement"] = float(
        np.mean(gpu["score"].fillna(-1) == cpu["score"].fillna(-1))
    )
    r_gpu, r_cpu = (pd.read_parquet(work / d / "readout.parquet") for d in ("cuda", "cpu"))
    unit = (r_gpu["weighting"] == "unit").to_numpy()
    report["readout_unit_max_score_difference"] = float(
        np.nanmax(np.abs(r_gpu["score"].to_numpy()[unit] - r_cpu["score"].to_numpy()[unit]))
    )
    tune_gpu = pd.read_parquet(work / "cuda" / "tune.log")
    report["tune_log_cuda"] = tune_gpu[["epoch", "loss", "val_2afc"]].to_dict("records")
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
