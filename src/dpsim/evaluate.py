"""Running a metric over the context test triplets and BAPPS: one row per scored item.

Columns of ``results/eval/{network}/{variant}/{context}/seed{seed}.parquet``:

=========  =======  ==============================================================================
column     type     meaning
=========  =======  ==============================================================================
network    string   backbone (``pixel`` for L2 and SSIM)
variant    string   ``lin``, ``tune``, ``scratch`` (trained) or ``baseline``, ``cosine``, ``l2``,
                    ``ssim`` (not trained)
context    string   the context the metric was adapted to (``all`` for untrained metrics)
seed       int      training seed (for untrained metrics: the random-init seed)
checkpoint string   ``last`` (after the last epoch, the study's choice) or ``best`` (best
                    validation epoch) for adapted metrics; ``none`` for untrained ones
dataset    string   ``context`` (the pool's test triplets), ``bapps``, ``bapps_train`` (a seeded
                    sample of BAPPS train triplets, ``bapps.fit_items`` per subset, that fits the
                    likelihood's psychometric function: :mod:`dpsim.likelihood`), or the name
                    of a judgment set scored beside BAPPS (``evaluate.judgment_sets``)
kind       string   ``2afc`` or ``jnd``
subset     string   for ``context`` rows the context whose labels score the item; for BAPPS the
                    subset (``traditional``, ...); for a judgment set its name
item       int      index of the triplet / pair in its subset
d0         float    distance of p0 to the reference (JND: distance between the two images)
d1         float    distance of p1 to the reference (null for JND)
judge      float    share of people finding p1 closer; 0/1 for contexts (null for JND)
votes      float    judgments behind ``judge`` where known (BAPPS val 5, its fit rows 2, a judgment
                    set's vote column), else null
same       float    share of people finding the JND pair identical (null for 2AFC)
score      float    the item's 2AFC score (null for JND: mAP is a subset-level score)
=========  =======  ==============================================================================

An untrained metric does not depend on the context, so it is evaluated once and its file holds
the context test items once per context (``subset`` names the context), and BAPPS once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dpsim import frozen_maps, inference, scoring
from dpsim.contexts import Context, Judged
from dpsim.data.bapps import scored_subsets
from dpsim.data.pool import Pool
from dpsim.metric import DPSMetric, load_metric
from dpsim.names import CHECKPOINTS

COLUMNS = (
    "network",
    "variant",
    "context",
    "seed",
    "checkpoint",
    "dataset",
    "kind",
    "subset",
    "item",
    "d0",
    "d1",
    "judge",
    "votes",
    "same",
    "score",
)


def _two_afc_rows(dataset: str, subset: str, d0, d1, judge, votes=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": dataset,
            "kind": "2afc",
            "subset": subset,
            "item": np.arange(len(d0)),
            "d0": d0,
            "d1": d1,
            "judge": np.asarray(judge, dtype=np.float64),
            "votes": np.nan if votes is None else np.asarray(votes, dtype=np.float64),
            "same": np.nan,
            "score": scoring.two_afc_scores(d0, d1, judge),
        }
    )


def context_rows(judged: Judged, contexts: Sequence[Context], d0, d1) -> pd.DataFrame:
    """Rows of the context test triplets, scored under each context's labels.

    ``judged``: what decides the triplets' judges (:class:`dpsim.contexts.Judged`); ``d0``,
    ``d1``: the metric's distances.
    """
    parts = [_two_afc_rows("context", c.name, d0, d1, judged.labels(c.ranking)) for c in contexts]
    return pd.concat(parts, ignore_index=True)


def _jnd_rows(subset: str, distances: np.ndarray, same: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": "bapps",
            "kind": "jnd",
            "subset": subset,
            "item": np.arange(len(distances)),
            "d0": distances,
            "d1": np.nan,
            "judge": np.nan,
            "votes": np.nan,
            "same": np.asarray(same, dtype=np.float64),
            "score": np.nan,
        }
    )


#: One human set's cache or several (BAPPS's, then the judgment sets'), or None for none.
HumanCaches = str | Path | Sequence[str | Path] | None


def bapps_distances(model, pair_function, caches: HumanCaches, device: str, batch_size: int):
    """``(dataset, kind, subset, distances, labels, votes)`` of every subset the packed
    ``caches`` score (:func:`dpsim.data.bapps.scored_subsets`: BAPPS val and fit subsets,
    judgment sets): 2AFC distances ``(d0, d1)``, JND ``(d,)``, each ``(N,)`` or ``(N, M)``."""
    scored = []
    for data in scored_subsets(caches):
        images = np.asarray(data.images)
        distances: tuple[np.ndarray, ...]
        if data.kind == "2afc":
            distances = inference.triplet_distances(
                model, images, device=device, batch_size=batch_size
            )
        else:
            distances = (
                inference.pair_distances(
                    pair_function, images[:, 0], images[:, 1], device=device, batch_size=batch_size
                ),
            )
        scored.append((data.dataset, data.kind, data.subset, distances, data.labels, data.votes))
    return scored


def _bapps_table(scored, column: int | None = None) -> list[pd.DataFrame]:
    """Rows of :func:`bapps_distances`'s subsets (``column``: the metric of ``(N, M)`` ones)."""
    parts = []
    for dataset, kind, subset, distances, judged, votes in scored:
        chosen = [d if column is None else d[:, column] for d in distances]
        if kind == "2afc":
            parts.append(_two_afc_rows(dataset, subset, chosen[0], chosen[1], judged, votes))
        else:
            parts.append(_jnd_rows(subset, chosen[0], judged))
    return parts


