"""Preflight: check within seconds that a run has what it needs, before it spends an hour.

A full replication run downloads BAPPS and ImageNet weights, may read STL-10 or SVHN, wants a
GPU and writes tens of GB. Each of these can be missing, and the run would only find out when
the step that needs it starts, possibly an hour in. :func:`run_preflight` checks a validated
config (:func:`dpsim.config.load_config`) up front and returns one :class:`Check` per need:

- data and weights: present on disk, or (when the run would download them) their host accepts
  a TCP connection. Every host is probed at once, so the whole check takes about ``timeout``
  seconds however many hosts there are;
- the device: a requested GPU exists (``device: auto`` only reports which device will be used);
- free disk: the space the run will write, estimated from the config (see :func:`disk_needs`),
  against :func:`shutil.disk_usage` of each file system written to.

:func:`raise_on_failure` turns failed checks into one :class:`PreflightError` listing each
failure with its fix. ``dpsim preflight CONFIG`` prints the checks.

Paths of the config are relative to ``workdir``, the folder the workflow runs in.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from dpsim import weights
from dpsim.data import bapps_fetch, sources

__all__ = [
    "Check",
    "DiskNeed",
    "PreflightError",
    "check_disk",
    "check_gpu",
    "disk_needs",
    "probe_hosts",
    "raise_on_failure",
    "run_preflight",
    "startup_checks",
]

log = logging.getLogger(__name__)

GB = 1e9

#: Sizes of the BAPPS archives in GB. Source: PROTOCOL §8 ("Archive sizes: train 5.3 GB, val
#: 1.1 GB, JND 0.2 GB").
BAPPS_ARCHIVE_GB: dict[str, float] = {"twoafc_train": 5.3, "twoafc_val": 1.1, "jnd": 0.2}

#: Extracted size of a BAPPS archive relative to the archive: the tree holds PNG files, which
#: gzip barely compresses further, so roughly the same size again.
BAPPS_EXTRACTED_RATIO = 1.0

#: Items of each BAPPS archive and images per item, for the packed uint8 caches. Source: PROTOCOL
#: §8: the 2AFC val subsets hold exactly 36,344 triplets; train about 56.6k + 38.1k + 56.6k
#: triplets; JND val about 4.8k + 4.8k pairs.
BAPPS_ITEMS: dict[str, tuple[int, int]] = {
    "twoafc_train": (151_300, 3),
    "twoafc_val": (36_344, 3),
    "jnd": (9_600, 2),
}

#: Size of one network's weights in GB when torchvision's metadata gives none: an upper bound for
#: the study's networks (vgg16, the largest, is 0.53 GB; alexnet 0.23, resnet50 0.10).
WEIGHTS_GB_UPPER = 0.6

#: Channels summed over the taps of one network, for the feature-statistic caches: an upper bound
#: (the study taps give at most 2,880: resnet50's 64 + 256 + 512 + 2048).
FEATURE_CHANNELS_UPPER = 4096

#: Numbers in one comparison's difference maps (``sum_l C_l H_l W_l``) at 64 px, the larger of
#: the study and lpips taps, measured with ``build_backbone`` (torchvision 0.29.1): what ``mix``
#: keeps per comparison (:mod:`dpsim.frozen_maps`). Other networks count the upper bound.
MIX_MAP_NUMBERS_64: dict[str, int] = {
    "alexnet": 31_872,
    "vgg16": 499_712,
    "squeezenet1_1": 118_976,
    "resnet18": 92_160,
    "resnet50": 172_032,
}
MIX_MAP_NUMBERS_UPPER = 500_000
#: Memory of a training process besides the maps (torch, the network, batches), in MB.
PROCESS_MB = 2000

#: Copies of a trained backbone written per tune / scratch job: best.pt and last.pt (one each)
#: and the resumable training state (four: the weights, Adam's two moments, the best weights so
#: far). Measured on the default config's run: 9.9 MB per checkpoint and 39.6 MB of state for
#: alexnet.
CHECKPOINT_COPIES = 6

#: GB of the trained part of each study network (up to its last tap; the classifier is cut off),
#: measured with ``build_backbone(network, "study")`` (float32 state dict, torchvision 0.29.1).
#: Other networks count their whole ImageNet weights file.
TRAINED_BACKBONE_GB: dict[str, float] = {
    "alexnet": 0.0099,
    "vgg16": 0.0589,
    "squeezenet1_1": 0.0029,
    "resnet18": 0.0447,
    "resnet50": 0.0942,
}

#: Disk taken by a torchvision dataset download, in GB (see ``sources.TORCHVISION_SOURCES``):
#: STL-10's 2.5 GB archive is kept next to its extraction (about as large again); SVHN is two
#: .mat files of 182 MB and 64 MB.
TORCHVISION_DOWNLOAD_GB: dict[str, float] = {"stl10": 5.0, "svhn": 0.25}

#: Images of the official (train, test) splits: STL-10's labelled 5,000 + 8,000 and SVHN's
#: 73,257 + 26,032 (the datasets' pages), stored again as uint8 arrays at ``images.size``.
TORCHVISION_IMAGES: dict[str, tuple[int, int]] = {"stl10": (5_000, 8_000), "svhn": (73_257, 26_032)}


@dataclass(frozen=True)
class Check:
    """The outcome of one preflight check.

    Attributes:
        name: What was checked (``bapps``, ``weights alexnet``, ``gpu``, ``disk``, ...).
        ok: Whether the need is met.
        message: What was found; for a failure also how to fix it.
        level: ``error``: a failure stops the run. ``warning``: informative, never a failure.
    """

    name: str
    ok: bool
    message: str
    level: Literal["error", "warning"] = "error"

    @property
    def failed(self) -> bool:
        """Whether this check should stop the run."""
        return not self.ok and self.level == "error"


class PreflightError(RuntimeError):
    """One or more preflight checks failed; the message lists each with its fix."""

    def __init__(self, failed: Sequence[Check]) -> None:
        self.failed = list(failed)
        count = f"{len(self.failed)} preflight check{'s' if len(self.failed) > 1 else ''} failed"
        listing = "\n".join(f"  - {check.name}: {check.message}" for check in self.failed)
        super().__init__(f"{count}:\n{listing}")


@dataclass(frozen=True)
class DiskNeed:
    """Bytes a part of the run writes, and the folder it writes them under."""

    what: str
    bytes: float
    folder: Path


@dataclass(frozen=True)
class _Download:
    """Something missing on disk that the run would fetch from one of ``urls``."""

    name: str
    missing: str
    urls: tuple[str, ...]
    fix: str


def run_preflight(
    config: dict[str, Any], workdir: str | Path = ".", timeout: float = 3.0
) -> list[Check]:
    """Check everything ``config`` (validated, defaults filled) needs; one :class:`Check` each.

    Args:
        config: A config from :func:`dpsim.config.load_config`.
        workdir: The folder the run works in; relative config paths are taken from it, and
            results are written under it.
        timeout: Seconds to wait for each host's TCP connection (hosts are probed concurrently).
    """
    workdir = Path(workdir)
    checks = _resolve_downloads(_data_needs(config, workdir), timeout)
    checks += plugin_checks(config)
    checks += judgments_checks(config, workdir)
    checks += judgment_set_checks(config, workdir)
    checks.append(check_gpu(config["device"]))
    checks += check_disk(disk_needs(config, workdir))
    for check in checks:  # the caller reports failures (raise_on_failure, the CLI)
        log.info("%s %s: %s", "failed" if check.failed else "ok", check.name, check.message)
    return checks


def startup_checks(
    config: dict[str, Any], workdir: str | Path = ".", gpu: bool = False
) -> list[Check]:
    """The checks the workflow makes when it starts, before any job: what is on disk already.

    Files and folders the config names (a state-dict file, ``bapps.path``, an image folder,
    MOS sets, a dataset that must not be downloaded) are checked; hosts are not probed and
    disk space is not estimated, so this takes milliseconds (``dpsim preflight`` does both).
    ``gpu``: also check that a requested CUDA device exists, for a run whose jobs run on this
    machine; a cluster's submit host usually has no GPU, so there each GPU job checks its own
    at its start instead.
    """
    workdir = Path(workdir)
    needs = _data_needs(config, workdir)
    checks = [need for need in needs if isinstance(need, Check)]  # downloads: their own jobs
    checks += _mos_checks(config, workdir)
    checks += plugin_checks(config)
    checks += judgments_checks(config, workdir)
    checks += judgment_set_checks(config, workdir)
    if gpu:
        checks.append(check_gpu(config["device"]))
    return checks


def _data_needs(config: dict[str, Any], workdir: Path) -> list[Check | _Download]:
    """What the run reads: BAPPS, the grid's and the readout study's weights, the images."""
    return [
        *_bapps_needs(config["bapps"], workdir),
        *_weights_needs(config["grid"], workdir),
        *_readout_weights_needs(config, workdir),
        *_images_needs(config["images"], workdir),
    ]


def judgments_checks(config: dict[str, Any], workdir: str | Path = ".") -> list[Check]:
    """A judgments context's table read in full before any job: every image there, every judge
    in [0, 1], no repeated triplet, each split big enough, one image size (or a resize)."""
    if config["contexts"]["source"] != "judgments":
        return []
    from dpsim import judgments
    from dpsim.data import judgment_pool

    section = config["contexts"]["judgments"]
    try:
        table = judgment_pool.read_configured(section, workdir)
        splits = judgment_pool.configured_splits(table, section, config["seed"])
        width, _ = judgments.square_size(table, section["resize"], judgment_pool.RESIZE_FIX)
    except (judgments.JudgmentsError, ValueError) as error:
        return [Check("judgments", False, f"contexts.judgments: {error}")]
    sizes = ", ".join(f"{name} {len(rows)}" for name, rows in splits.items())
    kind = "0/1 judges" if table.binary else "judges that are shares (paired bootstrap tests)"
    text = f"{table.source}: {len(table)} triplets ({sizes}), {width} px, {kind}"
    return [Check("judgments", True, text)]


def judgment_set_checks(config: dict[str, Any], workdir: str | Path = ".") -> list[Check]:
    """Each extra judgment set (``evaluate.judgment_sets``) read in full before any job, as a
    judgments context's table is (:func:`judgments_checks`), with the rows it scores."""
    sets = config["evaluate"]["judgment_sets"]
    if not sets:
        return []
    from dpsim import judgments
    from dpsim.data import judgment_sets

    checks = []
    for name in sorted(sets):
        where = f"evaluate.judgment_sets.{name}"
        try:
            table, rows, size = judgment_sets.read_set(sets[name], workdir)
        except (judgments.JudgmentsError, ValueError) as error:
            checks.append(Check(f"judgment set {name}", False, f"{where}: {error}"))
            continue
        split = sets[name]["split"] or "all"
        text = f"{table.source}: {len(rows)} triplets scored (rows: {split}), {size[0]} px"
        checks.append(Check(f"judgment set {name}", True, text))
    return checks


