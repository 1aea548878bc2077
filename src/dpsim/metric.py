"""The DPS metric in LPIPS form, its variants and readouts, and LPIPS v0.1 weight import.

For images x, y and each tapped layer l with features f_l of shape (C, H, W) (PROTOCOL §5):

1. the input is scaled: ``(x - shift) / scale`` per RGB channel (the LPIPS scaling layer, for
   images in [-1, 1]);
2. each spatial position is unit-normalised across channels: ``f / (||f||_2 + 1e-10)``;
3. a readout turns the two normalised maps into one statistic per channel, ``s_lc``;
4. ``d_l = sum_c w_lc * s_lc`` with learned weights ``w_lc >= 0``, and ``d = sum_l d_l``.

Readouts (per channel c): ``spatial`` is the LPIPS form, ``mean_hw (x_chw - y_chw)^2`` (so
``d_l`` equals LPIPS's 1x1 convolution followed by a spatial mean, by linearity); ``mean``
compares channel means, ``(mean_hw x_c - mean_hw y_c)^2``; ``sort`` compares the channel's values
sorted over space, ``mean_hw (sort x_c - sort y_c)^2``; ``spatial+mean`` and ``spatial+sort`` add
two statistics under the same weights.

Variants: ``baseline`` (w = 1, nothing learned: a cosine-distance readout), ``lin`` (backbone
frozen, w learned), ``mix`` (backbone frozen, w and a low-rank channel mixing ``Q_l`` per layer
learned, adding ``mean_hw ||Q_l (x - y)||^2`` to each layer's distance; :mod:`dpsim.mixing`),
``lora`` (w and a low-rank update of every backbone convolution learned, the base weights
frozen; :mod:`dpsim.peft`), ``bitfit`` (w and the backbone's biases learned), ``tune`` (w and
backbone learned, from the given weights), ``scratch`` (w and a randomly initialised backbone
learned). In training, dropout (p = 0.5) acts on the squared
differences before the readout reduces them, as LPIPS's dropout before its 1x1 convolution.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from dpsim.backbones import DEFAULT_RESIZE, Backbone, build_backbone
from dpsim.mixing import ChannelMixing
from dpsim.names import BACKBONE_TRAINED
from dpsim.peft import LORA_RANK, add_lora, enable_bitfit, trained_backbone_keys
from dpsim.registry import resolve

log = logging.getLogger(__name__)

VARIANTS: tuple[str, ...] = ("baseline", "lin", "mix", "lora", "bitfit", "tune", "scratch")
READOUTS: tuple[str, ...] = ("spatial", "mean", "sort", "spatial+mean", "spatial+sort")
INPUT_RANGES: tuple[str, ...] = ("-1,1", "0,1")
EPS = 1e-10
#: The LPIPS scaling layer for RGB inputs in [-1, 1].
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
#: Default rank of ``mix``'s channel mixing (issue 16's measurement used 16).
MIX_RANK = 16
#: Version of a checkpoint's metric description: 2 records the weights' seed as a number.
METRIC_FORMAT = 2


class ScalingLayer(nn.Module):
    """``(x - shift) / scale`` per channel, with the LPIPS constants."""

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


def unit_normalise(features: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Divide each spatial position's channel vector by its L2 norm (plus ``eps``)."""
    return features / (channel_norm(features) + eps)


def normalised_taps(taps: list[torch.Tensor]) -> list[torch.Tensor]:
    """:func:`unit_normalise` of each tapped map, emptying ``taps`` as it goes, so that a raw
    map is freed as soon as its normalised one exists.

    Without gradient mode (inference), a map whose memory no other tap shares is divided in
    place: the same floats as :func:`unit_normalise`, without a second copy of every map. With
    it, nothing is overwritten (autograd, and ``torch.func`` transforms, need the originals).
    """
    grad = torch.is_grad_enabled()
    storages = Counter() if grad else Counter(t.untyped_storage().data_ptr() for t in taps)
    normalised = []
    while taps:
        raw = taps.pop(0)  # the list no longer holds the raw map
        if not grad and storages[raw.untyped_storage().data_ptr()] == 1:
            normalised.append(raw.div_(channel_norm(raw).add_(EPS)))
        else:
            normalised.append(unit_normalise(raw))
        del raw
    return normalised


