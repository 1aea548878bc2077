"""Backbone weights: ImageNet from the torch hub cache (or its host), seeded random, or a file.

Which weights a backbone carries decides what a metric measures, so they are always explicit
and recorded. :func:`load_weights` returns the state dict for
:func:`dpsim.backbones.build_backbone` and a :class:`WeightsInfo` saying what it is;
:func:`imagenet_weights_file` and :func:`available_offline` tell where the ImageNet files live
(``dpsim info`` and the preflight check use them).

Weights
    - ``"random"``: torchvision's initialisation under ``torch.manual_seed(seed)``, drawn inside
      ``torch.random.fork_rng`` so the caller's global RNG is left as it was.
    - ``"imagenet"``: torchvision's ``IMAGENET1K_V1`` weights, the weights the LPIPS paper and the
      adaptation study used (newer torchvision defaults such as resnet50's ``IMAGENET1K_V2`` are
      deliberately not used). The file is read from ``{cache_dir}/hub/checkpoints/`` (the torch
      hub layout under ``TORCH_HOME``), its SHA-256 checked against the hash prefix in its name.
      Only when the file is missing is the network used: the download host is probed with a
      short TCP connect; if it cannot be reached, :class:`WeightsUnavailableError` says which
      file to fetch from where and where to put it, within seconds instead of a long hang.
    - a path to a state dict (or a dict with a ``state_dict`` entry) for the torchvision model,
      loaded strictly: missing or unexpected keys are an error, never a silent partial load.

    :class:`WeightsInfo` records what was used, with the SHA-256 of any file read.

Nothing is downloaded at import time or by any path other than ``weights="imagenet"`` with the
file missing and its host reachable. ``_imagenet_url`` and ``_host_reachable`` are seams that
tests replace on this module (``monkeypatch.setattr(dpsim.weights, "_imagenet_url", ...)``);
every caller here looks them up as module globals at call time.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from dpsim.data.download import sha256_file
from dpsim.registry import suggest
from dpsim.taps import check_network

__all__ = [
    "IMAGENET_WEIGHTS",
    "PROBE_TIMEOUT_S",
    "WEIGHT_CHOICES",
    "WeightsInfo",
    "WeightsUnavailableError",
    "available_offline",
    "imagenet_enum",
    "imagenet_weights_file",
    "load_weights",
]

log = logging.getLogger(__name__)

#: The torchvision weights used for ``weights="imagenet"`` (those of the LPIPS paper and study).
IMAGENET_WEIGHTS = "IMAGENET1K_V1"

#: Seconds a TCP connect to the weights host may take before it counts as unreachable.
PROBE_TIMEOUT_S = 5.0

#: The named weight choices; any other string is a path to a state-dict file.
WEIGHT_CHOICES: tuple[str, ...] = ("imagenet", "random")

#: The classic torchvision name of a file: ``name-<sha256 prefix>.ext`` (as torch hub reads it).
_HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights a backbone carries.

    Attributes:
        kind: ``"imagenet"``, ``"random"`` or ``"file"``.
        source: The torchvision weights enum name (``"AlexNet_Weights.IMAGENET1K_V1"``),
            ``"seed=N"`` for random weights, or the file path as given.
        sha256: The SHA-256 of the weights file when one was read, else None.
        seed: The seed of the initialisation: it defines random weights, and the parameters a
            loaded file leaves as initialised.
    """

    kind: str
    source: str
    sha256: str | None
    seed: int = 0


class WeightsUnavailableError(FileNotFoundError):
    """ImageNet weights are not on disk and cannot be downloaded (no network).

    The message names the file, the URL to fetch it from and the exact path to put it at.
    """


def load_weights(
    network: str, weights: str, seed: int, cache_dir: str | Path
) -> tuple[dict[str, torch.Tensor] | None, WeightsInfo]:
    """The state dict to load (None for random weights) and its description.

    Args:
        network: A known network name.
        weights: ``"random"``, ``"imagenet"`` or a path to a state-dict file.
        seed: The seed of the initialisation (recorded for random weights).
        cache_dir: The torch home; ImageNet weights live in ``{cache_dir}/hub/checkpoints``.

    Returns:
        The state dict (None for ``"random"``) and what it is.

    Raises:
        ValueError: ``weights`` is not a string or path; a file that is not a state dict or
            whose hash does not match its name; a network without ImageNet weights.
        FileNotFoundError: A weights path that does not exist.
        WeightsUnavailableError: ImageNet weights missing and their host unreachable.
    """
    if not isinstance(weights, str | Path):
        raise ValueError(
            f"weights must be 'imagenet', 'random' or a path to a state-dict file, got {weights!r}"
        )
    if weights == "random":
        return None, WeightsInfo("random", f"seed={seed}", None, seed)
    if weights == "imagenet":
        state, info = _load_imagenet(network, cache_dir)
    else:
        state, info = _load_file(network, Path(weights), str(weights))
    return state, dataclasses.replace(info, seed=seed)


def imagenet_weights_file(network: str, cache_dir: str | Path) -> tuple[str, Path]:
    """Where the ImageNet (``IMAGENET1K_V1``) weights of ``network`` come from and go.

    Args:
        network: A torchvision classification network.
        cache_dir: The torch home (``TORCH_HOME``).

    Returns:
        The download URL and the local path ``{cache_dir}/hub/checkpoints/{file name}``.
    """
    url = _imagenet_url(check_network(network))
    return url, Path(cache_dir) / "hub" / "checkpoints" / Path(urlparse(url).path).name


def available_offline(network: str, cache_dir: str | Path) -> bool:
    """Whether the ImageNet weights file of ``network`` is already in ``cache_dir``."""
    return imagenet_weights_file(network, cache_dir)[1].is_file()