def plugin_checks(config: dict[str, Any]) -> list[Check]:
    """Each plug-in distortion of ``distortions.set``: imported and called on a tiny batch, so
    a typo in its path or a wrong return fails the run before any job (torch is imported only
    when the set has a plug-in)."""
    section = config["distortions"]
    used = [name for name in section["set"] if name in section["plugins"]]
    if not used:
        return []
    from dpsim import plugins
    from dpsim.distortions import PLUGIN_PARAMS

    checks = []
    for name in used:
        where = f"distortions.plugins.{name}"
        try:
            plugins.check_plugin(section["plugins"][name], name, PLUGIN_PARAMS)
        except plugins.PluginError as error:
            checks.append(Check(f"plugin {name}", False, f"{where}: {error}"))
        else:
            checks.append(Check(f"plugin {name}", True, f"{where}: imported and tried"))
    return checks


def _mos_checks(config: dict[str, Any], workdir: Path) -> list[Check]:
    """Each MOS set's file or folder (read by the readout study only)."""
    if not config["readout"]["networks"]:
        return []
    checks = []
    for index, entry in enumerate(config["mos"]["sets"]):
        if entry["format"] == "fixture":
            continue
        path = _under(workdir, entry["path"])
        found = path.exists()
        message = f"mos.sets[{index}].path: {path} " + (
            "exists" if found else "does not exist; give the CSV file or the dataset's folder"
        )
        checks.append(Check(f"mos {index}", found, message))
    return checks


