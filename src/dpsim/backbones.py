"""Torchvision classifiers by name, tapped at chosen layers, with explicit and recorded weights.

A deep perceptual similarity metric compares images through the feature maps of a classifier
at a few layers, its *taps*. This module builds such a feature extractor for any torchvision
classification network (``dpsim.names.CLASSIFICATION_NETWORKS``) and says exactly which weights
it carries.

Taps (PROTOCOL §5)
    A tap is a node name of torchvision's FX graph of the model, as listed by
    ``torchvision.models.feature_extraction.get_graph_node_names``, or the qualified name of a
    module (``"layer1"``), which stands for that module's last node, i.e. its output. The
    extractor is built with ``create_feature_extractor``, so the graph is cut after the last tap
    and the classifier is never computed. Two named tap sets are known (:data:`LAYER_TAPS`):

    - ``"lpips"``, the layers of the LPIPS paper (Zhang et al., 2018), the outputs of ReLUs (or
      Fire modules): alexnet ``features.1, .4, .7, .9, .11``; vgg16 ``features.3, .8, .15, .22,
      .29``; squeezenet1_1 ``features.1, .4, .7, .9, .10, .11, .12``.
    - ``"study"``, the layers of the adaptation study (Pihlgren et al.): alexnet ``features.1, .4,
      .7, .11``; vgg16 ``features.3, .8, .15, .29``; squeezenet1_1 ``features.1, .3, .7, .12``;
      resnet18 and resnet50 ``relu`` (after the stem), ``layer1``, ``layer2``, ``layer4``. The
      ResNets have no LPIPS set.

    Any other network takes an explicit list of names. A tap must give an N x C x H x W map
    (its channels, dim 1, are read by a dry run at build time): token outputs (ViT encoder
    blocks) are refused; channels-last maps (Swin's ``features.*``) cannot be told apart and
    would be misread, so tap such networks where maps are channels-first.

    Every module with an ``inplace`` flag (ReLU, ReLU6, Hardswish, SiLU, Dropout, ...) is
    switched to out-of-place, and functional calls traced with ``inplace=True``
    (``F.relu(x, inplace=True)`` in GoogLeNet, Inception, DenseNet) are rewritten in the graph,
    so a later layer can never overwrite a tapped tensor.

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
file missing and its host reachable.
"""

from __future__ import annotations

import logging
import operator
import re
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision
from torch import fx, nn
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from dpsim.data.download import sha256_file
from dpsim.names import CLASSIFICATION_NETWORKS
from dpsim.registry import describe_choice, suggest

__all__ = [
    "IMAGENET_WEIGHTS",
    "LAYER_TAPS",
    "Backbone",
    "WeightsInfo",
    "WeightsUnavailableError",
    "available_offline",
    "build_backbone",
    "imagenet_weights_file",
]

log = logging.getLogger(__name__)

#: Named tap sets per network (PROTOCOL §5): network -> set name -> node names in network order.
LAYER_TAPS: dict[str, dict[str, tuple[str, ...]]] = {
    "alexnet": {
        "lpips": ("features.1", "features.4", "features.7", "features.9", "features.11"),
        "study": ("features.1", "features.4", "features.7", "features.11"),
    },
    "vgg16": {
        "lpips": ("features.3", "features.8", "features.15", "features.22", "features.29"),
        "study": ("features.3", "features.8", "features.15", "features.29"),
    },
    "squeezenet1_1": {
        "lpips": (
            "features.1",
            "features.4",
            "features.7",
            "features.9",
            "features.10",
            "features.11",
            "features.12",
        ),
        "study": ("features.1", "features.3", "features.7", "features.12"),
    },
    "resnet18": {"study": ("relu", "layer1", "layer2", "layer4")},
    "resnet50": {"study": ("relu", "layer1", "layer2", "layer4")},
    # Modern classifiers for the readout study (ours, not the paper's): one tap per stage at
    # strides 4, 8, 16 and 32, the depth spread of the study's taps.
    "mobilenet_v3_small": {"study": ("features.1", "features.3", "features.8", "features.12")},
    "efficientnet_b0": {"study": ("features.2", "features.3", "features.5", "features.7")},
    "convnext_tiny": {"study": ("features.1", "features.3", "features.5", "features.7")},
}

#: The torchvision weights used for ``weights="imagenet"`` (those of the LPIPS paper and study).
IMAGENET_WEIGHTS = "IMAGENET1K_V1"

