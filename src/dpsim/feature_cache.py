"""Per-channel readout statistics of frozen backbones, computed once per pool draw.

For ``baseline`` and ``lin`` the backbone never changes, so the readout's per-channel statistic
``s_lc`` of every (ref, p0) and (ref, p1) pair can be computed once and reused by every epoch and
every context: a lin distance is then a dot product, ``d = s . w`` (see :mod:`dpsim.metric`).
A cache file holds, for one pool draw, ``s0`` and ``s1`` of shape ``(N, sum_l C_l)`` (float32),
the channel counts per layer, and the metric description it was computed with.

Every cache file has its record beside it (``<file>.record.json``: size, sha256, the rule that
wrote it); :func:`read_cache` and :func:`read_bapps_statistics` check the file against it and
raise :class:`~dpsim.integrity.CorruptIntermediateError` on a difference (:mod:`dpsim.integrity`).

The statistics are computed without dropout. Training on them applies dropout to the
statistics instead of to the squared differences before the spatial mean: the same expected
value, a smaller variance (see :class:`dpsim.train.CachedLinSource`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dpsim import integrity, io
from dpsim.contexts import Judged
from dpsim.data.bapps import scored_subsets
from dpsim.data.pool import Pool, load_pool
from dpsim.inference import to_signed
from dpsim.metric import DPSMetric, layer_statistics
from dpsim.names import DISTORTIONS


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
    return array_statistics(
        metric, pool.ref, pool.p0, pool.p1, device=device, batch_size=batch_size
    )


def array_statistics(
    metric: DPSMetric,
    ref: np.ndarray,
    p0: np.ndarray,
    p1: np.ndarray | None = None,
    *,
    device: str = "cpu",
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of uint8 images ``(N, 3, S, S)``: ``s0`` of (ref, p0) and ``s1`` of
    (ref, p1), float32 ``(N, sum C)``; without ``p1`` (pairs), ``s1`` is empty."""
    metric = metric.to(device).eval()
    total = sum(metric.backbone.channels)
    s0 = np.empty((len(ref), total), dtype=np.float32)
    s1 = np.empty((len(ref) if p1 is not None else 0, total), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(ref), batch_size):
            rows = slice(start, start + batch_size)
            if p1 is None:
                fx, fy = (metric.features(to_signed(a[rows], device)) for a in (ref, p0))
                s0[rows] = layer_statistics(fx, fy, metric.readout).float().cpu().numpy()
                continue
            images = (to_signed(part[rows], device) for part in (ref, p0, p1))
            a, b = triplet_statistics(metric, *images)
            s0[rows], s1[rows] = a.float().cpu().numpy(), b.float().cpu().numpy()
    return s0, s1


def bapps_statistics(
    metric: DPSMetric,
    caches: str | Path | Sequence[str | Path],
    *,
    device: str = "cpu",
    batch_size: int = 256,
) -> dict[str, np.ndarray]:
    """Statistics of every subset the packed ``caches`` score (BAPPS val and fit, then the
    judgment sets: :func:`dpsim.data.bapps.scored_subsets`), as arrays named
    ``{kind}:{key}:{name}`` (key: a BAPPS val subset's name, else ``{dataset}.{subset}``):
    2AFC ``s0``, ``s1``, ``judge`` and ``votes`` where known; JND ``s`` (of the pair) and
    ``same``; the subsets of other datasets also ``dataset`` and ``subset``."""
    arrays: dict[str, np.ndarray] = {}
    for data in scored_subsets(caches):
        kind, name = data.kind, data.subset
        images = np.asarray(data.images)
        parts = [images[:, k] for k in range(images.shape[1])]
        s0, s1 = array_statistics(metric, *parts, device=device, batch_size=batch_size)
        label = np.asarray(data.labels, dtype=np.float64)
        key = f"{kind}:{name}" if data.dataset == "bapps" else f"{kind}:{data.dataset}.{name}"
        if kind == "2afc":
            arrays.update({f"{key}:s0": s0, f"{key}:s1": s1, f"{key}:judge": label})
        else:
            arrays.update({f"{key}:s": s0, f"{key}:same": label})
        if data.votes is not None:
            arrays[f"{key}:votes"] = np.asarray(data.votes, dtype=np.float64)
        if data.dataset != "bapps":
            arrays[f"{key}:dataset"] = np.array(data.dataset)
            arrays[f"{key}:subset"] = np.array(name)
    return arrays


