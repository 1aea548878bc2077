"""The batched pixel arithmetic of the study's six distortions (PROTOCOL §2).

Each function takes a float batch ``(N, 3, H, W)`` in [0, 1] and one parameter row per image
(what :mod:`dpsim.distortions` drew) and reproduces torchvision's tensor code path, so a batch
equals the torchvision transform applied image by image with the same parameters. Geometric
distortions sample nearest-neighbour (torchvision's default for these transforms) and fill the
uncovered area black.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def rotate(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Counter-clockwise by ``params[:, 0]`` degrees about the centre (``F.rotate``)."""
    zeros = np.zeros(len(params))
    return warp(images, inverse_affine(params[:, 0], zeros, zeros, np.ones(len(params))))


def translate(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """By ``(params[:, 0], params[:, 1])`` whole pixels (``F.affine(translate=...)``)."""
    zeros = np.zeros(len(params))
    return warp(images, inverse_affine(zeros, params[:, 0], params[:, 1], np.ones(len(params))))


def zoom_in(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Scaled by ``params[:, 0]`` about the centre (``F.affine(scale=...)``)."""
    zeros = np.zeros(len(params))
    return warp(images, inverse_affine(zeros, zeros, zeros, params[:, 0]))


def inverse_affine(
    angle: np.ndarray, tx: np.ndarray, ty: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Inverse affine maps ``(N, 2, 3)`` in pixel units about the image centre.

    Same convention as torchvision's ``_get_inverse_affine_matrix`` with zero shear: a positive
    angle turns counter-clockwise (``F.rotate`` passes ``-angle`` to the affine).
    """
    radians = np.radians(-np.asarray(angle, dtype=np.float64))
    cos, sin = np.cos(radians) / scale, np.sin(radians) / scale
    matrix = np.zeros((len(radians), 2, 3))
    matrix[:, 0, 0], matrix[:, 0, 1] = cos, sin
    matrix[:, 1, 0], matrix[:, 1, 1] = -sin, cos
    matrix[:, 0, 2] = cos * -tx + sin * -ty
    matrix[:, 1, 2] = -sin * -tx + cos * -ty
    return matrix


def warp(images: torch.Tensor, inverse: np.ndarray) -> torch.Tensor:
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


def darken(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Brightness times ``params[:, 0]`` (``F.adjust_brightness``)."""
    factor = torch.as_tensor(params[:, 0], dtype=images.dtype, device=images.device)
    return (images * factor.view(-1, 1, 1, 1)).clamp_(0.0, 1.0)


def shift_hue(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Hue shifted by ``params[:, 0]`` turns (``F.adjust_hue``)."""
    shift = torch.as_tensor(params[:, 0], dtype=images.dtype, device=images.device)
    hue, saturation, value = rgb_to_hsv(images)
    hue = torch.remainder(hue + shift.view(-1, 1, 1), 1.0)
    return hsv_to_rgb(hue, saturation, value)


def rgb_to_hsv(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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


def hsv_to_rgb(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
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


def blur(images: torch.Tensor, params: np.ndarray, width: int) -> torch.Tensor:
    """Separable Gaussian blur (kernel size ``params[:, 0]``, sigma ``params[:, 1]``) with
    reflect padding, a kernel per image (grouped convolution), all zero-padded to ``width``."""
    n, c, h, w = images.shape
    half = width // 2
    if half >= min(h, w):
        raise ValueError(
            f"blur: images of {h}x{w} pixels are too small for kernels up to {width} wide "
            f"(reflect padding needs more than {half} pixels a side); give smaller "
            "distortions.params.blur.kernel_sizes or larger images"
        )
    kernels = gaussian_kernels(params[:, 0], params[:, 1], width)
    weight = torch.as_tensor(kernels, dtype=images.dtype, device=images.device)
    weight = weight.repeat_interleave(c, dim=0)  # one kernel per (image, channel) group
    stacked = F.pad(images.reshape(1, n * c, h, w), (half, half, half, half), mode="reflect")
    rows = F.conv2d(stacked, weight.view(n * c, 1, 1, width), groups=n * c)
    both = F.conv2d(rows, weight.view(n * c, 1, width, 1), groups=n * c)
    return both.view(n, c, h, w)
