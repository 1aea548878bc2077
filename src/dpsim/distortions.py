"""Distortions drawn with a seed and applied to whole batches: the study's six, seven common
degradations, and a user's own plug-ins, organised as a run's :class:`DistortionSet`.

The six of the adaptation study mirror one torchvision transform each (PROTOCOL §2), with the
same parameter ranges and the same pixel arithmetic as torchvision's tensor code path
(:mod:`dpsim.study_transforms`), so a batch synthesised here equals applying the torchvision
transform image by image with the same parameters:

=========  ================================================  ===========================
name       torchvision equivalent                            parameters stored (p1, p2)
=========  ================================================  ===========================
rotate     RandomRotation(degrees=(30, 330))                 angle in degrees, 0
translate  RandomAffine(degrees=0, translate=(0.5, 0.5))     tx, ty in whole pixels
darken     ColorJitter(brightness=(0.1, 0.5))                brightness factor, 0
color      ColorJitter(hue=0.5)                              hue shift in turns, 0
blur       GaussianBlur(kernel odd in [11, 21], sigma 4-10)  kernel size, sigma
zoom_in    RandomAffine(degrees=0, scale=(1.1, 2))           scale factor, 0
=========  ================================================  ===========================

The degradations (jpeg, noise, contrast, saturation, pixelate, sharpen, occlusion) are in
:mod:`dpsim.degradations`, their parameter draws and configurable ranges in
:mod:`dpsim.distortion_params`, plug-ins in :mod:`dpsim.plugins`.

A run declares one set of distortions (``distortions.set``); distortion ids are positions in
that set, and every ranking orders it. Parameters are drawn on the CPU from a NumPy generator, so
the same seed gives the same parameters whatever device applies them: each image gets two
uniforms whatever its distortion (more only when the set holds a distortion that needs more),
so one image's parameters never depend on which distortions the other images got.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dpsim import degradations, distortion_params, study_transforms
from dpsim.distortion_params import BASE_UNIFORMS
from dpsim.names import BUILTIN_DISTORTIONS, DISTORTIONS
from dpsim.registry import resolve
from dpsim.study_transforms import gaussian_kernels

#: Inclusive parameter ranges of PROTOCOL §2 (the defaults of the six).
ROTATE_DEGREES = (30.0, 330.0)
TRANSLATE_FRACTION = 0.5
DARKEN_FACTOR = (0.1, 0.5)
HUE_SHIFT = (-0.5, 0.5)
BLUR_KERNEL_SIZES = (11, 13, 15, 17, 19, 21)
BLUR_SIGMA = (4.0, 10.0)
ZOOM_SCALE = (1.1, 2.0)

#: The most parameters a plug-in may return per image; a set with a plug-in stores this many.
PLUGIN_PARAMS = 4
#: Images per call of a built-in's float arithmetic on the CPU: a few MB, so each pass over the
#: batch stays in the cache (2.3 to 4 times faster than 512 at once on 64x64 images:
#: ``benchmarks/bench_degradations.py``). Images are independent: results do not depend on it.
CPU_CHUNK = 128

Apply = Callable[[torch.Tensor, np.ndarray, Mapping[str, Any]], torch.Tensor]


def _blur(images: torch.Tensor, params: np.ndarray, ranges: Mapping[str, Any]) -> torch.Tensor:
    return study_transforms.blur(images, params, int(max(ranges["kernel_sizes"])))


def _plain(function: Callable[[torch.Tensor, np.ndarray], torch.Tensor]) -> Apply:
    return lambda images, params, ranges: function(images, params)


#: How each built-in distortion with float arithmetic is applied to a batch in [0, 1].
APPLY: dict[str, Apply] = {
    "rotate": _plain(study_transforms.rotate),
    "translate": _plain(study_transforms.translate),
    "darken": _plain(study_transforms.darken),
    "color": _plain(study_transforms.shift_hue),
    "blur": _blur,
    "zoom_in": _plain(study_transforms.zoom_in),
    "noise": _plain(degradations.noise),
    "contrast": _plain(degradations.contrast),
    "saturation": _plain(degradations.saturation),
    "pixelate": _plain(degradations.pixelate),
    "sharpen": _plain(degradations.sharpen),
    "occlusion": _plain(degradations.occlusion),
}
#: Built-ins of :data:`APPLY` whose arithmetic is exact in any dtype (uint8 stays uint8).
ANY_DTYPE = frozenset({"occlusion"})
#: The built-ins that work on the uint8 pixels themselves (a float batch is rounded first).
APPLY_UINT8: dict[str, Callable[[torch.Tensor, np.ndarray], torch.Tensor]] = {
    "jpeg": degradations.jpeg,
}
assert sorted((*APPLY, *APPLY_UINT8)) == sorted(BUILTIN_DISTORTIONS)


def to_float(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels as floats in [0, 1]."""
    return pixels.float().div_(255.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 1] as uint8 pixels, rounded to the nearest level."""
    return images.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


@dataclass(frozen=True)
class DistortionSet:
    """The distortions of a run, in order (ids are positions), with their ranges and plug-ins.

    ``ranges[name]``: the configured ranges of a built-in (missing keys take the defaults);
    ``plugins[name]``: the ``package.module:function`` of a plug-in.
    """

    names: tuple[str, ...]
    ranges: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    plugins: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.names) < 2 or len(set(self.names)) != len(self.names):
            raise ValueError(
                f"a distortion set needs two or more different distortions, got {list(self.names)}"
            )
        for name in self.names:
            if name not in self.plugins:
                resolve(name, (*BUILTIN_DISTORTIONS, *self.plugins), "distortion")
        resolved = {n: distortion_params.resolved(n, self.ranges.get(n)) for n in self.builtins}
        object.__setattr__(self, "ranges", resolved)
        object.__setattr__(self, "plugins", {n: self.plugins[n] for n in self.plugin_names})

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> DistortionSet:
        """The set of a config's ``distortions`` section (schema-validated)."""
        return cls(tuple(section["set"]), section.get("params", {}), section.get("plugins", {}))

    @property
    def builtins(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n not in self.plugins)

    @property
    def plugin_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n in self.plugins)

    @property
    def uniforms(self) -> int:
        """Uniforms drawn per image: two, or what the most demanding built-in needs."""
        needs = [distortion_params.SPECS[n].uniforms for n in self.builtins]
        return max(BASE_UNIFORMS, *needs)

    @property
    def width(self) -> int:
        """Parameters stored per image: the uniforms, or :data:`PLUGIN_PARAMS` with a plug-in."""
        return max(self.uniforms, PLUGIN_PARAMS if self.plugins else 0)

    def spec(self) -> dict[str, Any]:
        """Plain data that determines what this set draws (for manifests and fingerprints)."""
        return {
            "names": list(self.names),
            "ranges": {n: dict(sorted(self.ranges[n].items())) for n in self.builtins},
            "plugins": dict(self.plugins),
        }

    def id_of(self, name: str) -> int:
        """Position of ``name`` in the set (raises with suggestions on a typo)."""
        return self.names.index(resolve(name, self.names, "distortion of this run's set"))

    def draw_pairs(self, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` ordered pairs of different ids, uniform over the ``K (K - 1)`` pairs."""
        first = rng.integers(0, len(self.names), size=count)
        offset = rng.integers(1, len(self.names), size=count)
        return first.astype(np.int64), ((first + offset) % len(self.names)).astype(np.int64)

    def draw_params(self, rng: np.random.Generator, ids: np.ndarray, image_size: int) -> np.ndarray:
        """The parameters of each image's distortion, ``(N, width)`` float64.

        Plug-ins draw their own parameters as they apply; their rows stay 0 here.
        """
        ids = np.asarray(ids, dtype=np.int64)
        u = rng.random(size=(len(ids), BASE_UNIFORMS))
        if self.uniforms > BASE_UNIFORMS:
            u = np.hstack([u, rng.random(size=(len(ids), self.uniforms - BASE_UNIFORMS))])
        params = np.zeros((len(ids), self.width), dtype=np.float64)
        for index, name in enumerate(self.names):
            rows = ids == index
            if name in self.plugins or not rows.any():
                continue
            need = distortion_params.SPECS[name].uniforms
            params[rows, :need] = distortion_params.draw(
                name, u[rows, :need], self.ranges[name], image_size
            )
        return params

    def distort(
        self, images: torch.Tensor, ids: np.ndarray, params: np.ndarray, seed: int = 0
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Apply distortion ``ids[i]`` with ``params[i]`` to ``images[i]``: float in [0, 1] or
        uint8 (:meth:`distort_uint8`), the result in the same dtype.

        Returns the distorted batch and the parameters, with the rows of plug-ins filled with
        what they drew (their generator is seeded by ``seed`` and the plug-in's name).
        """
        self._check_batch(images, ids, params)
        ids = np.asarray(ids, dtype=np.int64)
        params = np.array(params, dtype=np.float64)
        if len(ids) and np.all(ids == ids[0]):  # one distortion: no gathering or scattering
            return self._group(self.names[ids[0]], images, params, seed)
        out = torch.empty_like(images)  # every row is written by exactly one distortion below
        for index, name in enumerate(self.names):
            rows = ids == index
            if rows.any():
                where = torch.as_tensor(np.flatnonzero(rows), device=images.device)
                out[where], params[rows] = self._group(name, images[where], params[rows], seed)
        return out, params

    def _group(
        self, name: str, images: torch.Tensor, params: np.ndarray, seed: int
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The rows of one distortion, converted only as far as it needs: float arithmetic
        runs on floats in [0, 1]; JPEG and plug-ins work on the uint8 pixels, occlusion on
        either."""
        as_uint8 = images.dtype == torch.uint8
        if name in ANY_DTYPE:
            return APPLY[name](images, params, self.ranges[name]), params
        if name in self.plugins or name in APPLY_UINT8:
            pixels = images if as_uint8 else to_uint8(images)
            if name in self.plugins:
                from dpsim import plugins

                generator = plugins.generator_for(seed, name)
                pixels, params = plugins.call(
                    self.plugins[name], name, pixels, generator, self.width
                )
            else:
                pixels = APPLY_UINT8[name](pixels, params)
            return (pixels if as_uint8 else to_float(pixels)), params
        step = CPU_CHUNK if images.device.type == "cpu" else len(images)
        if len(images) <= step:
            return self._arithmetic(name, images, params), params
        out = torch.empty_like(images)
        for lo in range(0, len(images), step):
            out[lo : lo + step] = self._arithmetic(
                name, images[lo : lo + step], params[lo : lo + step]
            )
        return out, params

    def _arithmetic(self, name: str, images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
        """A built-in's float arithmetic on float or uint8 rows (converted there and back)."""
        as_uint8 = images.dtype == torch.uint8
        result = APPLY[name](to_float(images) if as_uint8 else images, params, self.ranges[name])
        return to_uint8(result) if as_uint8 else result

    def apply(self, images: torch.Tensor, ids: np.ndarray, params: np.ndarray) -> torch.Tensor:
        """:meth:`distort` without the parameters (a set without plug-ins draws none here)."""
        return self.distort(images, ids, params)[0]

    def distort_uint8(
        self, images: torch.Tensor, ids: np.ndarray, params: np.ndarray, seed: int = 0
    ) -> tuple[torch.Tensor, np.ndarray]:
        """:meth:`distort` for uint8 images ``(N, 3, H, W)``; float arithmetic is rounded to
        the nearest level."""
        if images.dtype != torch.uint8:
            raise TypeError(f"apply_uint8 expects a uint8 tensor, got {images.dtype}")
        return self.distort(images, ids, params, seed)

    def apply_uint8(
        self, images: torch.Tensor, ids: np.ndarray, params: np.ndarray
    ) -> torch.Tensor:
        """:meth:`distort_uint8` without the parameters."""
        return self.distort_uint8(images, ids, params)[0]

    def describe(self, distortion: int, params: np.ndarray) -> str:
        """Human-readable parameters of one image's distortion, e.g. for figure labels."""
        return describe_named(self.names[distortion], params)

    def _check_batch(self, images: torch.Tensor, ids: np.ndarray, params: np.ndarray) -> None:
        kind_ok = torch.is_floating_point(images) or images.dtype == torch.uint8
        if not kind_ok or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images must be a float or uint8 tensor of shape (N, 3, H, W); got "
                f"{tuple(images.shape)} of {images.dtype}"
            )
        if len(ids) != len(images) or np.shape(params) != (len(images), self.width):
            raise ValueError(
                f"need one id and {self.width} parameters per image: {len(images)} images, "
                f"{len(ids)} ids, params of shape {np.shape(params)}"
            )
        if len(ids) and (np.min(ids) < 0 or np.max(ids) >= len(self.names)):
            raise ValueError(f"distortion ids must lie in 0..{len(self.names) - 1}")


#: The adaptation study's six, with the protocol's ranges: the default set.
STUDY = DistortionSet(DISTORTIONS)


def distortion_id(name: str) -> int:
    """Index of a distortion name in :data:`DISTORTIONS` (raises with suggestions on a typo)."""
    return STUDY.id_of(name)


def draw_distinct_pairs(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` ordered pairs of different study distortions, uniform over the 30 pairs."""
    return STUDY.draw_pairs(rng, count)


def draw_params(rng: np.random.Generator, ids: np.ndarray, image_size: int) -> np.ndarray:
    """:meth:`DistortionSet.draw_params` of the study's six (shape ``(N, 2)``)."""
    return STUDY.draw_params(rng, ids, image_size)


def apply(images: torch.Tensor, ids: np.ndarray, params: np.ndarray) -> torch.Tensor:
    """:meth:`DistortionSet.apply` of the study's six."""
    return STUDY.apply(images, ids, params)


def apply_uint8(images: torch.Tensor, ids: np.ndarray, params: np.ndarray) -> torch.Tensor:
    """:meth:`DistortionSet.apply_uint8` of the study's six."""
    return STUDY.apply_uint8(images, ids, params)


def describe_params(distortion: int, params: np.ndarray) -> str:
    """Human-readable parameters of one study distortion, e.g. for figure labels."""
    return STUDY.describe(distortion, params)


def describe_named(name: str, params: np.ndarray) -> str:
    """Human-readable parameters of distortion ``name``: a built-in's own words, a plug-in's
    numbers (as it returned them)."""
    if name in BUILTIN_DISTORTIONS:
        return distortion_params.describe(name, params)
    values = list(np.asarray(params, dtype=np.float64))
    while len(values) > 1 and values[-1] == 0:  # the zero padding to PLUGIN_PARAMS
        values.pop()
    return f"{name} ({', '.join(f'{v:.3g}' for v in values)})"


def of_names(names: Sequence[str]) -> DistortionSet:
    """A set of built-ins with their default ranges."""
    return DistortionSet(tuple(names))


__all__ = [
    "DISTORTIONS",
    "STUDY",
    "DistortionSet",
    "apply",
    "apply_uint8",
    "describe_named",
    "describe_params",
    "distortion_id",
    "draw_distinct_pairs",
    "draw_params",
    "gaussian_kernels",
    "of_names",
]
