"""The readout study: what in a network makes it a good perceptual metric?

For one network and weights, it compares (a) each tapped layer alone against all layers,
(b) unit channel weights against learned ones, (c) the statistical descriptors of
:data:`dpsim.metric.READOUTS`, scored on every packed BAPPS val subset (2AFC score, JND mAP) and
on MOS sets (SROCC); architectures and ImageNet vs. random weights are compared across jobs.

Every descriptor's distance is linear in per-channel statistics: ``d = sum_l sum_c w_lc s_lc``
(see :func:`dpsim.metric.channel_statistics`; a combined descriptor such as ``spatial+mean``
adds its parts' statistics). So one forward pass per image gives the statistics of all
descriptors, and a layer alone, unit or learned weights are dot products over column ranges.

MOS rows give SROCC as ``score`` and KROCC and PLCC (after the 5-parameter logistic fit) in their
own columns, signed so that higher means better agreement (:mod:`dpsim.correlation`).

Learned weights are LPIPS's ``lin``: non-negative channel weights and a ranking head trained on
the BAPPS 2AFC *train* triplets with the human judge fractions as soft labels (10% of them held
out for validation, best epoch kept), once per descriptor on all layers; a layer alone uses its
own slice of those weights. ``tuned`` is LPIPS's ``tune``: the backbone and the channel weights
trained together on the same triplets (the ``spatial`` descriptor only, which it is trained
for), then read out like the others with the tuned network's statistics and weights.
Output rows follow :data:`COLUMNS`.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dpsim import correlation, inference, scoring
from dpsim.backbones import DEFAULT_RESIZE
from dpsim.data.bapps import BappsDataset
from dpsim.data.mos import MosSet
from dpsim.metric import READOUTS, DPSMetric, build_metric, layer_statistics
from dpsim.names import READOUT_COLUMNS
from dpsim.seeding import rng
from dpsim.taps import readout_taps
from dpsim.train import CachedLinSource, DirectSource, TrainSettings, train

log = logging.getLogger(__name__)

BASE_DESCRIPTORS = ("spatial", "mean", "sort")
COLUMNS = READOUT_COLUMNS


@dataclass(frozen=True)
class ReadoutSettings:
    """What one readout job compares (the config's ``readout`` section, resolved)."""

    descriptors: tuple[str, ...] = READOUTS
    weightings: tuple[str, ...] = ("unit", "learned")
    taps: str | tuple[str, ...] = "study"
    train: TrainSettings = field(
        default_factory=lambda: TrainSettings(1e-4, 0.5, 0.999, 50, 5, 5, 0.5)
    )
    batch_size: int = 128
    seed: int = 0
    #: how a network that runs at one size only (ViT, MaxViT) gets its images resized
    resize_mode: str = DEFAULT_RESIZE

    @classmethod
    def from_config(
        cls,
        section: Mapping[str, Any],
        seed: int,
        network: str,
        resize_mode: str = DEFAULT_RESIZE,
    ) -> ReadoutSettings:
        """The settings of ``network`` from the config's ``readout`` section.

        Learned and tuned weights train with the LPIPS preset's optimiser (Adam, betas 0.5 and
        0.999) at ``lr`` and ``batch_size``, ``epochs`` split as LPIPS does: the first half at
        the full rate, the second half decaying linearly.
        """
        decay = section["epochs"] // 2
        learned = TrainSettings(
            lr=section["lr"],
            beta1=0.5,
            beta2=0.999,
            batch_size=section["batch_size"],
            epochs_constant=section["epochs"] - decay,
            epochs_decay=decay,
        )
        return cls(
            descriptors=tuple(section["descriptors"]),
            weightings=tuple(section["weightings"]),
            taps=readout_taps(section, network),
            train=learned,
            seed=seed,
            resize_mode=resize_mode,
        )


# ---------------------------------------------------------------- statistics


def _pair_statistics(metric: DPSMetric, x: torch.Tensor, y: torch.Tensor, fx=None):
    """Per base descriptor, the per-channel statistics ``(N, sum C)`` of pairs (x, y)."""
    fx = metric.features(x) if fx is None else fx
    fy = metric.features(y)
    return {d: layer_statistics(fx, fy, d) for d in BASE_DESCRIPTORS}


@torch.inference_mode()
def triplet_statistics(metric, images: np.ndarray, device: str, batch_size: int):
    """(s0, s1) per base descriptor for uint8 triplets ``(N, 3, 3, S, S)``."""
    parts: dict[str, list] = {d: [] for d in BASE_DESCRIPTORS}
    for start in range(0, len(images), batch_size):
        batch = inference.to_signed(images[start : start + batch_size], device)
        ref, p0, p1 = batch[:, 0], batch[:, 1], batch[:, 2]
        fr = metric.features(ref)
        s0, s1 = _pair_statistics(metric, ref, p0, fr), _pair_statistics(metric, ref, p1, fr)
        for d in BASE_DESCRIPTORS:
            parts[d].append((s0[d].float().cpu().numpy(), s1[d].float().cpu().numpy()))
    return {d: tuple(np.concatenate(side) for side in zip(*parts[d], strict=True)) for d in parts}


@torch.inference_mode()
def pair_statistics(metric, x: np.ndarray, y: np.ndarray, device: str, batch_size: int):
    """Per base descriptor, statistics of uint8 pairs ``x[i], y[i]`` ``(N, 3, S, S)``."""
    parts: dict[str, list] = {d: [] for d in BASE_DESCRIPTORS}
    for start in range(0, len(x), batch_size):
        a = inference.to_signed(x[start : start + batch_size], device)
        b = inference.to_signed(y[start : start + batch_size], device)
        for d, s in _pair_statistics(metric, a, b).items():
            parts[d].append(s.float().cpu().numpy())
    return {d: np.concatenate(parts[d]) for d in parts}


def combine(stats: Mapping[str, Any], descriptor: str) -> Any:
    """Statistics of a (possibly combined) descriptor: the sum of its parts'."""
    parts = descriptor.split("+")
    first = stats[parts[0]]
    if isinstance(first, tuple):
        return tuple(sum(stats[p][k] for p in parts) for k in range(len(first)))
    return sum(stats[p] for p in parts)


# ---------------------------------------------------------------- weights


def layer_columns(channels: Sequence[int]) -> list[slice]:
    """Column range of each layer in the concatenated statistics."""
    edges = np.cumsum([0, *channels])
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def learn_weights(
    train_stats: tuple[np.ndarray, np.ndarray],
    judge: np.ndarray,
    settings: ReadoutSettings,
    keys: Sequence[str],
    device: str,
) -> np.ndarray:
    """LPIPS-style ``lin`` weights on BAPPS 2AFC train statistics (best of a 10% validation)."""
    s0, s1 = (np.asarray(s, dtype=np.float32) for s in train_stats)
    judge = np.asarray(judge, dtype=np.float32)
    fit, val = _split(judge, settings, keys)
    stats = {0: (s0[fit], s1[fit]), "val": (s0[val], s1[val])}
    labels = {0: judge[fit, None], "val": (judge[val, None] > 0.5).astype(np.float32)}
    width = s0.shape[1]
    torch.manual_seed(int(rng(settings.seed, "readout", "init", *keys).integers(2**31)))
    source = CachedLinSource(
        stats, labels, settings.train.dropout, torch.full((width,), width**-0.5), device
    )
    result = train(
        source,
        settings.train.new_heads(1),
        settings.train,
        seed=settings.seed,
        keys=keys,
        progress=False,
    )
    return result.best_states[0]["source"]["weights"].cpu().numpy().astype(np.float32)


# ---------------------------------------------------------------- scoring


def _layer_sets(taps: Sequence[str]) -> list[tuple[str, int]]:
    return [("all", -1)] + [(tap, i) for i, tap in enumerate(taps)]


def _weight_vector(weighting: str, learned: np.ndarray | None, width: int) -> np.ndarray | None:
    if weighting == "unit":
        return np.ones(width, dtype=np.float32)
    return learned if weighting == "learned" else None


def _masked(weights: np.ndarray, columns: slice | None) -> np.ndarray:
    if columns is None:
        return weights
    out = np.zeros_like(weights)
    out[columns] = weights[columns]
    return out


@dataclass
class _Scored:
    """The statistics of every evaluation set for one network (all base descriptors)."""

    two_afc: dict[str, tuple[Any, np.ndarray]] = field(default_factory=dict)
    jnd: dict[str, tuple[Any, np.ndarray]] = field(default_factory=dict)
    mos: dict[str, tuple[Any, MosSet]] = field(default_factory=dict)

    def combined(self, descriptor: str) -> _Scored:
        """The same sets with the statistics of ``descriptor`` in place of the base dicts."""
        return _Scored(
            {name: (combine(s, descriptor), judge) for name, (s, judge) in self.two_afc.items()},
            {name: (combine(s, descriptor), same) for name, (s, same) in self.jnd.items()},
            {name: (combine(s, descriptor), set_) for name, (s, set_) in self.mos.items()},
        )


def _score_rows(combined: _Scored, w: np.ndarray) -> list[tuple]:
    """Rows of every set for channel weights ``w`` (``combined``: one descriptor's statistics)."""
    rows = []
    nan = float("nan")
    for subset, ((s0, s1), judge) in combined.two_afc.items():
        score = scoring.two_afc_score(s0 @ w, s1 @ w, judge)
        rows.append(("bapps", "2afc", subset, score, len(judge), nan, nan))
    for subset, (stats, same) in combined.jnd.items():
        score = scoring.jnd_average_precision(stats @ w, same)
        rows.append(("bapps", "jnd", subset, score, len(same), nan, nan))
    for name, (stats, mos_set) in combined.mos.items():
        srocc, krocc, plcc = _mos_agreement(stats @ w, mos_set)
        rows.append(("mos", "mos", name, srocc, len(mos_set), krocc, plcc))
    return rows


def _mos_agreement(distances: np.ndarray, mos_set: MosSet) -> tuple[float, float, float]:
    """SROCC, KROCC (signed: higher = better) and PLCC after the logistic fit; NaN if constant."""
    if np.ptp(distances) == 0:
        return float("nan"), float("nan"), float("nan")
    result = correlation.mos_correlations(distances, mos_set.mos, mos_set.higher_is_better)
    return float(result["srocc"]), float(result["krocc"]), float(result["plcc"])


# ---------------------------------------------------------------- the job


def _bapps_entries(cache_dir: Path) -> list[dict]:
    return json.loads((Path(cache_dir) / "index.json").read_text())["subsets"]


def _evaluation_sets(metric, cache_dir, mos_sets, mos_fit, device, batch) -> _Scored:
    scored = _Scored()
    for entry in _bapps_entries(cache_dir):
        if entry["split"] != "val":
            continue
        data = BappsDataset(cache_dir, entry["kind"], "val", entry["name"])
        images = np.asarray(data.images)
        labels = np.asarray(data.labels, dtype=np.float64)
        if entry["kind"] == "2afc":
            stats = triplet_statistics(metric, images, device, batch)
            scored.two_afc[entry["name"]] = (stats, labels)
        else:
            stats = pair_statistics(metric, images[:, 0], images[:, 1], device, batch)
            scored.jnd[entry["name"]] = (stats, labels)
    for mos_set in mos_sets:
        x, y = mos_set.load_pairs(mos_fit[0], resize=mos_fit[1])
        scored.mos[mos_set.name] = (pair_statistics(metric, x, y, device, batch), mos_set)
    return scored


def _bapps_train(cache_dir) -> list[tuple[np.ndarray, np.ndarray]]:
    """(uint8 triplets, judge fractions) of every packed BAPPS 2AFC train subset."""
    return [
        (np.asarray(data.images), np.asarray(data.labels, dtype=np.float32))
        for entry in _bapps_entries(cache_dir)
        if entry["split"] == "train" and entry["kind"] == "2afc"
        for data in [BappsDataset(cache_dir, "2afc", "train", entry["name"])]
    ]


def _train_statistics(metric, subsets, device, batch) -> tuple[dict, np.ndarray] | None:
    """Base-descriptor statistics of every BAPPS 2AFC train triplet, and the judge fractions."""
    if not subsets:
        return None
    parts = [triplet_statistics(metric, images, device, batch) for images, _ in subsets]
    stats = {
        d: tuple(np.concatenate([p[d][k] for p in parts]) for k in range(2))
        for d in BASE_DESCRIPTORS
    }
    return stats, np.concatenate([judge for _, judge in subsets])


def _split(judge: np.ndarray, settings: ReadoutSettings, keys: Sequence[str]):
    """Rows to fit on and the 10% held out for validation (hard labels), seeded by ``keys``."""
    order = rng(settings.seed, "readout", "split", *keys).permutation(len(judge))
    n_val = max(1, len(order) // 10)
    return order[n_val:], order[:n_val]


def tune_metric(
    network: str,
    weights: str,
    subsets: list[tuple[np.ndarray, np.ndarray]],
    settings: ReadoutSettings,
    device: str,
    weights_dir: str | Path,
) -> DPSMetric:
    """LPIPS's ``tune``: backbone and channel weights trained on BAPPS 2AFC train triplets.

    The same split, soft labels, ranking head and schedule as :func:`learn_weights`; the best
    epoch on the held-out 10% is returned, in eval mode on ``device``.
    """
    images = np.concatenate([i for i, _ in subsets])
    judge = np.concatenate([j for _, j in subsets])
    keys = (network, weights, "tuned")
    fit, val = _split(judge, settings, keys)
    metric = _readout_metric(network, "tune", weights, settings, weights_dir)
    metric.dropout.p = settings.train.dropout
    pools: dict[int | str, tuple[np.ndarray, np.ndarray]] = {
        0: (images[fit], judge[fit]),
        "val": (images[val], (judge[val] > 0.5) * 1.0),
    }
    source = DirectSource(metric, pools, device=device)
    torch.manual_seed(int(rng(settings.seed, "readout", "init", *keys).integers(2**31)))
    result = train(
        source,
        settings.train.new_heads(1),
        settings.train,
        seed=settings.seed,
        keys=keys,
        progress=False,
    )
    metric.load_state_dict(result.best_states[0]["source"])
    return metric.to(device).eval()


def _readout_metric(
    network: str, variant: str, weights: str, settings: ReadoutSettings, weights_dir
) -> DPSMetric:
    """The study's metric of ``network``: its taps, weights and seed, in ``variant``."""
    return build_metric(
        network,
        variant,
        taps=settings.taps,
        weights=weights,
        seed=settings.seed,
        cache_dir=weights_dir,
        resize_mode=settings.resize_mode,
    )


def _layer_rows(metric: DPSMetric, combined: _Scored, w: np.ndarray, header: tuple) -> list:
    """Rows for weights ``w`` over all layers and each layer alone, after ``header``
    (network, weights, descriptor, weighting)."""
    taps = list(metric.backbone.taps)
    columns = layer_columns(metric.backbone.channels)
    return [
        (*header, layers, index, len(taps), *row)
        for (layers, index), cols in zip(_layer_sets(taps), [None, *columns], strict=True)
        for row in _score_rows(combined, _masked(w, cols))
    ]


def _tuned_rows(metric, cache_dir, mos_sets, mos_fit, device, batch, header) -> list[tuple]:
    """Rows of the tuned metric: its own statistics and weights, all layers and each alone."""
    scored = _evaluation_sets(metric, cache_dir, mos_sets, mos_fit, device, batch)
    weights = torch.cat([w.detach().float().cpu() for w in metric.weights]).numpy()
    return _layer_rows(metric, scored.combined("spatial"), weights, (*header, "spatial", "tuned"))


def readout_table(
    network: str,
    weights: str,
    cache_dir: str | Path,
    mos_sets: Sequence[MosSet],
    settings: ReadoutSettings,
    *,
    mos_size: int = 64,
    mos_resize: str = "keep_aspect",
    device: str = "cpu",
    weights_dir: str | Path = "resources/torch",
) -> pd.DataFrame:
    """Every (descriptor, weighting, layer set) of one network on BAPPS val and the MOS sets.

    MOS images are fitted to ``mos_size`` in mode ``mos_resize`` (:func:`dpsim.data.mos.fit_image`);
    BAPPS images are scored at the size they were packed at.
    """
    metric = _readout_metric(network, "baseline", weights, settings, weights_dir).to(device)
    metric.eval()
    width = sum(metric.backbone.channels)
    mos_fit = (mos_size, mos_resize)
    scored = _evaluation_sets(metric, cache_dir, mos_sets, mos_fit, device, settings.batch_size)
    train_stats = None
    trains = bool({"learned", "tuned"} & set(settings.weightings))
    subsets = _bapps_train(cache_dir) if trains else []
    if trains and not subsets:
        log.warning("no BAPPS 2AFC train subset packed: learned and tuned weights are skipped")
    if "learned" in settings.weightings:
        train_stats = _train_statistics(metric, subsets, device, settings.batch_size)
    records = []
    for descriptor in settings.descriptors:
        learned = None
        if train_stats is not None:
            stats, judge = train_stats
            keys = (network, weights, descriptor)
            learned = learn_weights(combine(stats, descriptor), judge, settings, keys, device)
        combined = scored.combined(descriptor)
        for weighting in settings.weightings:
            base = _weight_vector(weighting, learned, width)
            if base is None:  # learned without BAPPS train, or tuned (below)
                continue
            header = (network, weights, descriptor, weighting)
            records += _layer_rows(metric, combined, base, header)
    if "tuned" in settings.weightings and "spatial" in settings.descriptors and subsets:
        tuned = tune_metric(network, weights, subsets, settings, device, weights_dir)
        records += _tuned_rows(
            tuned, cache_dir, mos_sets, mos_fit, device, settings.batch_size, (network, weights)
        )
    return pd.DataFrame(records, columns=list(COLUMNS))