#: Seconds a TCP connect to the weights host may take before it counts as unreachable.
PROBE_TIMEOUT_S = 5.0

#: The named weight choices; any other string is a path to a state-dict file.
WEIGHT_CHOICES: tuple[str, ...] = ("imagenet", "random")

#: Smallest side of the dry-run input that finds the channels of the taps.
_DRY_RUN_SIDE = 64

#: The classic torchvision name of a file: ``name-<sha256 prefix>.ext`` (as torch hub reads it).
_HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")

#: What a tap name may look like (qualified names; also keeps it safe in torchvision's regexes).
_TAP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")

#: Networks whose builders need ``init_weights`` set to avoid a warning and fix the behaviour.
_AUXILIARY_HEAD_NETWORKS = ("googlenet", "inception_v3")

#: In-place operators and their out-of-place counterparts (for traced ``x += y`` and the like).
_OUT_OF_PLACE_OPERATORS: dict[Callable[..., Any], Callable[..., Any]] = {
    operator.iadd: operator.add,
    operator.isub: operator.sub,
    operator.imul: operator.mul,
    operator.itruediv: operator.truediv,
    operator.ifloordiv: operator.floordiv,
    operator.imod: operator.mod,
    operator.ipow: operator.pow,
    operator.imatmul: operator.matmul,
    operator.iand: operator.and_,
    operator.ior: operator.or_,
    operator.ixor: operator.xor,
    operator.ilshift: operator.lshift,
    operator.irshift: operator.rshift,
}

