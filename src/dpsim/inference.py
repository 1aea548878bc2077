"""Fast batched scoring of pairs and 2AFC triplets with any metric.

Images arrive as uint8 arrays (the packed BAPPS caches, the triplet pool) and are converted to
[-1, 1] batch by batch on the device. Scoring runs under ``torch.inference_mode`` with
channels-last tensors; on CUDA also in float16 (:func:`autocast`; cuDNN autotuning stays off).
For 2AFC triplets the reference is passed once with p0 and p1
(:meth:`dpsim.metric.DPSMetric.triplet_distances`), so its features are computed once, not twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch

PairFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 tensor -> float32 in [-1, 1] on its device, the input range of LPIPS-style metrics."""
    return images.float().div_(127.5).sub_(1.0)


def to_signed(images: np.ndarray, device: str) -> torch.Tensor:
    """uint8 array ``(..., 3, H, W)`` -> float32 in [-1, 1] on ``device``.

    Read-only inputs (memory maps, frozen arrays) are copied batch by batch: torch cannot wrap
    them without a warning about undefined behaviour on write.
    """
    batch = np.require(images, requirements=["C_CONTIGUOUS", "WRITEABLE"])
    return signed(torch.from_numpy(batch).to(device, non_blocking=True))


def prepare(model: torch.nn.Module, device: str) -> torch.nn.Module:
    """Move ``model`` to ``device`` in eval mode, channels-last.

    cuDNN autotuning stays off (see :func:`dpsim.runtime.resolve_device`): on an H100 its
    one-off search took longer than the jobs it would speed up.
    """
    return model.to(device).eval().to(memory_format=torch.channels_last)


def autocast(device: str, *, training: bool = False) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA (bfloat16 to train, float16 to score); float32 on the CPU.

    The two differ on purpose. Training backpropagates a loss that nothing rescales (no
    GradScaler): bfloat16 keeps float32's exponent range, so small gradients cannot underflow
    to zero, as they can in float16. Scoring computes no gradients, and float16's 10 mantissa
    bits (bfloat16 has 7) keep distances closer to float32's, so fewer near-ties of d0 and d1
    flip. On the CPU nothing is cast: results there are the float32 reference.
    """
    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16 if training else torch.float16)
    return contextlib.nullcontext()


def _batches(count: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, count, batch_size):
        yield slice(start, min(start + batch_size, count))


def _layout(tensor: torch.Tensor) -> torch.Tensor:
    """Channels-last: faster convolutions with oneDNN on the CPU as with cuDNN on CUDA."""
    return tensor.contiguous(memory_format=torch.channels_last)


class _Filled:
    """A float64 result of ``count`` rows, filled batch by batch; its trailing shape is the
    first batch's: ``(N,)`` for one metric, ``(N, M)`` for M metrics scored together
    (:class:`dpsim.evaluate.SharedBackbone`)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._array: np.ndarray | None = None

    def put(self, rows: slice, values: torch.Tensor) -> None:
        batch = values.float().cpu().numpy()
        if self._array is None:
            self._array = np.empty((self.count, *batch.shape[1:]), dtype=np.float64)
        self._array[rows] = batch

    @property
    def array(self) -> np.ndarray:
        return self._array if self._array is not None else np.empty(0, dtype=np.float64)


def pair_distances(
    function: PairFunction, x: np.ndarray, y: np.ndarray, *, device: str = "cpu", batch_size=256
) -> np.ndarray:
    """Distances ``(N,)`` (float64) of pairs ``(x[i], y[i])`` of uint8 images ``(N, 3, H, W)``."""
    if len(x) != len(y):
        raise ValueError(f"x and y hold {len(x)} and {len(y)} images: pairs need equal counts")
    out = _Filled(len(x))
    with torch.inference_mode(), autocast(device):
        for rows in _batches(len(x), batch_size):
            a = _layout(to_signed(x[rows], device))
            b = _layout(to_signed(y[rows], device))
            out.put(rows, function(a, b))
    return out.array


def triplet_distances(
    metric: torch.nn.Module | PairFunction,
    triplets: np.ndarray,
    *,
    device: str = "cpu",
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Distances (d0, d1) of uint8 triplets ``(N, 3, 3, H, W)`` ordered (ref, p0, p1).

    Uses the metric's ``triplet_distances`` (one forward for all three images) when it has one,
    else two pair calls.
    """
    if triplets.ndim != 5 or triplets.shape[1] != 3:
        raise ValueError(f"triplets must be (N, 3, 3, H, W) as (ref, p0, p1), got {triplets.shape}")
    d0, d1 = _Filled(len(triplets)), _Filled(len(triplets))
    fused = getattr(metric, "triplet_distances", None)
    with torch.inference_mode(), autocast(device):
        for rows in _batches(len(triplets), batch_size):
            batch = to_signed(triplets[rows], device)
            ref, p0, p1 = (_layout(batch[:, k]) for k in range(3))
            if fused is not None:
                a, b = fused(ref, p0, p1)
            else:
                a, b = metric(ref, p0), metric(ref, p1)
            d0.put(rows, a)
            d1.put(rows, b)
    return d0.array, d1.array