def bapps_rows(model, pair_function, caches: HumanCaches, device: str, batch_size: int):
    """Rows of every subset the packed ``caches`` score (BAPPS val, judgment sets)."""
    parts = _bapps_table(bapps_distances(model, pair_function, caches, device, batch_size))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


class SharedBackbone(torch.nn.Module):
    """Several metrics on one frozen backbone scored together: the backbone runs once per batch
    and each metric reads its distances from the same features (``(N, M)`` for ``M`` metrics).

    For the many checkpoints of a frozen-backbone variant (``mix``): one network pass instead
    of one per checkpoint, and the same numbers as each metric alone (to 1e-6: mix metrics of
    one rank are scored together as :func:`dpsim.frozen_maps.lin_and_mix_terms` scores contexts).
    """

    def __init__(self, metrics: Sequence[DPSMetric]) -> None:
        super().__init__()
        backbones = {id(m.backbone) for m in metrics}
        if len(backbones) != 1 or any(m.trains_backbone for m in metrics):
            raise ValueError("SharedBackbone needs metrics on one and the same frozen backbone")
        self.metrics = torch.nn.ModuleList(metrics)
        self._metrics: list[DPSMetric] = list(metrics)  # the same modules, typed
        ranks = {m.mixing.rank if m.mixing is not None else None for m in metrics}
        #: mix metrics of one rank are scored as one batch of contexts (frozen_maps's path)
        self.stacked = len(ranks) == 1 and None not in ranks

    def _features(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self._metrics[0].features(images)

    def _distances(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
        """``(N, M)``: every metric's distances of the two sides' features."""
        if not self.stacked:
            return torch.stack([m.layer_distances(fx, fy).sum(dim=1) for m in self._metrics], 1)
        mixings = [m.mixing.mixing for m in self._metrics if m.mixing is not None]
        total = torch.zeros(len(fx[0]), len(mixings), device=fx[0].device)
        for layer, (a, b) in enumerate(zip(fx, fy, strict=True)):
            weights = torch.stack([m.weights[layer] for m in self._metrics])
            mixing = torch.stack([q[layer] for q in mixings])
            total = total + frozen_maps.lin_and_mix_terms((a - b).float(), weights, mixing)
        return total

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n = len(x)
        both = self._features(torch.cat([x, y]))
        return self._distances([f[:n] for f in both], [f[n:] for f in both])

    def triplet_distances(
        self, ref: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(ref)
        feats = self._features(torch.cat([ref, p0, p1]))
        refs = [f[:n] for f in feats]
        d0 = self._distances(refs, [f[n : 2 * n] for f in feats])
        d1 = self._distances(refs, [f[2 * n :] for f in feats])
        return d0, d1


def evaluate_shared(
    metrics: Sequence[DPSMetric],
    identities: Sequence[dict],
    *,
    pool: Pool,
    contexts: Sequence[Sequence[Context]],
    bapps_cache: HumanCaches,
    device: str = "cpu",
    batch_size: int = 256,
) -> list[pd.DataFrame]:
    """:func:`evaluate` of metrics on one frozen backbone (:class:`SharedBackbone`), one table
    per metric; ``contexts[m]``: the contexts whose labels score metric ``m``'s test rows."""
    bank = SharedBackbone(metrics).to(device).eval()
    triplets = np.stack([pool.ref, pool.p0, pool.p1], axis=1)
    d0, d1 = inference.triplet_distances(bank, triplets, device=device, batch_size=batch_size)
    scored = bapps_distances(bank, bank, bapps_cache, device, batch_size)
    tables = []
    for column, (chosen, identity) in enumerate(zip(contexts, identities, strict=True)):
        parts = [context_rows(pool.judged, chosen, d0[:, column], d1[:, column])]
        parts += _bapps_table(scored, column)
        tables.append(_identified(pd.concat(parts, ignore_index=True), identity))
    return tables


def evaluate(
    model: torch.nn.Module | Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    pool: Pool,
    contexts: Sequence[Context],
    bapps_cache: HumanCaches,
    identity: dict,
    device: str = "cpu",
    batch_size: int = 256,
) -> pd.DataFrame:
    """Score ``model`` on the pool's test triplets (under ``contexts``) and on BAPPS.

    Args:
        model: a :class:`~dpsim.metric.DPSMetric` (its fused triplet path is used, and its
            input-range check is skipped: the images come from uint8 arrays, so their range is
            right by construction), another module, or any callable ``(x, y) -> distances``.
            Modules are put in eval mode on ``device``.
        identity: the ``network``, ``variant``, ``context``, ``seed`` and ``checkpoint`` columns.
    """
    if isinstance(model, torch.nn.Module):
        model = model.to(device).eval()
    pair_function = model
    if isinstance(model, DPSMetric):
        metric = model

        def pair_function(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return metric(x, y, check_range=False)

    triplets = np.stack([pool.ref, pool.p0, pool.p1], axis=1)
    d0, d1 = inference.triplet_distances(model, triplets, device=device, batch_size=batch_size)
    parts = [context_rows(pool.judged, contexts, d0, d1)]
    parts += _bapps_table(bapps_distances(model, pair_function, bapps_cache, device, batch_size))
    return _identified(pd.concat(parts, ignore_index=True), identity)


def _identified(table: pd.DataFrame, identity: Mapping[str, Any]) -> pd.DataFrame:
    for key in ("network", "variant", "context", "checkpoint"):
        table[key] = str(identity[key])
    table["seed"] = int(identity["seed"])
    return table[list(COLUMNS)]


def evaluate_linear(
    weights: np.ndarray,
    *,
    test: Mapping[str, Any],
    bapps: Mapping[str, Mapping[str, np.ndarray]] | None,
    contexts: Sequence[Context],
    identity: Mapping[str, Any],
) -> pd.DataFrame:
    """:func:`evaluate` for a metric whose distance is linear in cached statistics (a frozen
    backbone's lin or unit weights): ``d = s . weights`` for every item, no network pass.

    Args:
        weights: the metric's channel weights, all layers concatenated ``(sum C,)``.
        test: the test draw's cache (:func:`dpsim.feature_cache.read_cache`: ``s0``, ``s1``
            and the distortion ids ``d0``, ``d1`` and their set ``distortions``).
        bapps: :func:`dpsim.feature_cache.read_bapps_statistics`'s subsets, or None.
    """
    w = np.asarray(weights, dtype=np.float64)
    d0, d1 = test["s0"] @ w, test["s1"] @ w
    judged = Judged(test["d0"], test["d1"], test["distortions"], test.get("judge"))
    parts = [context_rows(judged, contexts, d0, d1)]
    for key, arrays in sorted((bapps or {}).items()):
        kind, name = key.split(":")
        subset = str(arrays.get("subset", name))
        if kind == "2afc":
            scores = (arrays["s0"] @ w, arrays["s1"] @ w, arrays["judge"], arrays.get("votes"))
            dataset = str(arrays.get("dataset", "bapps"))
            parts.append(_two_afc_rows(dataset, subset, *scores))
        else:
            parts.append(_jnd_rows(subset, arrays["s"] @ w, arrays["same"]))
    return _identified(pd.concat(parts, ignore_index=True), identity)


def checkpoint_tables(
    paths: Sequence[str], score: Callable[[DPSMetric, str], pd.DataFrame]
) -> list[pd.DataFrame]:
    """The rows of each checkpoint (``paths`` in :data:`~dpsim.names.CHECKPOINTS` order), each
    distinct metric scored once: a checkpoint equal to an earlier one gets that one's rows
    relabelled."""
    tables: list[pd.DataFrame] = []
    metrics: list[DPSMetric] = []
    for checkpoint, path in zip(CHECKPOINTS, paths, strict=True):
        metric = load_metric(path)
        twin = next((k for k, seen in enumerate(metrics) if same_weights(seen, metric)), None)
        if twin is None:
            tables.append(score(metric, checkpoint))
        else:
            tables.append(tables[twin].assign(checkpoint=checkpoint))
        metrics.append(metric)
    return tables


def same_weights(first: DPSMetric, second: DPSMetric) -> bool:
    """Whether two metrics are the same function: equal descriptions and state, tensor for
    tensor (a best checkpoint saved at the last epoch is the last one, and scoring it again
    would only cost a pass of the network over the test pool and BAPPS)."""
    if first.describe() != second.describe():
        return False
    mine, theirs = first.state_dict(), second.state_dict()
    return mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