def raise_on_failure(checks: Iterable[Check]) -> None:
    """Raise :class:`PreflightError` listing every failed check, if any failed."""
    failed = [check for check in checks if check.failed]
    if failed:
        raise PreflightError(failed)


# ------------------------------------------------------------------------- data and weights


def _under(workdir: Path, path: str | Path) -> Path:
    """A config path, taken relative to the working directory unless absolute."""
    return Path(path) if Path(path).is_absolute() else workdir / path


def _bapps_needs(section: dict, workdir: Path) -> list[Check | _Download]:
    """BAPPS: nothing for the fixture; the tree for ``local``; the archives for ``download``."""
    if section["source"] == "fixture":
        return [Check("bapps", True, "bapps.source: fixture is generated offline")]
    if section["source"] == "local":
        path = _under(workdir, section["path"])
        found = (path / "2afc").is_dir() or (path / "jnd").is_dir()
        message = f"bapps.path: {path} holds 2afc/ or jnd/"
        if not found:
            message = (
                f"bapps.path: {path} holds neither 2afc/ nor jnd/; point bapps.path at the "
                "folder that holds the extracted BAPPS tree"
            )
        return [Check("bapps", found, message)]
    root = _under(workdir, section["root"])
    archives = root / "archives"
    missing = [n for n in section["archives"] if not (archives / f"{n}.tar.gz").is_file()]
    if not missing:
        return [Check("bapps", True, f"BAPPS archives present under {archives}; no download")]
    names = ", ".join(f"{n}.tar.gz" for n in missing)
    what = f"BAPPS archives {names} are not under {archives}"
    if _extracted(root / "dataset", missing):
        what += (
            f" (the extracted tree is in {root / 'dataset'}, but the download step needs the "
            f"archives: set bapps.source: local, bapps.path: {root / 'dataset'} to use it)"
        )
    urls = bapps_fetch.archive_urls(missing[0], section["base_url"], section["mirrors"])
    return [_Download("bapps", what, tuple(urls), bapps_fetch.manual_steps(section, root))]


