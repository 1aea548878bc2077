"""What a frozen backbone's features allow: the best linear readouts, fitted, per context.

lin can only reweight each channel of a frozen network with a non-negative weight. Whether a
context is then out of reach is a property of the features and of that metric form, not of the
trainer. For each network (and grid seed) and context this module fits, on the training
triplets' cached statistics, the best readout of three forms and scores it on the test triplets:

- ``unit``: every channel weighs 1 (nothing to fit: the untrained baseline);
- ``nonnegative``: one weight >= 0 per channel, the form lin trains (and the form of any metric
  that stays a distance with a diagonal weighting);
- ``unconstrained``: one real weight per channel, a linear probe that need not be a distance.

A fit is a logistic regression of the label (p1 is the closer image) on ``(s0 - s1) . w``:
full-batch Adam for :data:`STEPS` steps at :data:`LR` with an L2 penalty :data:`L2`, projected
onto ``w >= 0`` after every step for ``nonnegative``. Each channel's difference is first divided
by its standard deviation over the training triplets (a positive scale, so ``w >= 0`` means the
same), which makes the penalty small for every channel alike and the fit converge in those
steps: unscaled, the statistics are so small that the same penalty held the weights back
(measured on the demo's alexnet: non-negative cap 0.565 unscaled, 0.629 scaled, 0.629 after
1,000 steps). All contexts of a network are fitted together (one weight row each). The result
is a measured reference for lin, not a bound: another objective could find slightly more, and
the test score of a fit can fall below its training score.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from dpsim import feature_cache
from dpsim.contexts import Context
from dpsim.scoring import two_afc_score

WEIGHTINGS = ("unit", "nonnegative", "unconstrained")
STEPS = 300
LR = 0.05
L2 = 1e-4
#: Columns of ``results/stats/caps.parquet``.
COLUMNS = ("network", "seed", "context", "weighting", "train_score", "score", "n")


def fit_weights(
    x: np.ndarray, labels: np.ndarray, *, nonnegative: bool, seed: int = 0
) -> np.ndarray:
    """Weights ``(K, C)`` of the best logistic readout of ``x = s0 - s1`` ``(N, C)`` for each of
    the ``K`` label columns of ``labels`` ``(N, K)`` (1: p1 is the closer image)."""
    torch.manual_seed(seed)
    scale = np.asarray(x, dtype=np.float64).std(axis=0) + 1e-12
    features = torch.from_numpy((np.asarray(x) / scale).astype(np.float32))
    target = torch.from_numpy(np.asarray(labels, dtype=np.float32))
    width = features.shape[1]
    weights = torch.full((target.shape[1], width), width**-0.5, requires_grad=True)
    optimizer = torch.optim.Adam([weights], lr=LR)
    for _ in range(STEPS):
        logits = features @ weights.T
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(0)
        loss = loss.sum() + L2 * (weights * weights).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if nonnegative:
            with torch.no_grad():
                weights.clamp_(min=0.0)
    return weights.detach().double().numpy() / scale


def _labels(chosen: list[Context], cache: Mapping) -> np.ndarray:
    """The judges of a feature cache's triplets under each context, as floats."""
    return feature_cache.judged(cache).matrix(chosen).astype(np.float64)


def cap_table(
    train: list[dict], test: dict, chosen: list[Context], *, network: str, seed: int
) -> pd.DataFrame:
    """The three readouts' train and test 2AFC score per context (rows of :data:`COLUMNS`).

    ``train``, ``test``: feature caches (:func:`dpsim.feature_cache.read_cache`) of the training
    draws and of the test draw.
    """
    x = np.concatenate([c["s0"] - c["s1"] for c in train])
    train_labels = np.concatenate([_labels(chosen, cache) for cache in train])
    x_test = test["s0"] - test["s1"]
    test_labels = _labels(chosen, test)
    fitted = {
        "unit": np.ones((len(chosen), x.shape[1])),
        "nonnegative": fit_weights(x, train_labels, nonnegative=True, seed=seed),
        "unconstrained": fit_weights(x, train_labels, nonnegative=False, seed=seed),
    }
    rows = []
    for weighting in WEIGHTINGS:
        weights = fitted[weighting]
        margins, test_margins = x @ weights.T, x_test @ weights.T  # d0 - d1
        for k, context in enumerate(chosen):
            rows.append(
                {
                    "network": network,
                    "seed": seed,
                    "context": context.name,
                    "weighting": weighting,
                    "train_score": _score(margins[:, k], train_labels[:, k]),
                    "score": _score(test_margins[:, k], test_labels[:, k]),
                    "n": len(test_labels),
                }
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _score(margin: np.ndarray, labels: np.ndarray) -> float:
    """2AFC score of distances with ``d0 - d1 = margin`` (p1 closer when the margin is > 0)."""
    return two_afc_score(margin, np.zeros_like(margin), labels)
