"""Batched pixel arithmetic of the common image degradations a context may rank beyond the six.

Each function takes a float batch ``(N, 3, H, W)`` in [0, 1] and one parameter row per image
(drawn by :mod:`dpsim.distortions`) and returns a new batch in [0, 1]. Each follows one reference
implementation, which ``tests/test_degradations.py`` compares it with image by image:

==========  ===================================================  ==========================
name        reference                                            parameters stored
==========  ===================================================  ==========================
jpeg        ``torchvision.io.encode_jpeg`` / ``decode_jpeg``     quality (1-100)
            (libjpeg-turbo), against PIL's encoder
noise       ``torchvision.transforms.v2.functional.              sigma, noise seed
            gaussian_noise`` with the image's own seed
contrast    ``torchvision.transforms.functional.adjust_contrast``  factor
saturation  ``torchvision.transforms.functional.adjust_saturation``  factor
pixelate    PIL: box down-sampling by the factor, nearest up       factor (whole pixels)
sharpen     ``torchvision.transforms.functional.adjust_sharpness``  factor
occlusion   ``torchvision.transforms.functional.erase`` (black)    left, top, side (pixels)
==========  ===================================================  ==========================

Gaussian noise is drawn on the CPU from a generator seeded per image (the seed is a stored
parameter), then moved to the batch's device: the same parameters give the same noise on any
device. JPEG encodes on the CPU.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.io

#: ITU-R 601-2 luma weights, as torchvision's ``rgb_to_grayscale``.
LUMA = (0.2989, 0.587, 0.114)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """Luma plane ``(N, 1, H, W)`` of RGB images (torchvision's weights and order of sums)."""
    red, green, blue = images.unbind(dim=1)
    return (red * LUMA[0] + green * LUMA[1] + blue * LUMA[2]).unsqueeze(1)


def _blend(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * images + (1 - factor) * other``, clamped to [0, 1] (torchvision's ``_blend``)."""
    ratio = factor.view(-1, 1, 1, 1)
    return (images * ratio).add_(other * (1.0 - ratio)).clamp_(0.0, 1.0)


def _factors(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(params[:, 0], dtype=images.dtype, device=images.device)


def contrast(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Blend towards the mean luma of each image by ``params[:, 0]`` (< 1 lowers contrast)."""
    mean = grayscale(images).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(images, mean, _factors(images, params))


def saturation(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Blend towards each pixel's luma by ``params[:, 0]`` (0: grey, 1: unchanged)."""
    return _blend(images, grayscale(images), _factors(images, params))


def sharpen(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Blend away from a 3x3 smoothing ([[1,1,1],[1,5,1],[1,1,1]] / 13) by ``params[:, 0]``.

    The one-pixel border is left as it is, as in torchvision (the smoothing has no border).
    """
    n, c, h, w = images.shape
    if h <= 2 or w <= 2:
        return images.clone()
    kernel = torch.full((3, 3), 1.0 / 13.0, dtype=images.dtype, device=images.device)
    kernel[1, 1] = 5.0 / 13.0
    smooth = F.conv2d(images.reshape(n * c, 1, h, w), kernel.view(1, 1, 3, 3)).view(
        n, c, h - 2, w - 2
    )
    out = images.clone()
    inner = out[..., 1:-1, 1:-1]
    ratio = _factors(images, params).view(-1, 1, 1, 1)
    inner.add_((smooth - inner) * (1.0 - ratio))
    return out.clamp_(0.0, 1.0)


def noise(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``params[:, 0]``, drawn from seed ``params[:, 1]``
    on the CPU (the same noise on every device)."""
    drawn = torch.empty(images.shape, dtype=images.dtype)
    for row, seed in enumerate(params[:, 1]):
        generator = torch.Generator().manual_seed(int(seed))
        drawn[row] = torch.randn(images.shape[1:], generator=generator, dtype=images.dtype)
    sigma = _factors(images, params).view(-1, 1, 1, 1)
    return (images + drawn.to(images.device) * sigma).clamp_(0.0, 1.0)


def jpeg(pixels: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Encode and decode each uint8 image as a baseline JPEG of quality ``params[:, 0]``."""
    device, pixels = pixels.device, pixels.cpu()
    out = torch.empty_like(pixels)
    with warnings.catch_warnings():  # torchvision 0.29 points to TorchCodec; dpsim pins 0.29
        warnings.filterwarnings("ignore", "The image decoding and encoding", DeprecationWarning)
        for row, quality in enumerate(params[:, 0]):
            encoded = torchvision.io.encode_jpeg(pixels[row], quality=int(quality))
            out[row] = torchvision.io.decode_jpeg(encoded, mode=torchvision.io.ImageReadMode.RGB)
    return out.to(device)


def box_weights(size: int, small: int) -> np.ndarray:
    """``(small, size)`` weights of box down-sampling, computed as PIL's ``Image.BOX`` resize
    does (same float expressions, so pixels on a box edge fall on the same side): output pixel
    ``i`` averages the input pixels ``j`` with ``-1/2 < (j + 1/2 - c_i) / s <= 1/2``, where
    ``s = size / small`` and ``c_i = (i + 1/2) s``, within PIL's window around ``c_i``."""
    scale = size / small
    support, inverse = 0.5 * scale, 1.0 / scale
    weights = np.zeros((small, size))
    for i in range(small):
        centre = (i + 0.5) * scale
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), size)
        x = (np.arange(first, last) - centre + 0.5) * inverse
        weights[i, first:last] = (x > -0.5) & (x <= 0.5)
    return weights / weights.sum(axis=1, keepdims=True)


def pixelate(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """Box down-sampling by ``params[:, 0]`` (to ``floor(H / factor)`` rows, at least 1), then
    nearest-neighbour up-sampling back to the size (PIL's ``BOX`` then ``NEAREST`` resize)."""
    out = torch.empty_like(images)
    h, w = images.shape[-2:]
    factors = params[:, 0].astype(int)
    for factor in np.unique(factors):
        rows = torch.as_tensor(np.flatnonzero(factors == factor), device=images.device)
        down = [
            torch.as_tensor(box_weights(n, max(1, n // factor)), dtype=images.dtype) for n in (h, w)
        ]
        along_h, along_w = (m.to(images.device) for m in down)
        small = torch.matmul(torch.matmul(along_h, images[rows]), along_w.T)
        up_h, up_w = (nearest_source(n, small.shape[axis]) for n, axis in ((h, 2), (w, 3)))
        out[rows] = small[:, :, up_h.to(images.device)][:, :, :, up_w.to(images.device)]
    return out


def nearest_source(size: int, small: int) -> torch.Tensor:
    """Source pixel of each of ``size`` output pixels when ``small`` pixels are scaled up
    nearest-neighbour, as PIL's resize computes it: the coordinate starts at half a step and
    grows by ``small / size`` per pixel by repeated float64 addition (so a pixel that falls
    exactly on a boundary goes where PIL's rounding puts it), then is truncated."""
    step = small / size
    coordinates = np.cumsum(np.r_[0.5 * step, np.full(size - 1, step)])
    return torch.as_tensor(np.minimum(coordinates.astype(np.int64), small - 1))


def occlusion(images: torch.Tensor, params: np.ndarray) -> torch.Tensor:
    """A black square of side ``params[:, 2]`` pixels, its top-left corner at column
    ``params[:, 0]`` and row ``params[:, 1]`` (any dtype: the square is zero)."""
    h, w = images.shape[-2:]
    left, top, side = (
        torch.as_tensor(params[:, k].astype(np.int64), device=images.device).view(-1, 1)
        for k in range(3)
    )
    columns = torch.arange(w, device=images.device).view(1, -1)
    rows = torch.arange(h, device=images.device).view(1, -1)
    inside_x = (columns >= left) & (columns < left + side)
    inside_y = (rows >= top) & (rows < top + side)
    covered = inside_y.unsqueeze(2) & inside_x.unsqueeze(1)
    return images.masked_fill(covered.unsqueeze(1), 0)