def _extracted(dataset: Path, names: Iterable[str]) -> bool:
    """Whether every archive in ``names`` left its extraction marker in ``dataset``."""
    return all((dataset / f".{name}.extracted.json").is_file() for name in names)


def _weights_needs(grid: dict, workdir: Path) -> list[Check | _Download]:
    """ImageNet weights: each network's file in the cache or its URL; a state-dict file given."""
    choice = grid["weights"]  # not `weights`: that is the module
    if choice == "random":
        return [Check("weights", True, "grid.weights: random needs no file")]
    if choice != "imagenet":
        path = _under(workdir, choice)
        if path.is_file():
            return [Check("weights", True, f"grid.weights: {path} exists")]
        fix = "give the path of a state-dict file, or imagenet / random"
        return [Check("weights", False, f"grid.weights: {path} does not exist; {fix}")]
    cache_dir = _under(workdir, grid["weights_dir"])
    return [_imagenet_need(network, cache_dir) for network in grid["networks"]]


def _readout_networks(config: dict) -> list[str]:
    """Networks the readout study needs ImageNet weights for, beyond the grid's own."""
    section, grid = config["readout"], config["grid"]
    if "imagenet" not in section["weights"]:
        return []
    covered = set(grid["networks"]) if grid["weights"] == "imagenet" else set()
    return [n for n in section["networks"] if n not in covered]


def _readout_weights_needs(config: dict, workdir: Path) -> list[Check | _Download]:
    cache_dir = _under(workdir, config["grid"]["weights_dir"])
    return [_imagenet_need(network, cache_dir) for network in _readout_networks(config)]


def _imagenet_need(network: str, cache_dir: Path) -> Check | _Download:
    name = f"weights {network}"
    try:
        url, path = weights.imagenet_weights_file(network, cache_dir)
    except ValueError as error:
        return Check(name, False, f"grid.networks: {error}")
    if path.is_file():
        return Check(name, True, f"ImageNet weights in place at {path}")
    fix = (
        f"Download {url} on a machine with internet access and place the weights file at "
        f"{path.resolve()}, or set grid.weights: random."
    )
    return _Download(name, f"ImageNet weights are not at {path}", (url,), fix)


