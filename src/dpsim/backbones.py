"""Torchvision classifiers by name, tapped at chosen layers, with explicit and recorded weights.

A deep perceptual similarity metric compares images through the feature maps of a classifier
at a few layers, its *taps*. This module builds such a feature extractor for any torchvision
classification network (``dpsim.names.CLASSIFICATION_NETWORKS``) and says exactly which weights
it carries. What a tap is and the named tap sets (PROTOCOL §5) live in :mod:`dpsim.taps`, which
needs no torch; the weight choices (``"imagenet"``, ``"random"``, a state-dict file) and where
ImageNet files live in :mod:`dpsim.weights`.

Building
    The taps are resolved by :func:`dpsim.taps.resolve_taps`, then checked against the nodes of
    torchvision's FX graph of the model. The extractor is built with ``create_feature_extractor``,
    so the graph is cut after the last tap and the classifier is never computed. A dry run on a
    zero image puts the taps in network order, reads the channels (dim 1) of each and refuses
    taps that do not give N x C x H x W maps.

    Every module with an ``inplace`` flag (ReLU, ReLU6, Hardswish, SiLU, Dropout, ...) is
    switched to out-of-place, and functional calls traced with ``inplace=True``
    (``F.relu(x, inplace=True)`` in GoogLeNet, Inception, DenseNet) are rewritten in the graph,
    so a later layer can never overwrite a tapped tensor.

:data:`LAYER_TAPS`, :data:`IMAGENET_WEIGHTS`, :class:`WeightsInfo`,
:class:`WeightsUnavailableError`, :func:`available_offline` and :func:`imagenet_weights_file` are
re-exported here so that imports from ``dpsim.backbones`` keep working.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import fx, nn
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from dpsim.registry import suggest
from dpsim.taps import LAYER_TAPS, check_network, fixed_input, resolve_taps
from dpsim.weights import (
    IMAGENET_WEIGHTS,
    WeightsInfo,
    WeightsUnavailableError,
    available_offline,
    imagenet_enum,
    imagenet_weights_file,
    load_strict,
    load_weights,
)

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

#: Smallest side of the dry-run input that finds the channels of the taps.
_DRY_RUN_SIDE = 64

#: MaxViT's input side: its attention partitions are laid out for it when it is built.
MAXVIT_SIDE = 224
#: How inputs are resized for a network that runs at one size only, and the choices.
DEFAULT_RESIZE = "bicubic"
RESIZE_MODES = ("bicubic", "bilinear")

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
        input_side: The side every input is resized to before the network (ViT and MaxViT run
            only at the size they were built for), or None: inputs go in as they are.
        resize_mode: The interpolation of that resize (``bicubic`` or ``bilinear``).
    """

    def __init__(
        self,
        network: str,
        model: nn.Module,
        taps: Sequence[str],
        channels: Sequence[int],
        weights: WeightsInfo,
        input_side: int | None = None,
        resize_mode: str = DEFAULT_RESIZE,
    ) -> None:
        """Wrap an extractor whose output is a dict with one entry per tap.

        Args:
            network: The torchvision network name.
            model: The feature extractor (``create_feature_extractor`` of the model).
            taps: The keys of the extractor's output, in network order.
            channels: The channel count of each tap.
            weights: Which weights ``model`` carries.
            input_side: See the class docstring.
            resize_mode: See the class docstring.
        """
        super().__init__()
        if resize_mode not in RESIZE_MODES:
            raise ValueError(
                f"resize_mode must be one of {', '.join(RESIZE_MODES)}, got {resize_mode!r}"
            )
        if len(taps) != len(channels):
            raise ValueError(f"got {len(taps)} taps but {len(channels)} channel counts")
        self.network = network
        self.model = model
        self.taps: tuple[str, ...] = tuple(taps)
        self.channels: tuple[int, ...] = tuple(int(c) for c in channels)
        self.weights = weights
        self.input_side = input_side
        self.resize_mode = resize_mode

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The tapped feature maps of a batch of images.

        Args:
            x: Images, N x 3 x H x W, already scaled as the network expects (by the caller).

        Returns:
            One tensor per tap, in tap order; tap k has shape N x ``channels[k]`` x H_k x W_k
            (token outputs and channels-last maps brought to that form: :func:`as_map`).
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape N x 3 x H x W, got {tuple(x.shape)}")
        outputs = self.model(self.resized(x))
        return [as_map(outputs[tap], self.network) for tap in self.taps]

    def resized(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` at the network's input side where it has one (else ``x`` itself)."""
        side = self.input_side
        if side is None or tuple(x.shape[-2:]) == (side, side):
            return x
        return nn.functional.interpolate(
            x, size=(side, side), mode=self.resize_mode, align_corners=False, antialias=True
        )

    def extra_repr(self) -> str:
        """Network, taps, weights and input resize, shown by ``repr``."""
        text = f"network={self.network!r}, taps={self.taps}, weights={self.weights}"
        if self.input_side is not None:
            text += f", input resized to {self.input_side} px ({self.resize_mode})"
        return text


def token_layout(network: str) -> str:
    """How the network's taps lay their features out: ``tokens`` (ViT: N x (1 + h w) x C, the
    class token first), ``channels_last`` (Swin's stages: N x H x W x C) or ``channels_first``
    (N x C x H x W: the CNNs, MaxViT)."""
    if network.startswith("vit_"):
        return "tokens"
    if network.startswith("swin_"):
        return "channels_last"
    return "channels_first"


def as_map(value: torch.Tensor, network: str) -> torch.Tensor:
    """A tap's output as an N x C x H x W map (see :func:`token_layout`).

    ViT token outputs lose their class token and get their patch grid back (row-major, as
    the patches were flattened); Swin's channels-last maps are permuted. Channel
    unit-normalisation and every readout then treat a token as they treat a spatial position.
    """
    layout = token_layout(network)
    if layout == "tokens" and value.ndim == 3:
        n, count, channels = value.shape
        side = math.isqrt(count - 1)
        if side * side != count - 1:
            raise ValueError(
                f"{network}: a token output of {count} tokens is not a class token and a square "
                "patch grid; tap an encoder block's output"
            )
        return value[:, 1:].transpose(1, 2).reshape(n, channels, side, side)
    if layout == "channels_last" and value.ndim == 4:
        return value.permute(0, 3, 1, 2)
    return value


def build_backbone(
    network: str,
    taps: str | Sequence[str] = "lpips",
    weights: str = "random",
    seed: int = 0,
    cache_dir: str | Path = "resources/torch",
    resize_mode: str = DEFAULT_RESIZE,
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
        resize_mode: How inputs are resized for a network that runs at one size only (ViT,
            MaxViT: to 224 px, ``bicubic`` by default, or ``bilinear``); other networks take
            any size as it is.

    Returns:
        The backbone in eval mode, on the CPU, its taps in network order.

    Raises:
        ValueError: An unknown network, tap set, tap or weight choice; a weights file that does
            not fit the network or whose hash does not match its name; taps that are not
            N x C x H x W feature maps.
        FileNotFoundError: A weights path that does not exist.
        WeightsUnavailableError: ImageNet weights missing and their host unreachable.
    """
    network = check_network(network)
    tap_names = resolve_taps(network, taps)
    _check_seed(seed)
    state, info = load_weights(network, weights, seed, cache_dir)
    model = _build_model(network, seed, imagenet=info.kind == "imagenet")
    if state is not None:
        label = info.source
        if info.kind == "imagenet":
            label += f" from {imagenet_weights_file(network, cache_dir)[1]}"
        load_strict(model, state, source=label)
        if info.kind == "imagenet":
            _drop_auxiliary_heads(model)
    switched = _disable_inplace_modules(model)
    _check_taps(model, network, tap_names)
    extractor = create_feature_extractor(
        model, return_nodes=list(tap_names), suppress_diff_warning=True
    )
    rewritten = _make_graphs_out_of_place(extractor)
    restored = _restore_safe_inplace_relus(extractor)
    log.debug(
        "%s: %d modules, %d graph ops made out-of-place; %d ReLUs in place again where safe",
        network,
        switched,
        rewritten,
        restored,
    )
    side = _fixed_input_side(network, model)
    ordered, channels = _dry_run(extractor, network, tap_names, side or _dry_run_side(network))
    if ordered != tap_names:
        log.info("%s: taps reordered to network order: %s", network, ", ".join(ordered))
    log.info("built %s with taps %s and %s weights (%s)", network, ordered, info.kind, info.source)
    return Backbone(network, extractor, ordered, channels, info, side, resize_mode).eval()


def _fixed_input_side(network: str, model: nn.Module) -> int | None:
    """The one input side the network runs at: a ViT's built image size, MaxViT's 224 px;
    None for networks that take any size (the CNNs, Swin)."""
    if not fixed_input(network):
        return None
    if network.startswith("vit_"):
        return int(getattr(model, "image_size"))  # noqa: B009 - torchvision's attribute
    return MAXVIT_SIDE


# -------------------------------------------------------------------------------- seed and taps


def _check_seed(seed: int) -> None:
    """Seeds are non-negative integers (as everywhere in dpsim)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


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
    meta = imagenet_enum(network).meta
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
        setattr(model, "aux_logits", False)  # noqa: B010 - a flag, not a submodule
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
    outputs = {
        tap: as_map(value, network) if isinstance(value, torch.Tensor) else value
        for tap, value in outputs.items()
    }
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
        flag = getattr(module, "inplace", None)
        if isinstance(flag, bool):
            switched += int(flag)
            setattr(module, "inplace", False)  # noqa: B010 - a flag, not a submodule
    return switched


def _graphs(extractor: fx.GraphModule) -> list[fx.Graph]:
    """The extractor's graphs: its train and eval graphs (and the current one), each once."""
    candidates = (
        extractor.graph,
        getattr(extractor, "train_graph", None),
        getattr(extractor, "eval_graph", None),
    )
    return list({id(graph): graph for graph in candidates if graph is not None}.values())


def _make_graphs_out_of_place(extractor: fx.GraphModule) -> int:
    """Rewrite in-place ops in the extractor's train and eval graphs; return how many changed."""
    changed = sum(_make_graph_out_of_place(graph) for graph in _graphs(extractor))
    if changed:
        extractor.recompile()
    return changed


#: Layers whose output is a fresh tensor: a ReLU that alone reads it may overwrite it.
_FRESH_OUTPUT = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)


def _restore_safe_inplace_relus(extractor: fx.GraphModule) -> int:
    """Let each ReLU module work in place again where that overwrites nothing anyone reads.

    Safe where, at every place the module is called, its input is the output of a convolution,
    linear or batch-norm layer, read by this ReLU alone and not a tap: then the ReLU's output
    simply takes that buffer over, as in torchvision's own networks. An out-of-place ReLU costs
    a fresh copy of every such map (about 4% of alexnet's forward pass on a CPU). Returns how
    many modules were switched.
    """
    verdicts: dict[str, bool] = {}
    for graph in _graphs(extractor):
        taps: set[fx.Node] = set()
        for node in graph.nodes:
            if node.op == "output":
                fx.node.map_arg(node.args, taps.add)
        for node in graph.nodes:
            if node.op != "call_module" or not isinstance(_module(extractor, node), nn.ReLU):
                continue
            source = node.args[0] if node.args else None
            safe = (
                isinstance(source, fx.Node)
                and source.op == "call_module"
                and isinstance(_module(extractor, source), _FRESH_OUTPUT)
                and len(source.users) == 1
                and source not in taps
            )
            verdicts[str(node.target)] = verdicts.get(str(node.target), True) and safe
    for target, safe in verdicts.items():
        if safe:
            setattr(extractor.get_submodule(target), "inplace", True)  # noqa: B010 - a flag
    return sum(verdicts.values())


def _module(extractor: fx.GraphModule, node: fx.Node) -> nn.Module:
    return extractor.get_submodule(str(node.target))


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
