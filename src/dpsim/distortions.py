"""The six distortions of the adaptation study, drawn with a seed and applied to whole batches.

Each distortion mirrors one torchvision transform (PROTOCOL §2), with the same parameter ranges and
the same pixel arithmetic as torchvision's tensor code path, so that a batch synthesised here equals
applying the torchvision transform image by image with the same parameters:

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

Geometric distortions use nearest-neighbour sampling (torchvision's default for these transforms)
and fill the uncovered area black. Parameters are drawn on the CPU from a NumPy generator, so the
same seed gives the same parameters whatever device applies them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dpsim.names import DISTORTIONS
from dpsim.registry import resolve

#: Inclusive parameter ranges of PROTOCOL §2.
ROTATE_DEGREES = (30.0, 330.0)
TRANSLATE_FRACTION = 0.5
DARKEN_FACTOR = (0.1, 0.5)
HUE_SHIFT = (-0.5, 0.5)
BLUR_KERNEL_SIZES = (11, 13, 15, 17, 19, 21)
BLUR_SIGMA = (4.0, 10.0)
ZOOM_SCALE = (1.1, 2.0)

_ROTATE, _TRANSLATE, _DARKEN, _COLOR, _BLUR, _ZOOM = range(6)


def distortion_id(name: str) -> int:
    """Index of a distortion name in :data:`DISTORTIONS` (raises with suggestions on a typo)."""
    return DISTORTIONS.index(resolve(name, DISTORTIONS, "distortion"))


def draw_distinct_pairs(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` ordered pairs of different distortion ids, uniform over the 30 pairs."""
    first = rng.integers(0, len(DISTORTIONS), size=count)
    offset = rng.integers(1, len(DISTORTIONS), size=count)
    return first.astype(np.int64), ((first + offset) % len(DISTORTIONS)).astype(np.int64)


def draw_params(rng: np.random.Generator, ids: np.ndarray, image_size: int) -> np.ndarray:
    """Draw the random parameters of each distortion in ``ids`` (shape ``(N, 2)``, float64).

    Two uniforms are drawn per image whatever its distortion, so one image's parameters do not
    depend on which distortions the other images got.
    """
    ids = np.asarray(ids, dtype=np.int64)
    u = rng.random(size=(len(ids), 2))
    params = np.zeros((len(ids), 2), dtype=np.float64)
    max_shift = TRANSLATE_FRACTION * image_size

    def between(lo_hi: tuple[float, float], x: np.ndarray) -> np.ndarray:
        return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * x

    rows = ids == _ROTATE
    params[rows, 0] = between(ROTATE_DEGREES, u[rows, 0])
    rows = ids == _TRANSLATE
    params[rows] = np.round(between((-max_shift, max_shift), u[rows]))
    rows = ids == _DARKEN
    params[rows, 0] = between(DARKEN_FACTOR, u[rows, 0])
    rows = ids == _COLOR
    params[rows, 0] = between(HUE_SHIFT, u[rows, 0])
    rows = ids == _BLUR
    sizes = np.asarray(BLUR_KERNEL_SIZES)
    params[rows, 0] = sizes[np.minimum((u[rows, 0] * len(sizes)).astype(int), len(sizes) - 1)]
    params[rows, 1] = between(BLUR_SIGMA, u[rows, 1])
    rows = ids == _ZOOM
    params[rows, 0] = between(ZOOM_SCALE, u[rows, 0])
    return params


def apply(images: torch.Tensor, ids: np.ndarray, params: np.ndarray) -> torch.Tensor:
    """Apply distortion ``ids[i]`` with ``params[i]`` to ``images[i]`` for a whole batch.

    Args:
        images: float tensor ``(N, 3, H, W)`` in [0, 1], on any device.
        ids: distortion indices into :data:`DISTORTIONS`, shape ``(N,)``.
        params: parameters from :func:`draw_params`, shape ``(N, 2)``.

    Returns:
        A new float tensor of the same shape, in [0, 1].
    """
    _check_batch(images, ids, params)
    ids = np.asarray(ids, dtype=np.int64)
    out = torch.empty_like(images)  # every row is written by exactly one group below
    geometric = np.isin(ids, (_ROTATE, _TRANSLATE, _ZOOM))
    if geometric.any():
        index = torch.as_tensor(np.flatnonzero(geometric), device=images.device)
        out[index] = _warp(images[index], _inverse_affine(ids[geometric], params[geometric]))
    for distortion, function in ((_DARKEN, _darken), (_COLOR, _shift_hue), (_BLUR, _blur)):
        rows = ids == distortion
        if rows.any():
            index = torch.as_tensor(np.flatnonzero(rows), device=images.device)
            out[index] = function(images[index], params[rows])
    return out