def _images_needs(images: dict, workdir: Path) -> list[Check | _Download]:
    """STL-10 / SVHN files under the root (or their host, to download); an image folder."""
    source = images["source"]
    if source == "folder":
        path = _under(workdir, images["folder"]["path"])
        message = f"images.folder.path: {path}" + (" exists" if path.is_dir() else " is no folder")
        return [Check("images", path.is_dir(), message)]
    if source not in sources.TORCHVISION_SOURCES:
        return [Check("images", True, f"images.source: {source} needs no download")]
    dataset = sources.TORCHVISION_SOURCES[source]
    options = images["torchvision"]
    root = _under(workdir, options["root"])
    expected = root / dataset.expected
    if expected.is_file():
        return [Check("images", True, f"images.source {source}: {expected} is in place")]
    if not options["download"]:
        detail = f"{expected} is missing and images.torchvision.download is false"
        return [Check("images", False, sources._missing_message(source, root, detail))]
    fix = (
        f"Download {dataset.url} ({dataset.size_note}) into {root} on a machine with internet "
        f"access, so that {expected} exists, or use images.source: embedded (offline)."
    )
    what = f"images.source {source}: {expected} is missing"
    return [_Download("images", what, (dataset.url,), fix)]


# ------------------------------------------------------------------------- network


def _resolve_downloads(needs: Sequence[Check | _Download], timeout: float) -> list[Check]:
    """Probe every host the downloads need at once and turn each need into a :class:`Check`."""
    urls = [url for need in needs if isinstance(need, _Download) for url in need.urls]
    reachable = probe_hosts(urls, timeout)
    return [
        need if isinstance(need, Check) else _download_check(need, reachable, timeout)
        for need in needs
    ]


def _download_check(need: _Download, reachable: dict[str, bool], timeout: float) -> Check:
    """Passed when any of the need's URLs can be reached (the download tries them in turn)."""
    up = [url for url in need.urls if reachable[_endpoint(url)]]
    down = [url for url in need.urls if not reachable[_endpoint(url)]]
    if up:
        note = f"; unreachable: {', '.join(down)}" if down else ""
        return Check(need.name, True, f"{need.missing}; will download {up[0]}{note}")
    message = (
        f"{need.missing}, and no TCP connection opened within {timeout:g} s to "
        f"{', '.join(need.urls)}. {need.fix}"
    )
    return Check(need.name, False, message)


def probe_hosts(urls: Iterable[str], timeout: float) -> dict[str, bool]:
    """Whether each URL's host accepts a TCP connection, keyed by ``scheme://host:port``.

    Every distinct host is probed once, all concurrently, so this takes about ``timeout``
    seconds however many hosts there are. ``file://`` URLs are "reachable" when the file exists.
    """
    endpoints = {_endpoint(url): url for url in urls}
    if not endpoints:
        return {}
    with ThreadPoolExecutor(max_workers=min(32, len(endpoints))) as pool:
        futures = {key: pool.submit(_reachable, url, timeout) for key, url in endpoints.items()}
    return {key: future.result() for key, future in futures.items()}


def _endpoint(url: str) -> str:
    parts = urlparse(url)
    return url if parts.scheme == "file" else f"{parts.scheme}://{parts.netloc}"


def _reachable(url: str, timeout: float) -> bool:
    parts = urlparse(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path)).is_file()
    return weights._host_reachable(url, timeout)


# ------------------------------------------------------------------------- device


def check_gpu(device: str) -> Check:
    """Whether the configured device (``DPSIM_DEVICE`` overrides it) exists here.

    ``cuda`` / ``cuda:N`` fail without CUDA or with too few devices; ``auto`` gives a
    warning-level check saying which device will be used; ``cpu`` needs nothing.
    """
    import torch

    requested = os.environ.get("DPSIM_DEVICE", device)
    key = "DPSIM_DEVICE" if "DPSIM_DEVICE" in os.environ else "device"
    if requested == "cpu":
        return Check("gpu", True, f"{key}: cpu, no GPU used")
    available = torch.cuda.is_available()
    count = torch.cuda.device_count() if available else 0
    if requested == "auto":
        return _auto_device(key, count)
    index = int(requested.partition(":")[2] or 0)
    if count == 0:
        message = (
            f"{key}: {requested} is requested but CUDA is not available here "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda or 'none'}); run "
            "on a machine with a GPU and a CUDA build of torch, or set device: auto or cpu "
            "(or DPSIM_DEVICE=cpu)"
        )
        return Check("gpu", False, message)
    if index >= count:
        valid = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        message = (
            f"{key}: {requested} is requested but only {count} CUDA device(s) are visible "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
            f"use {valid}, or device: cuda"
        )
        return Check("gpu", False, message)
    return Check("gpu", True, f"{key}: {requested} is {_device_name(index)}")