#: Trailing-underscore tensor methods that are not the in-place twin of a same-named method.
_NOT_INPLACE_TWINS = frozenset({"requires_grad_", "share_memory_", "resize_", "set_"})


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights a backbone carries.

    Attributes:
        kind: ``"imagenet"``, ``"random"`` or ``"file"``.
        source: The torchvision weights enum name (``"AlexNet_Weights.IMAGENET1K_V1"``),
            ``"seed=N"`` for random weights, or the file path as given.
        sha256: The SHA-256 of the weights file when one was read, else None.
    """

    kind: str
    source: str
    sha256: str | None


class WeightsUnavailableError(FileNotFoundError):
    """ImageNet weights are not on disk and cannot be downloaded (no network).

    The message names the file, the URL to fetch it from and the exact path to put it at.
    """


# ------------------------------------------------------------------------------------ backbone


class Backbone(nn.Module):
    """A classifier cut after its last tap, returning the tapped feature maps.

    The parameters live in the submodule ``model`` (a torchvision FX ``GraphModule`` whose
    parameter names are those of the torchvision model, e.g. ``model.features.0.weight``).

    Attributes:
        network: The torchvision network name.
        taps: The tapped node names, in network order.
        channels: The channel count of each tap, in the same order.
        weights: Which weights were loaded.
    """

    def __init__(
        self,
        network: str,
        model: nn.Module,
        taps: Sequence[str],
        channels: Sequence[int],
        weights: WeightsInfo,
    ) -> None:
        """Wrap an extractor whose output is a dict with one entry per tap.

        Args:
            network: The torchvision network name.
            model: The feature extractor (``create_feature_extractor`` of the model).
            taps: The keys of the extractor's output, in network order.
            channels: The channel count of each tap.
            weights: Which weights ``model`` carries.
        """
        super().__init__()
        if len(taps) != len(channels):
            raise ValueError(f"got {len(taps)} taps but {len(channels)} channel counts")
        self.network = network
        self.model = model
        self.taps: tuple[str, ...] = tuple(taps)
        self.channels: tuple[int, ...] = tuple(int(c) for c in channels)
        self.weights = weights

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The tapped feature maps of a batch of images.

        Args:
            x: Images, N x 3 x H x W, already scaled as the network expects (by the caller).

        Returns:
            One tensor per tap, in tap order; tap k has shape N x ``channels[k]`` x H_k x W_k.
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape N x 3 x H x W, got {tuple(x.shape)}")
        outputs = self.model(x)
        return [outputs[tap] for tap in self.taps]

    def extra_repr(self) -> str:
        """Network, taps and weights, shown by ``repr``."""
        return f"network={self.network!r}, taps={self.taps}, weights={self.weights}"


def build_backbone(
    network: str,
    taps: str | Sequence[str] = "lpips",
    weights: str = "random",
    seed: int = 0,
    cache_dir: str | Path = "resources/torch",
) -> Backbone:
    """Build a tapped torchvision classifier with the requested weights.

    Args:
        network: A torchvision classification network (``dpsim.names.CLASSIFICATION_NETWORKS``).
        taps: A tap-set name of :data:`LAYER_TAPS` (``"lpips"``, ``"study"``) or a sequence of
            node / module names of the network (any network).
        weights: ``"random"``, ``"imagenet"`` (torchvision ``IMAGENET1K_V1``) or a path to a
            state-dict file for the torchvision model.
        seed: Seed of the initialisation (the weights for ``"random"``; otherwise only the
            parameters that the loaded weights then overwrite).
        cache_dir: The torch home; ImageNet weights live in ``{cache_dir}/hub/checkpoints``.

    Returns:
        The backbone in eval mode, on the CPU, its taps in network order.

    Raises:
        ValueError: An unknown network, tap set, tap or weight choice; a weights file that does
            not fit the network or whose hash does not match its name; taps that are not
            N x C x H x W feature maps.
        FileNotFoundError: A weights path that does not exist.
        WeightsUnavailableError: ImageNet weights missing and their host unreachable.
    """
    network = _check_network(network)
    tap_names = _resolve_taps(network, taps)
    _check_seed(seed)
    state, info = _load_weights(network, weights, seed, cache_dir)
    model = _build_model(network, seed, imagenet=info.kind == "imagenet")
    if state is not None:
        label = info.source
        if info.kind == "imagenet":
            label += f" from {imagenet_weights_file(network, cache_dir)[1]}"
        _load_strict(model, state, source=label)
        if info.kind == "imagenet":
            _drop_auxiliary_heads(model)
    switched = _disable_inplace_modules(model)
    _check_taps(model, network, tap_names)
    extractor = create_feature_extractor(
        model, return_nodes=list(tap_names), suppress_diff_warning=True
    )
    rewritten = _make_graphs_out_of_place(extractor)
    log.debug("%s: %d modules, %d graph ops made out-of-place", network, switched, rewritten)
    ordered, channels = _dry_run(extractor, network, tap_names, _dry_run_side(network))
    if ordered != tap_names:
        log.info("%s: taps reordered to network order: %s", network, ", ".join(ordered))
    log.info("built %s with taps %s and %s weights (%s)", network, ordered, info.kind, info.source)
    return Backbone(network, extractor, ordered, channels, info).eval()


# ---------------------------------------------------------------------------- names and taps


def _check_network(network: str) -> str:
    """Return ``network`` if torchvision has it, else raise with the closest name."""
    if not isinstance(network, str) or network not in CLASSIFICATION_NETWORKS:
        raise ValueError(f"unknown network: {describe_choice(network, CLASSIFICATION_NETWORKS)}")
    return network


def _check_seed(seed: int) -> None:
    """Seeds are non-negative integers (as everywhere in dpsim)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _resolve_taps(network: str, taps: str | Sequence[str]) -> tuple[str, ...]:
    """The node names for ``taps``: a tap-set name looked up, or an explicit list checked.

    Args:
        network: A known network name.
        taps: A tap-set name or a sequence of node / module names.

    Returns:
        The node names, in the order given (the extractor puts them in network order).
    """
    if isinstance(taps, str):
        return _tap_set(network, taps)
    names = tuple(taps)
    if not names:
        raise ValueError(f"taps for {network} must name at least one node, got an empty list")
    for name in names:
        if not isinstance(name, str) or _TAP_NAME.fullmatch(name) is None:
            raise ValueError(
                f"tap {name!r} is not a node or module name (such as 'features.3' or 'layer1')"
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"taps for {network} repeat {repeated}; name each node once")
    return names


def _tap_set(network: str, name: str) -> tuple[str, ...]:
    """Look up a named tap set, explaining which networks have which sets."""
    sets = LAYER_TAPS.get(network)
    if sets is None:
        raise ValueError(
            f"tap sets ({', '.join(sorted({s for v in LAYER_TAPS.values() for s in v}))}) exist "
            f"only for {', '.join(LAYER_TAPS)}; for {network} pass an explicit list of node or "
            f"module names (even for one tap), e.g. taps=[{name!r}]"
        )
    if name in sets:
        return sets[name]
    if name == "lpips":
        raise ValueError(
            f"{network} has no 'lpips' tap set: the LPIPS paper used only "
            f"{', '.join(n for n, s in LAYER_TAPS.items() if 'lpips' in s)}; use taps='study' "
            "(the adaptation study's layers) or an explicit list of node names"
        )
    raise ValueError(f"unknown tap set for {network}: {describe_choice(name, sets)}")