def apply_uint8(images: torch.Tensor, ids: np.ndarray, params: np.ndarray) -> torch.Tensor:
    """:func:`apply` for uint8 images ``(N, 3, H, W)``; returns uint8 (rounded to nearest)."""
    if images.dtype != torch.uint8:
        raise TypeError(f"apply_uint8 expects a uint8 tensor, got {images.dtype}")
    result = apply(images.float().div_(255.0), ids, params)
    return result.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)


def _check_batch(images: torch.Tensor, ids: np.ndarray, params: np.ndarray) -> None:
    if not torch.is_floating_point(images) or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"images must be a float tensor of shape (N, 3, H, W); got {tuple(images.shape)} "
            f"of {images.dtype}"
        )
    if len(ids) != len(images) or np.shape(params) != (len(images), 2):
        raise ValueError(
            f"need one id and two parameters per image: {len(images)} images, {len(ids)} ids, "
            f"params of shape {np.shape(params)}"
        )
    if len(ids) and (np.min(ids) < 0 or np.max(ids) >= len(DISTORTIONS)):
        raise ValueError(f"distortion ids must lie in 0..{len(DISTORTIONS) - 1}")


def _inverse_affine(ids: np.ndarray, params: np.ndarray) -> np.ndarray:
    """Inverse affine maps ``(N, 2, 3)`` in pixel units about the image centre.

    Same convention as torchvision's ``_get_inverse_affine_matrix`` with zero shear: ``rotate``
    turns counter-clockwise by its angle (``F.rotate`` passes ``-angle`` to the affine).
    """
    angle = np.where(ids == _ROTATE, -params[:, 0], 0.0)
    scale = np.where(ids == _ZOOM, params[:, 0], 1.0)
    tx = np.where(ids == _TRANSLATE, params[:, 0], 0.0)
    ty = np.where(ids == _TRANSLATE, params[:, 1], 0.0)
    radians = np.radians(angle)
    cos, sin = np.cos(radians) / scale, np.sin(radians) / scale
    matrix = np.zeros((len(ids), 2, 3))
    matrix[:, 0, 0], matrix[:, 0, 1] = cos, sin
    matrix[:, 1, 0], matrix[:, 1, 1] = -sin, cos
    matrix[:, 0, 2] = cos * -tx + sin * -ty
    matrix[:, 1, 2] = -sin * -tx + cos * -ty
    return matrix


def _warp(images: torch.Tensor, inverse: np.ndarray) -> torch.Tensor:
    """Resample ``images`` through per-image inverse affine maps, nearest neighbour, black fill."""
    n, _, h, w = images.shape
    theta = torch.as_tensor(inverse, dtype=torch.float32, device=images.device)
    xs = torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w, device=images.device)
    ys = torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h, device=images.device)
    base = torch.ones(1, h, w, 3, device=images.device)
    base[..., 0] = xs
    base[..., 1] = ys.unsqueeze(-1)
    scale = torch.tensor([0.5 * w, 0.5 * h], device=images.device)
    grid = base.view(1, h * w, 3).expand(n, -1, -1).bmm(theta.transpose(1, 2) / scale)
    return F.grid_sample(
        images, grid.view(n, h, w, 2), mode="nearest", padding_mode="zeros", align_corners=False
    )