def _auto_device(key: str, count: int) -> Check:
    if count:
        message = f"{key}: auto will use cuda ({count} device(s), cuda:0 is {_device_name(0)})"
    else:
        message = (
            f"{key}: auto will use the CPU: no GPU found. The paper grid would take many times "
            "longer on CPU than on a GPU; set device: cuda to make a missing GPU an error"
        )
    return Check("gpu", True, message, level="warning")


def _device_name(index: int) -> str:
    import torch

    try:
        return torch.cuda.get_device_name(index)
    except (RuntimeError, AssertionError):
        return f"cuda:{index}"


# ------------------------------------------------------------------------- disk


def disk_needs(config: dict[str, Any], workdir: str | Path = ".") -> list[DiskNeed]:
    """A rough upper estimate of what the run writes, part by part, and where.

    Results (image splits, the triplet pool, feature caches, checkpoints, BAPPS caches) go under
    ``workdir/results``; downloads under their configured folders. Files already in place
    (archives, weights, datasets) are not counted; results of an earlier run are (the run may
    rewrite them).
    """
    workdir = Path(workdir)
    return [
        *_bapps_disk(config["bapps"], workdir),
        *_weights_disk(config["grid"], workdir, _readout_networks(config)),
        *_images_disk(config["images"], workdir),
        *_pool_disk(config, workdir),
        *_checkpoint_disk(config, workdir),
    ]


def check_disk(needs: Sequence[DiskNeed]) -> list[Check]:
    """Compare the needs with the free space of each file system they go to (one check each)."""
    groups: dict[int, list[DiskNeed]] = {}
    for need in needs:
        if need.bytes > 0:
            groups.setdefault(_existing(need.folder).stat().st_dev, []).append(need)
    return [_disk_check(group) for group in groups.values()]


def _disk_check(group: list[DiskNeed]) -> Check:
    folder = group[0].folder
    free = shutil.disk_usage(_existing(folder)).free
    needed = sum(need.bytes for need in group)
    parts = ", ".join(f"{need.what} {need.bytes / GB:.2f} GB" for need in group)
    folders = ", ".join(sorted({str(need.folder.resolve()) for need in group}))
    summary = f"{needed / GB:.2f} GB needed under {folders} ({parts}); {free / GB:.2f} GB free"
    if free >= needed:
        return Check("disk", True, summary)
    fix = (
        f"free {(needed - free) / GB:.2f} GB under {folders} or point results elsewhere "
        "(run from a larger disk; bapps.root, grid.weights_dir and images.torchvision.root can "
        "go to another one)"
    )
    return Check("disk", False, f"{summary}: {fix}")


def _existing(folder: Path) -> Path:
    """The folder itself or its nearest existing parent (disk usage needs an existing path)."""
    folder = folder.resolve()
    return next(path for path in (folder, *folder.parents) if path.exists())


def _bapps_disk(section: dict, workdir: Path) -> list[DiskNeed]:
    results = workdir / "results"
    if section["source"] == "fixture":
        return []
    size = section["image_size"]
    packed = sum(
        BAPPS_ITEMS[name][0] * BAPPS_ITEMS[name][1] * 3 * size * size
        for name in section["archives"]
    )
    needs = [DiskNeed("BAPPS caches", packed, results)]
    if section["source"] == "download":
        root = _under(workdir, section["root"])
        archives = [
            BAPPS_ARCHIVE_GB[n] * GB
            for n in section["archives"]
            if not (root / "archives" / f"{n}.tar.gz").is_file()
        ]
        extracted = [
            BAPPS_ARCHIVE_GB[n] * GB * BAPPS_EXTRACTED_RATIO
            for n in section["archives"]
            if not _extracted(root / "dataset", [n])
        ]
        needs += [
            DiskNeed("BAPPS archives", sum(archives), root),
            DiskNeed("BAPPS extracted", sum(extracted), root),
        ]
    return needs


