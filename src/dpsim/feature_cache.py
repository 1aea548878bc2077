"""Per-channel readout statistics of frozen backbones, computed once per pool draw.

For ``baseline`` and ``lin`` the backbone never changes, so the readout's per-channel statistic
``s_lc`` of every (ref, p0) and (ref, p1) pair can be computed once and reused by every epoch and
every context: a lin distance is then a dot product, ``d = s . w`` (see :mod:`dpsim.metric`).
A cache file holds, for one pool draw, ``s0`` and ``s1`` of shape ``(N, sum_l C_l)`` (float32),
the channel counts per layer, and the metric description it was computed with.

The statistics are computed without dropout. Training on them applies dropout to the
statistics instead of to the squared differences before the spatial mean: the same expected
value, a smaller variance (see :class:`dpsim.train.CachedLinSource`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from dpsim import io
from dpsim.data.pool import Pool
from dpsim.inference import to_signed
from dpsim.metric import DPSMetric, layer_statistics


def triplet_statistics(metric: DPSMetric, ref, p0, p1) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel statistics ``(N, sum C)`` of (ref, p0) and (ref, p1); images in [-1, 1].

    One forward pass of all three images: the reference's features serve both pairs.
    """
    n = len(ref)
    features = metric.features(torch.cat([ref, p0, p1]))
    refs = [f[:n] for f in features]
    s0 = layer_statistics(refs, [f[n : 2 * n] for f in features], metric.readout)
    s1 = layer_statistics(refs, [f[2 * n :] for f in features], metric.readout)
    return s0, s1


def pool_statistics(
    metric: DPSMetric, pool: Pool, *, device: str = "cpu", batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """``s0`` and ``s1`` of every triplet of a pool draw (float32 ``(N, sum C)`` each)."""
    metric = metric.to(device).eval()
    total = sum(metric.backbone.channels)
    s0 = np.empty((len(pool), total), dtype=np.float32)
    s1 = np.empty((len(pool), total), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(pool), batch_size):
            rows = slice(start, start + batch_size)
            images = (to_signed(part[rows], device) for part in (pool.ref, pool.p0, pool.p1))
            a, b = triplet_statistics(metric, *images)
            s0[rows], s1[rows] = a.float().cpu().numpy(), b.float().cpu().numpy()
    return s0, s1


def write_cache(path: str | Path, metric: DPSMetric, pool: Pool, s0: np.ndarray, s1: np.ndarray):
    """Store statistics with the pool's distortion ids (for the labels of any context), the
    channel counts and the metric description (atomic)."""
    description = json.dumps(metric.describe(), sort_keys=True)
    channels = np.asarray(metric.backbone.channels, dtype=np.int64)
    io.write_npz(
        path, s0=s0, s1=s1, d0=pool.d0, d1=pool.d1, channels=channels, metric=np.array(description)
    )


def read_cache(path: str | Path) -> dict:
    """A cache written by :func:`write_cache`: ``s0``, ``s1``, ``d0``, ``d1``, ``channels``,
    ``metric`` (dict)."""
    with np.load(path) as data:
        return {
            "s0": data["s0"],
            "s1": data["s1"],
            "d0": data["d0"],
            "d1": data["d1"],
            "channels": tuple(int(c) for c in data["channels"]),
            "metric": json.loads(str(data["metric"])),
        }
