"""What a run was made of: data sources, weights, software versions, and whether it is a demo.

A reader must see at a glance when numbers come from the offline demo (synthetic BAPPS
judgments, random-init networks, a handful of embedded photographs) rather than from the study's
real inputs, so the report states each of these in words and raises a banner when any holds.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGES = (
    "dpsim",
    "torch",
    "torchvision",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "statsmodels",
    "scikit-image",
    "matplotlib",
    "seaborn",
    "snakemake",
)


@dataclass(frozen=True)
class Provenance:
    """The run's inputs described in words, and the reasons it counts as a demo (if any)."""

    images: str
    weights: str
    bapps: str
    contexts: str
    demo_reasons: list[str] = field(default_factory=list)

    @property
    def is_demo(self) -> bool:
        return bool(self.demo_reasons)


def _images(section: Mapping[str, Any]) -> tuple[str, str | None]:
    source = section["source"]
    if source == "embedded":
        return (
            "embedded demo photographs (scikit-image and matplotlib sample images cut into "
            f"{section['size']}x{section['size']} tiles)",
            "context images are a few embedded demo photographs, not STL-10 / SVHN",
        )
    if source == "folder":
        return f"image folder {section['folder']['path']}", None
    return f"torchvision dataset {source.upper()} ({section['size']}x{section['size']})", None


def _contexts(contexts: dict) -> str:
    """Where the run's contexts come from, in words."""
    if contexts["source"] == "judgments":
        judgments = contexts["judgments"]
        return (
            f"one context of people's 2AFC judgments, {judgments['path']} ({judgments['format']}), "
            "split into train / val / test; they stand in for the synthetic pool"
        )
    if contexts["source"] == "generator":
        distinct = ", distinct only" if contexts["distinct"] else ""
        return (
            f"{contexts['count']} rankings from the reference generator (seed "
            f"{contexts['generator_seed']}{distinct})"
        )
    return f"{len(contexts['rankings'])} rankings listed in the config"


def _weights(grid: Mapping[str, Any]) -> tuple[str, str | None]:
    weights = grid["weights"]
    if weights == "random":
        return (
            "RANDOM initialisation (seeded per grid seed), not ImageNet-pretrained",
            "backbones are randomly initialised, not ImageNet-pretrained: on such features even "
            "the best non-negative channel weighting (lin's form) ranks the contexts only a "
            "little above chance (the findings compare lin with that cap)",
        )
    if weights == "imagenet":
        return "ImageNet-pretrained (torchvision IMAGENET1K_V1)", None
    return f"weights from the file {weights}", None


def _bapps(manifest: Mapping[str, Any]) -> tuple[str, str | None]:
    source = manifest.get("source", "unknown")
    fixture = manifest.get("fixture") or {}
    if source == "fixture" or fixture.get("synthetic_judgments"):
        return (
            "generated BAPPS-format FIXTURE with SYNTHETIC judgments of a simulated observer "
            "(not human data)",
            "BAPPS scores use synthetic judgments, not the human judgments of BAPPS",
        )
    return f"BAPPS ({source}; root {manifest.get('root', '?')})", None


def provenance(config: Mapping[str, Any], bapps_manifest: Mapping[str, Any]) -> Provenance:
    """Describe the run from its validated config and the BAPPS manifest."""
    parts = [
        _images(config["images"]),
        _weights(config["grid"]),
        _bapps(bapps_manifest),
    ]
    described = _contexts(config["contexts"])
    return Provenance(
        images=parts[0][0],
        weights=parts[1][0],
        bapps=parts[2][0],
        contexts=described,
        demo_reasons=[reason for _, reason in parts if reason],
    )


def software_versions() -> dict[str, str]:
    """Python, the platform, every package the numbers depend on, and the code revision."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["dpsim revision"] = code_revision()
    return versions


def code_revision(where: str | Path | None = None) -> str:
    """The git commit of the code (with ``+changes`` when the tree is dirty), or 'unknown'."""
    folder = Path(where) if where else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    return commit.stdout.strip() + (" +changes" if dirty.stdout.strip() else "")