def _weights_gb(network: str) -> float:
    """Size of a network's ImageNet weights file (torchvision's metadata, else an upper bound)."""
    try:
        megabytes = weights.imagenet_enum(network).meta.get("_file_size")
    except (ValueError, KeyError, AttributeError):
        megabytes = None
    return megabytes / 1000 if megabytes else WEIGHTS_GB_UPPER


def _trained_gb(network: str) -> float:
    """Size of the trained backbone of a network: measured for the study's, else its file size."""
    return TRAINED_BACKBONE_GB.get(network) or _weights_gb(network)


def _weights_disk(grid: dict, workdir: Path, extra: list[str]) -> list[DiskNeed]:
    networks = [*(grid["networks"] if grid["weights"] == "imagenet" else []), *extra]
    if not networks:
        return []
    cache_dir = _under(workdir, grid["weights_dir"])
    missing = [n for n in networks if not _imagenet_in_place(n, cache_dir)]
    total = sum(_weights_gb(network) * GB for network in missing)
    return [DiskNeed("ImageNet weights", total, cache_dir)]


def _imagenet_in_place(network: str, cache_dir: Path) -> bool:
    try:
        return weights.available_offline(network, cache_dir)
    except ValueError:
        return True  # no such weights: the weights check reports it, nothing is downloaded


def _images_disk(images: dict, workdir: Path) -> list[DiskNeed]:
    source = images["source"]
    if source not in sources.TORCHVISION_SOURCES:
        return []  # embedded tiles and folders: a few MB to a few hundred
    options = images["torchvision"]
    limit = options["limit"]
    count = sum(n if limit is None else min(n, limit) for n in TORCHVISION_IMAGES[source])
    needs = [DiskNeed("image splits", count * 3 * images["size"] ** 2, workdir / "results")]
    root = _under(workdir, options["root"])
    if not (root / sources.TORCHVISION_SOURCES[source].expected).is_file():
        needs.append(DiskNeed(f"{source} download", TORCHVISION_DOWNLOAD_GB[source] * GB, root))
    return needs


def _pool_disk(config: dict[str, Any], workdir: Path) -> list[DiskNeed]:
    """The triplet pool (uint8 ref, p0, p1) and the float32 feature statistics of lin."""
    pool, grid = config["pool"], config["grid"]
    triplets = pool["triplets"]
    train_total = triplets["train"] * pool["train_draws"]
    image_bytes = 3 * config["images"]["size"] ** 2
    pooled = (train_total + triplets["val"] + triplets["test"]) * 3 * image_bytes
    needs = [DiskNeed("triplet pool", pooled, workdir / "results")]
    if "lin" in grid["variants"]:
        runs = len(grid["networks"]) * len(grid["seeds"])
        cached = runs * (train_total + triplets["val"]) * 2 * 4 * FEATURE_CHANNELS_UPPER
        needs.append(DiskNeed("feature caches", cached, workdir / "results"))
    return needs


def mix_memory_mb(config: dict[str, Any], network: str) -> int:
    """Memory (MB) a ``mix`` training job of ``network`` asks for: the float16 difference maps
    of every training draw and of val (two comparisons per triplet, 2 bytes a number), a
    quarter more for the batches' float32 copies, and the process."""
    pool = config["pool"]
    triplets = pool["triplets"]["train"] * pool["train_draws"] + pool["triplets"]["val"]
    numbers = MIX_MAP_NUMBERS_64.get(network, MIX_MAP_NUMBERS_UPPER)
    numbers *= (config["images"]["size"] / 64) ** 2
    maps_mb = triplets * 2 * 2 * numbers / 1e6
    return int(PROCESS_MB + 1.25 * maps_mb)


def _checkpoint_disk(config: dict[str, Any], workdir: Path) -> list[DiskNeed]:
    """Backbones saved by tune / scratch jobs (lin checkpoints hold only channel weights)."""
    grid, contexts = config["grid"], config["contexts"]
    trained = [v for v in grid["variants"] if v in ("tune", "scratch")]
    count = contexts["count"] if contexts["source"] == "generator" else len(contexts["rankings"])
    per_network = len(trained) * count * len(grid["seeds"]) * CHECKPOINT_COPIES
    total = sum(per_network * _trained_gb(network) * GB for network in grid["networks"])
    return [DiskNeed("checkpoints", total, workdir / "results")]