def _check_taps(model: nn.Module, network: str, taps: Sequence[str]) -> None:
    """Every tap must be a graph node of ``model`` or a module holding nodes (in both modes).

    Raises:
        ValueError: Naming the first unknown tap, a close name, and how to list all names.
    """
    train_nodes, eval_nodes = get_graph_node_names(model, suppress_diff_warning=True)
    in_train = set(train_nodes)
    nodes = [n for n in eval_nodes if n in in_train]  # the extractor needs both modes
    modules = {
        ".".join(n.split(".")[:depth]) for n in nodes for depth in range(1, n.count(".") + 1)
    }
    for tap in taps:
        if tap in nodes or tap in modules:
            continue
        hint = suggest(tap, [*nodes, *sorted(modules)])
        close = f" (did you mean {hint!r}?)" if hint is not None else ""
        raise ValueError(
            f"tap {tap!r} is not a node or module of {network}{close}; list the valid names with "
            "torchvision.models.feature_extraction.get_graph_node_names("
            f"torchvision.models.get_model({network!r}))"
        )


# --------------------------------------------------------------------------------- the model


def _build_model(network: str, seed: int, *, imagenet: bool) -> nn.Module:
    """The torchvision model, initialised under ``seed`` without touching the global RNG.

    Args:
        network: A known network name.
        seed: Seed of torchvision's initialisation.
        imagenet: Build the variant torchvision builds for its ImageNet weights (GoogLeNet and
            Inception v3 with input transform and auxiliary heads, ViT at the weights' size).

    Returns:
        The model (train mode, CPU).
    """
    kwargs = _imagenet_build_kwargs(network) if imagenet else _random_build_kwargs(network)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torchvision.models.get_model(network, weights=None, **kwargs)


def _random_build_kwargs(network: str) -> dict[str, Any]:
    """Builder arguments for ``weights=None`` (only to make GoogLeNet/Inception's init explicit)."""
    return {"init_weights": True} if network in _AUXILIARY_HEAD_NETWORKS else {}


def _imagenet_build_kwargs(network: str) -> dict[str, Any]:
    """The builder arguments torchvision's own builder uses with its ImageNet weights."""
    meta = _imagenet_enum(network).meta
    kwargs: dict[str, Any] = {"num_classes": len(meta["categories"])}
    if network in _AUXILIARY_HEAD_NETWORKS:
        kwargs.update(transform_input=True, aux_logits=True, init_weights=False)
    if network.startswith("vit_"):
        kwargs["image_size"] = meta["min_size"][0]
    if network == "maxvit_t":
        kwargs["input_size"] = meta["min_size"]
    return kwargs


def _drop_auxiliary_heads(model: nn.Module) -> None:
    """Remove the auxiliary classifiers after loading, as torchvision's builders do."""
    if hasattr(model, "aux_logits"):
        model.aux_logits = False
        for head in ("aux1", "aux2", "AuxLogits"):
            if hasattr(model, head):
                setattr(model, head, None)


def _dry_run_side(network: str) -> int:
    """Input side for the dry run: 64, or more where the network needs it (ViT: 224)."""
    try:
        min_size = torchvision.models.get_model_weights(network).DEFAULT.meta["min_size"]
    except (KeyError, AttributeError, ValueError):
        return _DRY_RUN_SIDE
    return max(_DRY_RUN_SIDE, *min_size)