def write_bapps_statistics(
    path: str | Path, metric: DPSMetric, arrays: dict[str, np.ndarray], writer: str = ""
) -> None:
    """Store :func:`bapps_statistics` with the metric description it was computed with, and
    the file's record (``writer``: the rule that writes it)."""
    description = json.dumps(metric.describe(), sort_keys=True)
    io.write_npz(path, **arrays, metric=np.array(description))
    integrity.write_record(path, writer)


def read_bapps_statistics(path: str | Path) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """``{"2afc:key": {"s0", "s1", "judge"[, "votes", "dataset", "subset"]}, "jnd:key": {"s",
    "same"}}`` (keys as :func:`bapps_statistics` names them) and the metric description of a
    file written by :func:`write_bapps_statistics`, checked against its record."""
    subsets: dict[str, dict[str, np.ndarray]] = {}
    with integrity.reading(path), np.load(path) as data:
        description = json.loads(str(data["metric"]))
        for key in data.files:
            if key == "metric":
                continue
            kind, name, array = key.split(":")
            subsets.setdefault(f"{kind}:{name}", {})[array] = data[key]
    return subsets, description


def cache_pool(
    metric: DPSMetric, pool_dir: str | Path, out_path: str | Path, device: str, writer: str = ""
) -> None:
    """Compute the statistics of the pool draw in ``pool_dir`` and write them to ``out_path``
    (``writer``: the rule that writes it, for the file's record)."""
    drawn = load_pool(pool_dir)
    s0, s1 = pool_statistics(metric, drawn, device=device)
    write_cache(out_path, metric.cpu(), drawn, s0, s1, writer=writer)


def write_cache(
    path: str | Path,
    metric: DPSMetric,
    pool: Pool,
    s0: np.ndarray,
    s1: np.ndarray,
    writer: str = "",
) -> None:
    """Store statistics with the pool's distortion ids and set (for the labels of any context), the
    channel counts and the metric description (atomic), then the file's record (``writer``:
    the rule that writes it)."""
    description = json.dumps(metric.describe(), sort_keys=True)
    channels = np.asarray(metric.backbone.channels, dtype=np.int64)
    io.write_npz(
        path,
        s0=s0,
        s1=s1,
        d0=pool.d0,
        d1=pool.d1,
        distortions=np.array(pool.distortions, dtype=str),
        **_judges(pool),
        channels=channels,
        metric=np.array(description),
    )
    integrity.write_record(path, writer)


def judged(cache: Mapping[str, Any]) -> Judged:
    """What decides the judges of a cache's triplets (see :class:`dpsim.contexts.Judged`)."""
    return Judged(cache["d0"], cache["d1"], cache["distortions"], cache.get("judge"))


def _judges(pool: Pool) -> dict[str, np.ndarray]:
    """``{"judge": ...}`` for a draw of people's judgments, else nothing to store."""
    judge = getattr(pool, "judge", None)
    return {} if judge is None else {"judge": np.asarray(judge)}


def read_cache(path: str | Path) -> dict:
    """A cache written by :func:`write_cache`, checked against its record: ``s0``, ``s1``,
    ``d0``, ``d1``, ``distortions`` (the names the ids index), ``channels``, ``metric`` (dict)
    and ``sha256`` (of the file)."""
    with integrity.reading(path) as digest, np.load(path) as data:
        return {
            "s0": data["s0"],
            "s1": data["s1"],
            "d0": data["d0"],
            "d1": data["d1"],
            # caches written before distortion sets existed were always of the study's six
            "distortions": tuple(
                str(name) for name in data.get("distortions", np.array(DISTORTIONS))
            ),
            "judge": data["judge"] if "judge" in data.files else None,
            "channels": tuple(int(c) for c in data["channels"]),
            "metric": json.loads(str(data["metric"])),
            "sha256": digest,
        }