def imagenet_enum(network: str) -> torchvision.models.WeightsEnum:
    """Torchvision's ``IMAGENET1K_V1`` weights of ``network``, or an error naming what exists."""
    enum = torchvision.models.get_model_weights(network)
    if IMAGENET_WEIGHTS not in enum.__members__:
        raise ValueError(
            f"{network} has no {IMAGENET_WEIGHTS} weights in torchvision (it has "
            f"{', '.join(enum.__members__)}); use weights='random' or a path to a state-dict file"
        )
    return enum[IMAGENET_WEIGHTS]


def _imagenet_url(network: str) -> str:
    """The download URL of ``network``'s ImageNet weights (a seam tests replace)."""
    return imagenet_enum(network).url


def _host_reachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the URL's host opens within ``timeout`` seconds.

    Name resolution runs in a daemon thread so that a hanging DNS lookup is bounded too.
    """
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not parts.hostname:
        return False
    result: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout):
                result.append(True)
        except OSError as error:
            log.debug("cannot connect to %s:%s: %s", parts.hostname, port, error)

    probe = threading.Thread(target=connect, name="dpsim-weights-probe", daemon=True)
    probe.start()
    probe.join(2 * timeout)
    return bool(result)


def _load_imagenet(
    network: str, cache_dir: str | Path
) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """Read the ImageNet weights from the cache, downloading them only when missing and online."""
    enum = imagenet_enum(network)
    source = f"{type(enum).__name__}.{enum.name}"
    url, path = imagenet_weights_file(network, cache_dir)
    if path.is_file():
        digest = _verify_hash_in_name(path, url)
        log.info("loading %s from %s", source, path)
        state = _read_state_dict(path)
    else:
        state = _download(network, url, path, source)
        digest = sha256_file(path)
    return state, WeightsInfo("imagenet", source, digest)


def _verify_hash_in_name(path: Path, url: str) -> str:
    """Check a cached file against the SHA-256 prefix in its name; return its full SHA-256."""
    digest = sha256_file(path)
    match = _HASH_IN_NAME.search(path.name)
    if match is None:
        log.warning("%s carries no hash in its name; its content is not verified", path)
    elif not digest.startswith(match.group(1)):
        raise ValueError(
            f"{path} is corrupt: its sha256 {digest} does not start with {match.group(1)}, the "
            f"hash in its name; delete it and download it again from {url}"
        )
    return digest


def _download(network: str, url: str, path: Path, source: str) -> dict[str, torch.Tensor]:
    """Download the weights into ``path`` (hash-checked), or explain how to do it offline."""
    if not _host_reachable(url):
        host = urlparse(url).netloc
        raise WeightsUnavailableError(
            f"ImageNet weights {source} for {network} are not at {path} and {host} cannot be "
            f"reached (no TCP connection within {PROBE_TIMEOUT_S:g} s). Download {url} on a "
            f"machine with internet access and put the file at {path.resolve()} (the torch hub "
            f"layout under the cache dir / TORCH_HOME), or work offline with weights: random or "
            "weights: <path to a state-dict file>."
        )
    log.info("downloading %s from %s to %s", source, url, path)
    try:
        state = torch.hub.load_state_dict_from_url(
            url,
            model_dir=str(path.parent),
            map_location="cpu",
            progress=True,
            check_hash=True,
            file_name=path.name,
            weights_only=True,
        )
    except (OSError, RuntimeError) as error:
        raise WeightsUnavailableError(
            f"downloading {url} to {path} failed ({error}); download it by hand and put it at "
            f"{path.resolve()}, or use weights: random or a state-dict file"
        ) from error
    return _state_dict_of(state, path)


def _load_file(network: str, path: Path, given: str) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """Read a state-dict file given as ``weights``."""
    if not path.is_file():
        hint = suggest(given, WEIGHT_CHOICES)
        close = f" (did you mean {hint!r}?)" if hint is not None else ""
        raise FileNotFoundError(
            f"weights file {given} does not exist{close}; weights must be 'imagenet', 'random' "
            f"or the path of a state-dict file for torchvision's {network}"
        )
    digest = sha256_file(path)
    log.info("loading %s weights from %s (sha256 %s)", network, path, digest[:12])
    return _read_state_dict(path), WeightsInfo("file", given, digest)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load a file holding a state dict, or a dict with a ``state_dict`` entry."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling raises many types; all mean "not a state dict"
        raise ValueError(f"cannot read {path} as a torch state dict: {error}") from error
    return _state_dict_of(loaded, path)


def _state_dict_of(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    """The tensor mapping inside a loaded object, or an error naming what was found."""
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ValueError(
            f"{path} holds a {type(loaded).__name__}, not a state dict (a mapping of parameter "
            "names to tensors, or a dict with a 'state_dict' entry)"
        )
    return _rename_legacy_densenet_keys(dict(loaded))


def _rename_legacy_densenet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename DenseNet's old ``denselayer1.norm.1.weight`` keys to ``norm1.weight``.

    Torchvision's DenseNet ImageNet files still use the old names; its builder renames them.
    """
    legacy = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.\w+)$")
    renamed = {}
    for key, value in state.items():
        match = legacy.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    return renamed


def load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Load every parameter and buffer of ``model`` from ``state``, or raise naming the keys."""
    expected = set(model.state_dict())
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(
            f"weights {source} do not fit torchvision's {type(model).__name__}: "
            f"{len(missing)} missing keys {missing[:5]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:5]}"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:  # shape mismatches
        raise ValueError(f"weights {source} do not fit {type(model).__name__}: {error}") from error
