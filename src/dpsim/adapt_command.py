"""``dpsim adapt``: from images and a ranking, or from 2AFC judgments, to a metric and a report.

It writes one complete config (every key, defaults filled) into the run folder, so the run can be
repeated and edited (``snakemake --configfile <out>/config.yaml``), then runs the workflow that
ships inside the package (:func:`workflow_dir`) on it with Snakemake, whose job log is the
progress, and finally names the metric checkpoints and the report. Offline by default: random
backbone weights and the BAPPS fixture with synthetic judgments, and it says so before it starts.
The readout study is off unless asked for.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dpsim.config import ConfigError, load_config, validate_config
from dpsim.contexts import context_name
from dpsim.names import CHECKPOINTS, UNTRAINED


def workflow_dir() -> Path:
    """The workflow shipped in the package: Snakefile, rules, scripts, config, profiles."""
    folder = Path(str(resources.files("dpsim").joinpath("workflow")))
    if not (folder / "Snakefile").is_file():
        raise FileNotFoundError(
            f"{folder / 'Snakefile'} is missing: this dpsim installation lacks its workflow; "
            "reinstall it from a clone (pip install -e .)"
        )
    return folder


@dataclass(frozen=True)
class AdaptRequest:
    """What the user asked for on the command line."""

    out: Path
    rankings: tuple[tuple[str, ...], ...] = ()
    triplets: Path | None = None
    triplets_format: str = "csv"
    network: str = "alexnet"
    variants: tuple[str, ...] = ("lin",)
    images: Path | None = None
    weights: str = "random"
    seed: int = 0
    plugins: Mapping[str, str] = field(default_factory=dict)
    readout: bool = False
    extra: Path | None = None


def parse_ranking(text: str) -> tuple[str, ...]:
    """``blur,jpeg,noise`` as a ranking (most similar first)."""
    ranking = tuple(item.strip() for item in text.split(",") if item.strip())
    if len(ranking) < 2:
        raise ValueError(f"--ranking {text!r}: give two or more distortions, comma-separated")
    return ranking


def parse_plugin(text: str) -> tuple[str, str]:
    """``name=package.module:function`` as a plug-in entry."""
    name, sep, path = text.partition("=")
    if not sep or not name or ":" not in path:
        raise ValueError(f"--plugin {text!r}: write it as name=package.module:function")
    return name.strip(), path.strip()


def overrides(request: AdaptRequest) -> dict[str, Any]:
    """The config keys the request sets, over the workflow's default config."""
    if bool(request.rankings) == (request.triplets is not None):
        raise ValueError(
            "give either --ranking (a context of distortions, repeat for more) or --triplets "
            "(your 2AFC judgments), not both and not neither"
        )
    grid = {
        "networks": [request.network],
        "variants": list(request.variants),
        "weights": request.weights,
        "seeds": [request.seed],
    }
    readout: dict[str, Any] = {} if request.readout else {"networks": []}
    if request.triplets is not None:
        judgments = {"path": str(request.triplets.resolve()), "format": request.triplets_format}
        return {
            "contexts": {"source": "judgments", "judgments": judgments},
            "pool": {"train_draws": 1},
            "grid": grid,
            "readout": readout,
        }
    members = sorted(request.rankings[0])
    for index, ranking in enumerate(request.rankings[1:], start=1):
        if sorted(ranking) != members:
            raise ValueError(
                f"--ranking number {index + 1} ({','.join(ranking)}) does not order the same "
                f"distortions as the first ({','.join(request.rankings[0])}): every context of "
                "a run ranks one set"
            )
    images: dict[str, Any] = {"source": "embedded"}
    if request.images is not None:
        images = {"source": "folder", "folder": {"path": str(request.images.resolve())}}
    return {
        "images": images,
        "distortions": {"set": list(request.rankings[0]), "plugins": dict(request.plugins)},
        "contexts": {"source": "list", "rankings": [list(r) for r in request.rankings]},
        "grid": grid,
        "readout": readout,
    }


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` over ``base``, mappings merged key by key, anything else replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def build_config(request: AdaptRequest) -> dict[str, Any]:
    """The complete, validated config of the run: defaults, then the request, then ``--config``."""
    default = yaml.safe_load((workflow_dir() / "config" / "config.yaml").read_text())
    config = merged(default, overrides(request))
    if request.extra is not None:
        extra = yaml.safe_load(Path(request.extra).read_text()) or {}
        if not isinstance(extra, Mapping):
            raise ConfigError(f"{request.extra}: must hold a mapping of config keys")
        load_config(request.extra)  # its own errors, named by its file, first
        config = merged(config, extra)
    return validate_config(config, source=f"dpsim adapt's config for {request.out}")


def write_config(config: Mapping[str, Any], out: Path) -> Path:
    """``out/config.yaml``, with a header that says how to rerun it."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "config.yaml"
    header = (
        "# Written by `dpsim adapt`: the run's complete config (every key, defaults filled).\n"
        f"# Rerun or edit it: snakemake -s {workflow_dir() / 'Snakefile'} -d {out.resolve()} "
        f"--configfile {path.resolve()}\n"
    )
    path.write_text(header + yaml.safe_dump(dict(config), sort_keys=False))
    return path


def offline_notes(config: Mapping[str, Any]) -> list[str]:
    """What the run uses instead of real data or weights, in words."""
    notes = []
    if config["grid"]["weights"] == "random":
        notes.append("backbone weights: random (no ImageNet weights; give --weights imagenet)")
    if config["bapps"]["source"] == "fixture":
        notes.append("BAPPS: the offline fixture with SYNTHETIC judgments (bapps.source)")
    if config["images"]["source"] == "embedded" and config["contexts"]["source"] != "judgments":
        notes.append("images: photographs embedded in installed packages (give --images DIR)")
    return notes


def snakemake_command(out: Path, config_path: Path, cores: int, dry_run: bool) -> list[str]:
    """The Snakemake call that runs the packaged workflow on the run folder."""
    command = [sys.executable, "-m", "snakemake", "-s", str(workflow_dir() / "Snakefile")]
    command += ["-d", str(out.resolve()), "--configfile", str(config_path.resolve())]
    return command + ["--cores", str(cores)] + (["-n"] if dry_run else [])


def checkpoints(config: Mapping[str, Any], out: Path) -> list[Path]:
    """The trained metrics' checkpoints of the run (each of :data:`dpsim.names.CHECKPOINTS`,
    per context)."""
    trained = [v for v in config["grid"]["variants"] if v not in UNTRAINED]
    count = (
        1 if config["contexts"]["source"] == "judgments" else len(config["contexts"]["rankings"])
    )
    names = [context_name(index) for index in range(count)]
    return [
        out / f"results/metrics/{network}/{variant}/{context}/seed{seed}/{kind}.pt"
        for network in config["grid"]["networks"]
        for variant in trained
        for context in names
        for seed in config["grid"]["seeds"]
        for kind in CHECKPOINTS
    ]


def adapt(request: AdaptRequest, cores: int = 2, dry_run: bool = False) -> int:
    """Write the config, run the workflow, print where the results are; the exit status."""
    config = build_config(request)
    config_path = write_config(config, request.out)
    print(f"dpsim adapt: config written to {config_path}")
    for note in offline_notes(config):
        print(f"dpsim adapt: offline run, {note}")
    command = snakemake_command(request.out, config_path, cores, dry_run)
    print("dpsim adapt: running " + " ".join(command), flush=True)
    status = subprocess.run(command, check=False).returncode
    if status != 0:
        print(f"dpsim adapt: the workflow failed (exit {status}); logs under {request.out}/logs")
        return status
    if dry_run:
        return 0
    found = [path for path in checkpoints(config, request.out) if path.is_file()]
    for path in found:
        print(f"dpsim adapt: metric {path}  (dpsim.load_metric, dpsim distance --metric)")
    print(f"dpsim adapt: report {request.out / 'reports' / 'report.html'}")
    return 0