def channel_norm(features: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each spatial position's channel vector, ``(N, 1, H, W)``."""
    return torch.sqrt(torch.sum(features * features, dim=1, keepdim=True))


def check_images(images: torch.Tensor, name: str, input_range: str = "-1,1") -> torch.Tensor:
    """Validate a batch of images and return it in [-1, 1].

    Args:
        images: float tensor ``(N, 3, H, W)``.
        name: how the caller calls it, for the error message.
        input_range: ``"-1,1"`` (the default, LPIPS's convention) or ``"0,1"`` (converted here).

    Raises:
        TypeError: not a floating-point tensor.
        ValueError: wrong shape, non-finite values, values outside the range, or an all
            non-negative batch given as [-1, 1] (the classic mix-up of [0, 1] and [-1, 1]).
    """
    resolve(input_range, INPUT_RANGES, "input range")
    if not isinstance(images, torch.Tensor) or not torch.is_floating_point(images):
        kind = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise TypeError(f"{name} must be a floating-point torch tensor, got {kind}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3, H, W), got {tuple(images.shape)}")
    values = images.detach()  # a check, not part of a loss's graph
    if not torch.isfinite(values).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if input_range == "0,1":
        if low < 0 or high > 1:
            raise ValueError(f"{name} was declared in [0, 1] but spans [{low:.3g}, {high:.3g}]")
        return images * 2 - 1
    if low < -1 or high > 1:
        raise ValueError(
            f"{name} must lie in [-1, 1] (LPIPS convention), but spans [{low:.3g}, {high:.3g}]; "
            "convert 0-255 images with x / 127.5 - 1"
        )
    if low >= 0:
        raise ValueError(
            f"{name} has no negative value (spans [{low:.3g}, {high:.3g}]): it looks like images "
            "in [0, 1], but the metric expects [-1, 1]. Pass input_range='0,1' to convert, or "
            "convert with 2 * x - 1; for genuine [-1, 1] images without dark pixels use "
            "check_range=False"
        )
    return images


def squared_difference(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(x - y) ** 2``, squared in place without gradient mode (the same floats, one buffer
    instead of two)."""
    difference = x - y
    return difference**2 if torch.is_grad_enabled() else difference.square_()


def channel_statistics(
    x: torch.Tensor, y: torch.Tensor, readout: str, dropout: nn.Module
) -> torch.Tensor:
    """Per-channel statistics ``(N, C)`` of two unit-normalised feature maps ``(N, C, H, W)``."""
    parts = readout.split("+")
    stats: list[torch.Tensor] = []
    if "spatial" in parts:
        stats.append(dropout(squared_difference(x, y)).mean(dim=(2, 3)))
    if "mean" in parts:
        stats.append(dropout((x.mean(dim=(2, 3)) - y.mean(dim=(2, 3))) ** 2))
    if "sort" in parts:
        sorted_x, _ = x.flatten(2).sort(dim=2)
        sorted_y, _ = y.flatten(2).sort(dim=2)
        stats.append(dropout((sorted_x - sorted_y) ** 2).mean(dim=2))
    return stats[0] if len(stats) == 1 else torch.stack(stats).sum(dim=0)


def layer_statistics(
    fx: Sequence[torch.Tensor], fy: Sequence[torch.Tensor], readout: str
) -> torch.Tensor:
    """Every layer's per-channel statistics side by side, ``(N, sum C)``, without dropout.

    A unit- or lin-weighted distance is then a dot product with the concatenated weights.
    """
    keep = nn.Identity()
    return torch.cat(
        [channel_statistics(a, b, readout, keep) for a, b in zip(fx, fy, strict=True)], dim=1
    )


def initial_weights(channels: int, variant: str) -> torch.Tensor:
    """Channel weights before training: 1 for ``baseline``; ``1/sqrt(C)`` for the learned ones.

    The learned variants start with the baseline's uniform weighting, so they rank triplets as
    the baseline does, at the scale of LPIPS's 1x1 convolution (PyTorch's default init is
    uniform in +-1/sqrt(C)): small enough that a short training can reshape them. Starting at 1,
    a short training barely moves them; starting at random values it starts worse than the
    baseline.
    """
    if variant == "baseline":
        return torch.ones(channels)
    return torch.full((channels,), 1.0 / channels**0.5)


class DPSMetric(nn.Module):
    """A deep perceptual similarity metric: backbone taps, unit normalisation, weighted readout.

    Args:
        backbone: the tapped network (:func:`dpsim.backbones.build_backbone`).
        variant: ``baseline``, ``lin``, ``mix``, ``tune`` or ``scratch`` (see the module
            docstring).
        readout: one of :data:`READOUTS` (``mix``: ``spatial`` only).
        dropout: dropout probability on the squared differences in training (LPIPS: 0.5); for
            ``mix`` also on the differences before they are mixed.
        mix_rank: rows of each layer's mixing matrix (``mix`` only).
        mix_seed: seed of the starting values of mix's mixing matrices and lora's ``A``.
        lora_rank: rank of each convolution's update (``lora`` only).
    """

    mixing: ChannelMixing | None

    def __init__(
        self,
        backbone: Backbone,
        variant: str = "lin",
        readout: str = "spatial",
        dropout: float = 0.5,
        *,
        mix_rank: int = MIX_RANK,
        mix_seed: int = 0,
        lora_rank: int = LORA_RANK,
    ) -> None:
        super().__init__()
        self.variant = resolve(variant, VARIANTS, "metric variant")
        self.readout = resolve(readout, READOUTS, "readout")
        self.scaling = ScalingLayer()
        self.backbone = backbone
        self.dropout = nn.Dropout(p=dropout)
        self.weights = nn.ParameterList(
            nn.Parameter(initial_weights(c, variant), requires_grad=variant != "baseline")
            for c in backbone.channels
        )
        self.mixing = None
        if self.variant == "mix":
            self.mixing = ChannelMixing(backbone.channels, mix_rank, mix_seed, self.readout)
        self.backbone.requires_grad_(variant in ("tune", "scratch"))
        if self.variant == "lora":
            add_lora(self.backbone, lora_rank, mix_seed)
            self.lora_rank = lora_rank
        elif self.variant == "bitfit":
            enable_bitfit(self.backbone)
        # Channels-last convolutions are markedly faster with oneDNN (CPU) and cuDNN (GPU).
        self.backbone.to(memory_format=torch.channels_last)

    @property
    def trains_backbone(self) -> bool:
        """Whether the backbone's parameters are learned (``tune``, ``scratch``)."""
        return self.variant in ("tune", "scratch")

    def train(self, mode: bool = True) -> DPSMetric:
        """Training mode; a frozen backbone always stays in eval mode (batch-norm statistics)."""
        super().train(mode)
        if not self.trains_backbone:
            self.backbone.eval()
        return self

    def features(self, images: torch.Tensor | Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Unit-normalised tapped features of images in [-1, 1] (no input checks); given
        several batches, of all of them side by side, as one pass of the network."""
        batches = [images] if isinstance(images, torch.Tensor) else list(images)
        return normalised_taps(self.backbone(self.network_input(batches)))

    def features_per_batch(self, batches: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
        """Each batch's unit-normalised tapped features (no input checks).

        Under inference, one pass of the network per batch: the activations of one batch are
        alive at a time, not of all of them (the triplet path's peak memory falls to below
        lpips's), and on a CPU it is as fast or faster (README, "The metric": speed). With a
        gradient, one pass of all batches side by side, as the study trains: a backbone in
        training mode then normalises its batch statistics over all of them.
        """
        if torch.is_grad_enabled():
            joined = self.features(batches)
            bounds = np.cumsum([0, *(len(b) for b in batches)])
            return [[f[a:b] for f in joined] for a, b in itertools.pairwise(bounds)]
        return [self.features(batch) for batch in batches]

    def network_input(self, batches: Sequence[torch.Tensor]) -> torch.Tensor:
        """The batches side by side, scaled for the network, channels-last: what it reads.

        Without gradient mode (inference) this is one buffer filled in place (concatenating,
        scaling and re-laying out keep three copies of the batch alive, and on a CPU each
        fresh buffer costs page faults); the floats are the same either way, element by element
        the same subtraction and division. With it, out of place: autograd and ``torch.func``
        transforms (``vmap`` over stacked metrics) need that.
        """
        shape, dtype = batches[0].shape[1:], batches[0].dtype
        if torch.is_grad_enabled() or any(
            b.shape[1:] != shape or b.dtype != dtype for b in batches
        ):
            joined = batches[0] if len(batches) == 1 else torch.cat(list(batches))
            return self.scaling(joined).contiguous(memory_format=torch.channels_last)
        buffer = torch.empty(
            (sum(len(b) for b in batches), *shape),
            dtype=dtype,
            device=batches[0].device,
            memory_format=torch.channels_last,
        )
        start = 0
        for batch in batches:
            buffer[start : start + len(batch)].copy_(batch)
            start += len(batch)
        return buffer.sub_(self.scaling.shift).div_(self.scaling.scale)

    def layer_distances(
        self, fx: Sequence[torch.Tensor], fy: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """Per-layer distances ``(N, L)`` from normalised features of the two sides."""
        columns = [
            channel_statistics(a, b, self.readout, self.dropout) @ w.to(a.dtype)
            for a, b, w in zip(fx, fy, self.weights, strict=True)
        ]
        distances = torch.stack(columns, dim=1)
        if self.mixing is not None:
            distances = distances + self.mixing.layer_terms(fx, fy, self.dropout)
        return distances

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        input_range: str = "-1,1",
        check_range: bool = True,
    ) -> torch.Tensor:
        """Distances ``(N,)`` between image batches ``x`` and ``y`` ``(N, 3, H, W)``.

        Args:
            x, y: images in [-1, 1] (or [0, 1] with ``input_range="0,1"``).
            input_range: ``"-1,1"`` or ``"0,1"``.
            check_range: refuse an all non-negative batch as a likely [0, 1] mix-up.
        """
        return self.distances_by_layer(x, y, input_range=input_range, check_range=check_range).sum(
            dim=1
        )

    def distances_by_layer(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        input_range: str = "-1,1",
        check_range: bool = True,
    ) -> torch.Tensor:
        """Each tapped layer's distance ``(N, L)`` (their sum over layers is :meth:`forward`)."""
        x = self._checked(x, "x", input_range, check_range)
        y = self._checked(y, "y", input_range, check_range)
        if x.shape != y.shape:
            raise ValueError(f"x and y differ in shape: {tuple(x.shape)} and {tuple(y.shape)}")
        fx, fy = self.features_per_batch([x, y])
        return self.layer_distances(fx, fy)

    def triplet_distances(
        self, ref: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Distances (d0, d1) of p0 and p1 to ``ref``, from one forward pass of all three.

        Reuses the reference's features for both comparisons. Inputs in [-1, 1], unchecked
        (the fast path for scoring; validate once upstream with :func:`check_images`).
        """
        refs, first, second = self.features_per_batch([ref, p0, p1])
        d0 = self.layer_distances(refs, first).sum(dim=1)
        d1 = self.layer_distances(refs, second).sum(dim=1)
        return d0, d1

    def _checked(
        self, images: torch.Tensor, name: str, input_range: str, check_range: bool
    ) -> torch.Tensor:
        if not check_range and input_range == "-1,1":
            if images.ndim != 4 or images.shape[1] != 3:
                raise ValueError(f"{name} must have shape (N, 3, H, W), got {tuple(images.shape)}")
            return images
        return check_images(images, name, input_range)

    def saved_keys(self) -> set[str]:
        """State-dict keys a checkpoint keeps: all but a frozen backbone's base weights (which
        the description names and :func:`load_metric` rebuilds)."""
        state = self.state_dict()
        if self.trains_backbone:
            return set(state)
        trained = {f"backbone.{k}" for k in trained_backbone_keys(self.backbone, self.variant)}
        return {k for k in state if not k.startswith("backbone.") or k in trained}

    def trained_parameter_count(self) -> int:
        """Numbers this variant learns: channel weights, mixing matrices, a trained backbone."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @torch.no_grad()
    def clamp_weights_(self) -> None:
        """Project the channel weights onto w >= 0 (call after every optimiser step)."""
        for w in self.weights:
            w.clamp_(min=0.0)

    def attach_clamp(self, optimizer: torch.optim.Optimizer) -> RemovableHandle:
        """Make ``optimizer`` clamp the weights after each of its steps; returns the hook handle."""
        return optimizer.register_step_post_hook(lambda *_: self.clamp_weights_())

    # ------------------------------------------------------------ LPIPS weights and checkpoints

    def load_lpips_weights(self, path: str | Path) -> None:
        """Load an official LPIPS v0.1 linear-weight file (keys ``lin{k}.model.1.weight``).

        Loading is strict: the file must have exactly one ``1 x C_l x 1 x 1`` weight per tap with
        this backbone's channel counts, and nothing else.
        """
        state = torch.load(path, map_location="cpu", weights_only=True)
        expected = {f"lin{k}.model.1.weight": c for k, c in enumerate(self.backbone.channels)}
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        if missing or unexpected:
            raise ValueError(
                f"{path} does not match {self.backbone.network} with taps {self.backbone.taps}: "
                f"missing keys {missing}, unexpected keys {unexpected}"
            )
        with torch.no_grad():
            for k, channels in enumerate(self.backbone.channels):
                tensor = state[f"lin{k}.model.1.weight"]
                if tuple(tensor.shape) != (1, channels, 1, 1):
                    raise ValueError(
                        f"{path}: lin{k} has shape {tuple(tensor.shape)}, "
                        f"expected (1, {channels}, 1, 1)"
                    )
                self.weights[k].copy_(tensor.flatten())

    def describe(self) -> dict[str, Any]:
        """Everything needed to rebuild this metric (stored in checkpoints and results)."""
        return {
            "format": METRIC_FORMAT,
            "network": self.backbone.network,
            "taps": list(self.backbone.taps),
            "weights": {
                "kind": self.backbone.weights.kind,
                "source": self.backbone.weights.source,
                "sha256": self.backbone.weights.sha256,
                "seed": self.backbone.weights.seed,
            },
            "variant": self.variant,
            "readout": self.readout,
            "dropout": self.dropout.p,
            **({"mix_rank": self.mixing.rank} if self.mixing is not None else {}),
            **({"lora_rank": self.lora_rank} if self.variant == "lora" else {}),
            **self._input_resize(),
        }

    def _input_resize(self) -> dict[str, Any]:
        """The recorded resize of a network that runs at one size (ViT, MaxViT), else none."""
        side = self.backbone.input_side
        if side is None:
            return {}
        return {"input_resize": {"side": side, "mode": self.backbone.resize_mode}}


def dps_distance(
    metric: DPSMetric, x: torch.Tensor, y: torch.Tensor, **kwargs: Any
) -> torch.Tensor:
    """Distances of a metric in eval mode without gradients: a one-line scoring API."""
    was_training = metric.training
    metric.eval()
    try:
        with torch.inference_mode():
            return metric(x, y, **kwargs)
    finally:
        metric.train(was_training)


def build_metric(
    network: str,
    variant: str = "lin",
    *,
    taps: str | Sequence[str] = "lpips",
    weights: str = "random",
    readout: str = "spatial",
    seed: int = 0,
    cache_dir: str | Path = "resources/torch",
    mix_rank: int = MIX_RANK,
    lora_rank: int = LORA_RANK,
    resize_mode: str = DEFAULT_RESIZE,
) -> DPSMetric:
    """A metric on a freshly built backbone. ``scratch`` always starts from random weights;
    ``mix`` draws its mixing matrices from ``seed`` too; ``resize_mode``: how a network that
    runs at one size only (ViT, MaxViT) gets its inputs resized
    (:func:`dpsim.backbones.build_backbone`)."""
    variant = resolve(variant, VARIANTS, "metric variant")
    if variant == "scratch" and weights != "random":
        log.info("variant scratch: backbone starts from random weights, not %r", weights)
        weights = "random"
    backbone = build_backbone(
        network, taps, weights=weights, seed=seed, cache_dir=cache_dir, resize_mode=resize_mode
    )
    return DPSMetric(
        backbone,
        variant=variant,
        readout=readout,
        mix_rank=mix_rank,
        mix_seed=seed,
        lora_rank=lora_rank,
    )


def grid_metric(grid: Mapping[str, Any], network: str, variant: str, seed: int) -> DPSMetric:
    """The untrained metric of a grid cell, from the config's ``grid`` keys ``taps``,
    ``weights``, ``readout``, ``weights_dir``, for ``mix`` and ``lora`` their rank, and for a
    network that runs at one size ``input_resize`` (a job of another network is not given it)."""
    return build_metric(
        network,
        variant,
        taps=grid["taps"],
        weights=grid["weights"],
        readout=grid["readout"],
        seed=seed,
        cache_dir=grid["weights_dir"],
        mix_rank=grid["mix"]["rank"] if variant == "mix" else MIX_RANK,
        lora_rank=grid["lora"]["rank"] if variant == "lora" else LORA_RANK,
        resize_mode=grid.get("input_resize", DEFAULT_RESIZE),
    )


def save_metric(
    metric: DPSMetric, path: str | Path, extra: Mapping[str, Any] | None = None
) -> None:
    """Write a checkpoint: the metric's description, its state (weights, a learned backbone),
    and ``extra`` (e.g. the ranking head and the training context), written atomically."""
    from dpsim import io

    kept = metric.saved_keys()
    state = {k: v for k, v in metric.state_dict().items() if k in kept}
    with io.atomic_path(path) as temp:
        torch.save({"metric": metric.describe(), "state": state, "extra": dict(extra or {})}, temp)


def checkpoint_extra(path: str | Path) -> dict[str, Any]:
    """The ``extra`` dict stored with :func:`save_metric` (head, context, training summary)."""
    return torch.load(path, map_location="cpu", weights_only=True).get("extra", {})


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save_metric`, its format checked."""
    if not path.is_file():
        raise FileNotFoundError(f"metric checkpoint {path} does not exist")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    found = checkpoint.get("metric", {}).get("format") if isinstance(checkpoint, dict) else None
    if found != METRIC_FORMAT:
        raise ValueError(
            f"{path} is not a dpsim metric checkpoint of format {METRIC_FORMAT} (found "
            f"{found!r}); checkpoints of format 1 predate the recorded weights seed: train the "
            "metric again (delete the checkpoint and re-run the workflow)"
        )
    return checkpoint


def checkpoint_weights(path: str | Path) -> tuple[dict[str, Any], np.ndarray]:
    """A checkpoint's metric description and its channel weights, every layer's concatenated
    ``(sum C,)`` in float64, read without building the backbone (for a frozen backbone's
    distances from cached statistics, :func:`dpsim.evaluate.evaluate_linear`)."""
    checkpoint = _read_checkpoint(Path(path))
    layers = range(len(checkpoint["metric"]["taps"]))
    weights = torch.cat([checkpoint["state"][f"weights.{k}"].flatten() for k in layers])
    return checkpoint["metric"], weights.double().numpy()


def load_metric(path: str | Path, cache_dir: str | Path = "resources/torch") -> DPSMetric:
    """Rebuild a metric saved with :func:`save_metric` (strict: every key must match)."""
    path = Path(path)
    checkpoint = _read_checkpoint(path)
    spec = checkpoint["metric"]
    weights = spec["weights"]
    source = weights["source"] if weights["kind"] == "file" else weights["kind"]
    backbone = build_backbone(
        spec["network"],
        spec["taps"],
        weights=source,
        seed=weights["seed"],
        cache_dir=cache_dir,
        resize_mode=spec.get("input_resize", {}).get("mode", DEFAULT_RESIZE),
    )
    if backbone.weights.sha256 != weights["sha256"]:
        raise ValueError(
            f"{path} was trained on backbone weights with sha256 {weights['sha256']}, but "
            f"{source} now has sha256 {backbone.weights.sha256}: the file changed since; "
            "train the metric again on the current file"
        )
    return _restored(path, backbone, checkpoint)


def _restored(path: Path, backbone: Backbone, checkpoint: Mapping[str, Any]) -> DPSMetric:
    """The metric a checkpoint describes, on ``backbone``, with the checkpoint's state: every
    key it saves must be there (a frozen backbone's base weights are ``backbone``'s own)."""
    spec = checkpoint["metric"]
    metric = DPSMetric(
        backbone,
        spec["variant"],
        spec["readout"],
        spec["dropout"],
        mix_rank=spec.get("mix_rank", MIX_RANK),
        lora_rank=spec.get("lora_rank", LORA_RANK),
    )
    missing, unexpected = metric.load_state_dict(checkpoint["state"], strict=False)
    saved = metric.saved_keys()
    missing = [k for k in missing if k in saved]
    if missing or unexpected:
        raise ValueError(f"{path}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
    return metric


#: What a checkpoint and a frozen backbone must share for :func:`load_on_backbone`.
BACKBONE_KEYS = ("network", "taps", "weights", "input_resize")


def load_on_backbone(path: str | Path, base: DPSMetric) -> DPSMetric:
    """A frozen-backbone checkpoint (baseline, lin, mix) rebuilt on ``base``'s backbone module,
    shared, not copied: many checkpoints of one network scored in one pass
    (:class:`dpsim.evaluate.SharedBackbone`). The checkpoint must have been trained on the same
    network, taps and weights (sha256 included) as ``base``."""
    path = Path(path)
    checkpoint = _read_checkpoint(path)
    spec, expected = checkpoint["metric"], base.describe()
    differ = [key for key in BACKBONE_KEYS if spec.get(key) != expected.get(key)]
    if differ:
        raise ValueError(
            f"{path} was trained on another backbone than the one given ({', '.join(differ)} "
            "differ): score it with load_metric, or rebuild the backbone it names"
        )
    if spec["variant"] in BACKBONE_TRAINED:
        raise ValueError(f"{path} trains its backbone ({spec['variant']}): use load_metric")
    return _restored(path, base.backbone, checkpoint)
