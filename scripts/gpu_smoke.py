"""Every GPU code path of the workflow on a tiny config, on CUDA and on the CPU, compared.

Runs the library functions the workflow's rules call (pool on the device, frozen-backbone
statistics, batched lin training, tune training with bf16 autocast, evaluation with fp16
autocast, the readout study) for the tiny test config, once with ``device=cuda`` and once with
``device=cpu``, and prints JSON: per stage the seconds, and the largest difference between the
two devices of the untrained baseline's distances and scores (which must agree up to fp16
rounding); then the images/s of the transformers (swin_t at 64 px, vit_b_32 at 224 px) as lin
metrics on each device, with the largest relative difference of their distances. Needs no
Snakemake.

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

from dpsim import steps
from dpsim.config import validate_config
from dpsim.steps import keys

TINY = Path(__file__).resolve().parents[1] / "tests" / "configs" / "tiny.yaml"


def _timed(timings: dict, name: str, rule: str, config: dict, *args, **kwargs) -> None:
    start = time.perf_counter()
    steps.call(rule, config, *args, **kwargs)
    timings[name] = round(time.perf_counter() - start, 3)


def run_on(device: str, config: dict, work: Path) -> dict:
    """The tiny config's stages on ``device`` under ``work``; returns their timings."""
    t: dict = {}
    work.mkdir(parents=True)
    config = dict(config, device=device)
    images = [str(work / f"{s}.npy") for s in ("train", "val", "test")]
    index = [p[:-4] + ".pq" for p in images]
    steps.call("prepare_images", config, {}, {"images": images, "index": index})
    rankings = str(work / "rankings.parquet")
    steps.call("rankings", config, {}, {"rankings": rankings})
    pools = {"train": [], "val": [], "test": []}
    for split, image_path in zip(pools, images, strict=True):
        draws = config["pool"]["train_draws"] if split == "train" else 1
        for draw in range(draws):
            out = str(work / f"pool_{split}{draw}")
            wildcards = {"split": split, "draw": draw}
            _timed(
                t,
                f"pool_{split}{draw}",
                "pool_draw",
                config,
                {"images": image_path},
                {"pool": out},
                wildcards,
            )
            pools[split].append(out)
    steps.call("bapps_fixture", config, {}, {"fixture": str(work / "fixture")})
    manifest = str(work / "manifest.json")
    steps.call(
        "bapps_manifest", config, {"fixture": [str(work / "fixture")]}, {"manifest": manifest}
    )
    cache = str(work / "cache")
    steps.call("bapps_cache", config, {"manifest": manifest}, {"cache": cache})
    caches = [str(work / f"stats_{k}.npz") for k in range(len(pools["train"]) + 1)]
    cell = {"network": "alexnet", "seed": 0}
    _timed(
        t,
        "cache_statistics",
        "pool_statistics",
        config,
        {"pools": [*pools["train"], pools["val"][0]]},
        {"caches": caches},
        cell,
    )
    lin = {
        k: [str(work / f"lin/{c}/{k}") for c in ("c000", "c001")] for k in ("best", "last", "log")
    }
    _timed(
        t,
        "adapt_lin_contexts",
        "adapt_lin_all_contexts",
        config,
        {"train": caches[:-1], "val": caches[-1]},
        lin,
        cell,
        state=None,
    )
    tune = {k: str(work / f"tune.{k}") for k in ("best", "last", "log")}
    _timed(
        t,
        "adapt_direct_tune",
        "adapt_direct",
        config,
        {"train": pools["train"], "val": pools["val"][0]},
        tune,
        {**cell, "variant": "tune", "context": "c000"},
        state=None,
    )
    test = {"pool": pools["test"][0], "rankings": rankings, "bapps": cache}
    # One context's checkpoint: the rule's settings list every context, so name just this one.
    one = keys.settings("evaluate_trained", config, {**cell, "variant": "tune", "seed": "0"})
    start = time.perf_counter()
    steps.step("evaluate_trained")(
        one | {"contexts": ["c000"]},
        {**test, "metrics": [tune["best"]]},
        {"evaluations": [str(work / "eval_tune.parquet")]},
    )
    t["evaluate_trained"] = round(time.perf_counter() - start, 3)
    _timed(
        t,
        "evaluate_untrained",
        "evaluate_untrained",
        config,
        test,
        {"evaluation": str(work / "eval_baseline.parquet")},
        {**cell, "untrained": "baseline"},
    )
    steps.call(
        "mos_fixture",
        dict(config, mos=dict(config["mos"], fixture_pairs=12)),
        {"images": images[2]},
        {"fixture": str(work / "mos")},
    )
    _timed(
        t,
        "readout",
        "readout",
        config,
        {"bapps": cache, "mos_fixture": [str(work / "mos")]},
        {"table": str(work / "readout.parquet")},
        {"network": "alexnet", "weights": "random"},
    )
    return t


#: Transformers timed on each device (lin distances of 64 px pairs; ViT resized to 224 px).
TRANSFORMERS = ("swin_t", "vit_b_32")


def transformer_rates(device: str, pairs: int = 64, repeats: int = 3) -> dict:
    """Images/s of each of :data:`TRANSFORMERS` as a lin metric on ``device``, with the
    distances of a fixed batch (to compare the devices)."""
    import torch

    from dpsim.metric import build_metric

    generator = torch.Generator().manual_seed(0)
    x, y = (torch.rand(pairs, 3, 64, 64, generator=generator) * 2 - 1 for _ in range(2))
    x, y = x.to(device), y.to(device)
    rates = {}
    for network in TRANSFORMERS:
        metric = build_metric(network, "lin", taps="study").to(device).eval()
        with torch.inference_mode():
            distances = metric(x, y, check_range=False)  # warm-up
            seconds = []
            for _ in range(repeats):
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                start = time.perf_counter()
                metric(x, y, check_range=False)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                seconds.append(time.perf_counter() - start)
        rates[network] = {
            "images_per_s": round(2 * pairs / float(np.median(seconds)), 1),
            "distances": distances.float().cpu().numpy().tolist(),
        }
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--devices", nargs="+", default=["cuda", "cpu"])
    args = parser.parse_args()
    config = validate_config(yaml.safe_load(TINY.read_text()))
    work = Path(tempfile.mkdtemp())
    report = {device: run_on(device, config, work / device) for device in args.devices}
    rates = {device: transformer_rates(device) for device in args.devices}
    for device, measured in rates.items():
        report[device]["transformers_images_per_s"] = {
            network: row["images_per_s"] for network, row in measured.items()
        }
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
    for network in TRANSFORMERS:
        on_gpu, on_cpu = (np.asarray(rates[d][network]["distances"]) for d in ("cuda", "cpu"))
        report[f"{network}_max_rel_distance_difference"] = float(
            np.max(np.abs(on_gpu - on_cpu) / np.abs(on_cpu).clip(1e-12))
        )
    tune_gpu = pd.read_parquet(work / "cuda" / "tune.log")
    report["tune_log_cuda"] = tune_gpu[["epoch", "loss", "val_2afc"]].to_dict("records")
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