def _dry_run(
    extractor: nn.Module, network: str, taps: Sequence[str], side: int
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Run a zero image through the extractor to learn the tap order and channel counts.

    Args:
        extractor: The feature extractor, returning a dict keyed by tap.
        network: The network name (for messages).
        taps: The requested taps.
        side: Height and width of the dry-run image.

    Returns:
        The taps in network order and the channels (dim 1) of each.
    """
    extractor.eval()
    with torch.no_grad():
        outputs = extractor(torch.zeros(1, 3, side, side))
    missing = [tap for tap in taps if tap not in outputs]
    if missing:
        raise ValueError(f"taps {missing} of {network} give no output; choose other nodes")
    for tap, value in outputs.items():
        if not isinstance(value, torch.Tensor) or value.ndim != 4:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(
                f"tap {tap!r} of {network} gives {shape}, not an N x C x H x W feature map; "
                "choose a node that outputs convolutional feature maps"
            )
    ordered = tuple(outputs)
    return ordered, tuple(int(outputs[tap].shape[1]) for tap in ordered)


# ------------------------------------------------------------------------------ no in-place ops


def _disable_inplace_modules(model: nn.Module) -> int:
    """Set ``inplace=False`` on every module that has the flag; return how many were on."""
    switched = 0
    for module in model.modules():
        if isinstance(getattr(module, "inplace", None), bool):
            switched += int(module.inplace)
            module.inplace = False
    return switched


def _make_graphs_out_of_place(extractor: fx.GraphModule) -> int:
    """Rewrite in-place ops in the extractor's train and eval graphs; return how many changed."""
    candidates = (
        extractor.graph,
        getattr(extractor, "train_graph", None),
        getattr(extractor, "eval_graph", None),
    )
    graphs = {id(graph): graph for graph in candidates if graph is not None}
    changed = sum(_make_graph_out_of_place(graph) for graph in graphs.values())
    if changed:
        extractor.recompile()
    return changed


def _make_graph_out_of_place(graph: fx.Graph) -> int:
    """Replace in-place ops of one graph by their out-of-place twins.

    Handles ``inplace=True`` keyword arguments (``F.relu(x, inplace=True)``), in-place
    operators (``operator.iadd``), and trailing-underscore functions and tensor methods
    (``torch.relu_``, ``x.add_(y)``) that have an out-of-place twin.

    Returns:
        The number of nodes changed.
    """
    changed = 0
    for node in graph.nodes:
        if node.op not in ("call_function", "call_method"):
            continue
        if node.kwargs.get("inplace") is True:
            node.kwargs = {**node.kwargs, "inplace": False}
            changed += 1
        if node.op == "call_function" and node.target in _OUT_OF_PLACE_OPERATORS:
            node.target = _OUT_OF_PLACE_OPERATORS[node.target]
            changed += 1
        elif node.op == "call_function":
            twin = _out_of_place_function(node.target)
            if twin is not None:
                node.target = twin
                changed += 1
        elif _is_inplace_method(node.target):
            node.target = node.target[:-1]
            changed += 1
    return changed


def _out_of_place_function(target: Callable[..., Any]) -> Callable[..., Any] | None:
    """``torch.relu`` for ``torch.relu_`` and the like; None if ``target`` is not in-place."""
    name = getattr(target, "__name__", "")
    if not name.endswith("_") or name.startswith("_") or name in _NOT_INPLACE_TWINS:
        return None
    if target is not getattr(torch, name, None) and target is not getattr(
        torch.nn.functional, name, None
    ):
        return None
    twin = getattr(torch, name[:-1], None)
    return twin if callable(twin) else None


def _is_inplace_method(name: object) -> bool:
    """Whether ``name`` is an in-place tensor method with an out-of-place twin (``add_``)."""
    if not isinstance(name, str) or not name.endswith("_") or name.startswith("_"):
        return False
    return name not in _NOT_INPLACE_TWINS and callable(getattr(torch.Tensor, name[:-1], None))


# ------------------------------------------------------------------------------------ weights


def _load_weights(
    network: str, weights: str, seed: int, cache_dir: str | Path
) -> tuple[dict[str, torch.Tensor] | None, WeightsInfo]:
    """The state dict to load (None for random weights) and its description."""
    if not isinstance(weights, str | Path):
        raise ValueError(
            f"weights must be 'imagenet', 'random' or a path to a state-dict file, got {weights!r}"
        )
    if weights == "random":
        return None, WeightsInfo("random", f"seed={seed}", None)
    if weights == "imagenet":
        return _load_imagenet(network, cache_dir)
    return _load_file(network, Path(weights), str(weights))


def imagenet_weights_file(network: str, cache_dir: str | Path) -> tuple[str, Path]:
    """Where the ImageNet (``IMAGENET1K_V1``) weights of ``network`` come from and go.

    Args:
        network: A torchvision classification network.
        cache_dir: The torch home (``TORCH_HOME``).

    Returns:
        The download URL and the local path ``{cache_dir}/hub/checkpoints/{file name}``.
    """
    url = _imagenet_url(_check_network(network))
    return url, Path(cache_dir) / "hub" / "checkpoints" / Path(urlparse(url).path).name


def available_offline(network: str, cache_dir: str | Path) -> bool:
    """Whether the ImageNet weights file of ``network`` is already in ``cache_dir``."""
    return imagenet_weights_file(network, cache_dir)[1].is_file()


def _imagenet_enum(network: str) -> torchvision.models.WeightsEnum:
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
    return _imagenet_enum(network).url


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
    enum = _imagenet_enum(network)
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


def _load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str) -> None:
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
