"""Layer taps: which feature maps of a classifier a metric reads, by name, without torch.

A tap is a node name of torchvision's FX graph of the model, as listed by
``torchvision.models.feature_extraction.get_graph_node_names``, or the qualified name of a module
(``"layer1"``), which stands for that module's last node, i.e. its output. This module only names
and checks taps, so it imports neither torch nor torchvision (config checks and ``dpsim info``
use it); :func:`dpsim.backbones.build_backbone` checks them against the network's graph and cuts
the graph after the last one.

Taps (PROTOCOL §5)
    Two named tap sets are known (:data:`LAYER_TAPS`):

    - ``"lpips"``, the layers of the LPIPS paper (Zhang et al., 2018), the outputs of ReLUs (or
      Fire modules): alexnet ``features.1, .4, .7, .9, .11``; vgg16 ``features.3, .8, .15, .22,
      .29``; squeezenet1_1 ``features.1, .4, .7, .9, .10, .11, .12``.
    - ``"study"``, the layers of the adaptation study (Pihlgren et al.): alexnet ``features.1, .4,
      .7, .11``; vgg16 ``features.3, .8, .15, .29``; squeezenet1_1 ``features.1, .3, .7, .12``;
      resnet18 and resnet50 ``relu`` (after the stem), ``layer1``, ``layer2``, ``layer4``. The
      ResNets have no LPIPS set.

    - ``"study"`` for the transformers too (ours): ViT ``encoder.layers.encoder_layer_{k}`` at
      the ends of the four quarters of the depth, Swin (v1, v2) ``features.1, .3, .5, .7`` (its
      stages), MaxViT ``blocks.0`` to ``.3``.

    Any other network takes an explicit list of names. A tap must give an N x C x H x W map
    (its channels, dim 1, are read by a dry run at build time). Transformer outputs are
    brought to that form (:func:`dpsim.backbones.as_map`): a ViT's tokens lose the class token
    and get the patch grid back, Swin's channels-last maps are permuted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from dpsim.names import CLASSIFICATION_NETWORKS
from dpsim.registry import describe_choice

__all__ = ["LAYER_TAPS", "check_network", "resolve_taps", "tap_set"]


def _vit_blocks(depth: int) -> tuple[str, ...]:
    """The outputs of a ViT's encoder blocks at the ends of its four quarters."""
    return tuple(f"encoder.layers.encoder_layer_{depth * k // 4 - 1}" for k in range(1, 5))


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
    # Transformers (ours): four blocks spread over the depth. ViT: the outputs of encoder
    # blocks 3, 6, 9, 12 of 12 (6, 12, 18, 24 of 24 for ViT-L; 8, 16, 24, 32 of 32 for ViT-H);
    # Swin: the four stages' outputs; MaxViT: its four blocks.
    **{name: {"study": _vit_blocks(12)} for name in ("vit_b_16", "vit_b_32")},
    **{name: {"study": _vit_blocks(24)} for name in ("vit_l_16", "vit_l_32")},
    "vit_h_14": {"study": _vit_blocks(32)},
    **{
        name: {"study": ("features.1", "features.3", "features.5", "features.7")}
        for name in ("swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b")
    },
    "maxvit_t": {"study": ("blocks.0", "blocks.1", "blocks.2", "blocks.3")},
}


def fixed_input(network: str) -> bool:
    """Whether ``network`` runs at one input size only, so that images are resized for it
    (ViT at its built size, MaxViT at 224 px; :func:`dpsim.backbones.build_backbone`)."""
    return network.startswith("vit_") or network == "maxvit_t"


#: What a tap name may look like (qualified names; also keeps it safe in torchvision's regexes).
_TAP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")


def check_network(network: str) -> str:
    """Return ``network`` if torchvision has it, else raise with the closest name.

    The first check of :func:`dpsim.backbones.build_backbone` and of
    :func:`dpsim.weights.imagenet_weights_file`; here because it needs no torch either.
    """
    if not isinstance(network, str) or network not in CLASSIFICATION_NETWORKS:
        raise ValueError(f"unknown network: {describe_choice(network, CLASSIFICATION_NETWORKS)}")
    return network


def resolve_taps(network: str, taps: str | Sequence[str]) -> tuple[str, ...]:
    """The node names for ``taps``: a tap-set name looked up, or an explicit list checked.

    Only names are checked here; whether each is a node of the network is checked when the
    backbone is built (:func:`dpsim.backbones.build_backbone`), which needs torchvision.

    Args:
        network: A known network name.
        taps: A tap-set name or a sequence of node / module names.

    Returns:
        The node names, in the order given (the extractor puts them in network order).

    Raises:
        ValueError: An unknown tap set (or none for ``network``), an empty list, a repeated
            name, or a string that is not a node or module name.
    """
    if isinstance(taps, str):
        return tap_set(network, taps)
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


def tap_set(network: str, name: str) -> tuple[str, ...]:
    """Look up a named tap set, explaining which networks have which sets.

    Args:
        network: A known network name.
        name: A tap-set name of :data:`LAYER_TAPS` (``"lpips"``, ``"study"``).

    Returns:
        The set's node names, in network order.

    Raises:
        ValueError: ``network`` has no named sets, or not this one (with the closest name).
    """
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


def readout_taps(section: Mapping[str, Any], network: str) -> str | tuple[str, ...]:
    """The tap choice of ``network`` in the config's ``readout`` section.

    ``readout.taps`` is one choice for every network (a set name or a list of node names) or a
    mapping ``network -> choice``, where networks left out of the mapping use ``"study"``.
    """
    taps = section["taps"]
    if isinstance(taps, Mapping):
        taps = taps.get(network, "study")
    return taps if isinstance(taps, str) else tuple(taps)