def _darken(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    factor = torch.as_tensor(params[:, 0], dtype=images.dtype, device=images.device)
    return (images * factor.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)


def _shift_hue(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    shift = torch.as_tensor(params[:, 0], dtype=images.dtype, device=images.device)
    hue, saturation, value = _rgb_to_hsv(images)
    hue = torch.remainder(hue + shift.view(-1, 1, 1), 1.0)
    return _hsv_to_rgb(hue, saturation, value)


def _rgb_to_hsv(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hue (in turns), saturation and value planes ``(N, H, W)`` of RGB images in [0, 1].

    The hue sector follows the largest channel (red before green before blue on ties, as in
    torchvision): ``(G - B)``, ``(B - R) + 2C`` or ``(R - G) + 4C``, divided by ``6C``.
    Element-wise maxima are used instead of reductions over the channel axis: much faster on CPU.
    """
    red, green, blue = images.unbind(dim=1)
    value = torch.maximum(torch.maximum(red, green), blue)
    chroma = value - torch.minimum(torch.minimum(red, green), blue)
    grey = chroma == 0
    numerator = torch.where(
        value == red,
        green - blue,
        torch.where(value == green, blue - red + 2.0 * chroma, red - green + 4.0 * chroma),
    )
    hue = torch.remainder(numerator / (6.0 * chroma.masked_fill(grey, 1.0)), 1.0)
    saturation = chroma / value.masked_fill(value == 0, 1.0)
    return hue.masked_fill_(grey, 0.0), saturation, value


def _hsv_to_rgb(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """RGB ``(N, 3, H, W)`` from HSV planes, by the closed form of the HSV hexcone.

    Channel ``c`` is ``V - V S clamp(min(k, 4 - k), 0, 1)`` with ``k = (n_c + 6 H) mod 6`` and
    ``n = (5, 3, 1)`` for (R, G, B): the classic six-sector table without branching or gathering.
    """
    offsets = torch.tensor([5.0, 3.0, 1.0], dtype=hue.dtype, device=hue.device).view(1, 3, 1, 1)
    k = torch.remainder(offsets + 6.0 * hue.unsqueeze(1), 6.0)
    ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    value = value.unsqueeze(1)
    return value - value * saturation.unsqueeze(1) * ramp


def gaussian_kernels(sizes: np.ndarray, sigmas: np.ndarray, width: int) -> np.ndarray:
    """1-D Gaussian kernels ``(N, width)``, each of its own odd size, centred, zero-padded.

    Matches torchvision: taps at integer offsets from the centre, normalised to sum 1.
    """
    half = width // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    kernels = np.exp(-0.5 * (offsets[None, :] / np.asarray(sigmas)[:, None]) ** 2)
    kernels[np.abs(offsets)[None, :] > (np.asarray(sizes)[:, None] - 1) / 2] = 0.0
    return kernels / kernels.sum(axis=1, keepdims=True)


def _blur(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding and a kernel per image (grouped convolution)."""
    n, c, h, w = images.shape
    width = max(BLUR_KERNEL_SIZES)
    half = width // 2
    kernels = gaussian_kernels(params[:, 0], params[:, 1], width)
    weight = torch.as_tensor(kernels, dtype=images.dtype, device=images.device)
    weight = weight.repeat_interleave(c, dim=0)  # one kernel per (image, channel) group
    stacked = F.pad(images.reshape(1, n * c, h, w), (half, half, half, half), mode="reflect")
    rows = F.conv2d(stacked, weight.view(n * c, 1, 1, width), groups=n * c)
    both = F.conv2d(rows, weight.view(n * c, 1, width, 1), groups=n * c)
    return both.view(n, c, h, w)


def describe_params(distortion: int, params: np.ndarray) -> str:
    """Human-readable parameters of one distortion, e.g. for figure labels."""
    name = DISTORTIONS[distortion]
    a, b = float(params[0]), float(params[1])
    texts = {
        "rotate": f"{a:.0f} deg",
        "translate": f"dx={a:+.0f}, dy={b:+.0f}",
        "darken": f"x{a:.2f}",
        "color": f"hue {a:+.2f}",
        "blur": f"k={int(a)}, s={b:.1f}",
        "zoom_in": f"x{a:.2f}",
    }
    return f"{name} ({texts[name]})"


__all__ = [
    "DISTORTIONS",
    "apply",
    "apply_uint8",
    "describe_params",
    "distortion_id",
    "draw_distinct_pairs",
    "draw_params",
    "gaussian_kernels",
]
