"""Adapting a metric to contexts: one training loop over two kinds of triplet source.

A *source* turns a batch of pool triplets into distances ``(B, K)`` for ``K`` contexts:

- :class:`DirectSource`: a :class:`~dpsim.metric.DPSMetric` run on the images (``tune`` and
  ``scratch``, where the backbone learns; also ``lin`` when no cache is wanted). ``K = 1``.
- :class:`CachedLinSource`: ``lin`` on cached per-channel statistics
  (:mod:`dpsim.feature_cache`), with one weight vector per context, so the lin weights of many
  contexts train together in one batched pass. Its dropout acts on the per-channel statistics
  (one mask per triplet and channel, shared by the contexts of the batch) instead of on each
  squared difference before the spatial mean: the same expected distance, a smaller variance.
  Without dropout it trains exactly the model the direct path trains (tested).

:func:`train` runs the loop: Adam, a constant then linearly decaying learning rate (as LPIPS:
``epochs_constant + 1`` epochs at the full rate, then ``1 - k / epochs_decay`` for the k-th of
the remaining ones), epoch ``e`` on pool draw ``e mod draws`` (fresh distortions each epoch),
validation 2AFC on the context's val triplets after every epoch, the best epoch per context kept.
The loss is the ranking head's binary cross-entropy plus, per context, the adaptation study's
*sync term* (PROTOCOL §6a; :attr:`TrainSettings.sync`): ``10 x BCE(sigmoid(d0 - d1), h)`` on the
metric's own distances, in a batch where that context's batch 2AFC is <= 0.5 (``below_chance``),
in each of the first N epochs (an integer), or never (``off``). It keeps the head from learning
to read the distances backwards while the metric ranks the context the wrong way round.
Every epoch's shuffling and dropout come from a seed derived from the job's keys and the epoch,
and the whole state is checkpointed after every epoch, so a killed job resumes and ends with the
same numbers as an uninterrupted one. A non-finite loss or weight stops training with
:class:`NonFiniteError`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dpsim import io, scoring
from dpsim.head import RankingHeads, head_2afc
from dpsim.inference import autocast, signed
from dpsim.metric import DPSMetric
from dpsim.presets import PRESETS
from dpsim.seeding import seed_sequence

log = logging.getLogger(__name__)

LOG_COLUMNS = (
    "context",
    "epoch",
    "loss",
    "sync_share",
    "train_2afc",
    "val_2afc",
    "val_head_2afc",
    "lr",
    "seconds",
)
#: The ranking heads :func:`train` can use (see :mod:`dpsim.head`).
HEADS = ("lpips", "monotone")
#: Named modes of the sync term (an integer N means "in each of the first N epochs").
SYNC_MODES = ("below_chance", "off")
#: The sync term's weight in the loss, as in the adaptation study's code (PROTOCOL §6a).
SYNC_WEIGHT = 10.0


class NonFiniteError(RuntimeError):
    """Training produced a NaN or infinite loss or weight."""


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and schedule of one training run."""

    lr: float
    beta1: float
    beta2: float
    batch_size: int
    epochs_constant: int
    epochs_decay: int
    dropout: float = 0.5
    head: str = "lpips"
    sync: str | int = "off"

    def __post_init__(self) -> None:
        if self.epochs_constant < 0 or self.epochs_decay < 0 or self.epochs < 1:
            raise ValueError(
                "training needs at least one epoch: epochs_constant + epochs_decay must be "
                f">= 1, got {self.epochs_constant} + {self.epochs_decay}"
            )
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        named = isinstance(self.sync, str) and self.sync in SYNC_MODES
        counted = isinstance(self.sync, int) and not isinstance(self.sync, bool) and self.sync > 0
        if not (named or counted):
            raise ValueError(
                f"sync must be {' or '.join(SYNC_MODES)} or a number of epochs >= 1, "
                f"got {self.sync!r}"
            )

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> TrainSettings:
        """The preset named by ``section['preset']``, with every non-null key overriding it.

        The sync term defaults to the adaptation study's ``below_chance``: this is the
        context adaptation's training (LPIPS's own training, in the readout study, has none).
        """
        values: dict[str, Any] = dict(PRESETS[section["preset"]])
        values.update({k: v for k, v in section.items() if k in values and v is not None})
        return cls(
            **values,
            dropout=section["dropout"],
            head=section.get("head", "lpips"),
            sync=section.get("sync", "below_chance"),
        )

    def sync_active(self, epoch: int, batch_scores: torch.Tensor) -> torch.Tensor:
        """Per context, whether the sync term joins the loss of a batch of ``epoch``.

        ``batch_scores``: the metric's own 2AFC score on the batch, per context ``(K,)``.
        ``below_chance``: where it is <= 0.5; N: in each of the first N epochs; ``off``: never.
        """
        if self.sync == "below_chance":
            return batch_scores <= 0.5
        every = isinstance(self.sync, int) and epoch < self.sync
        return torch.full_like(batch_scores, every, dtype=torch.bool)

    def new_heads(self, contexts: int) -> RankingHeads:
        """Freshly initialised ranking heads of the configured kind, one per context."""
        return RankingHeads(contexts, monotone=self.head == "monotone")

    @property
    def epochs(self) -> int:
        return self.epochs_constant + self.epochs_decay

    def lr_at(self, epoch: int) -> float:
        """Learning rate of (0-based) ``epoch``: constant, then linear decay (as LPIPS)."""
        if epoch <= self.epochs_constant or self.epochs_decay == 0:
            return self.lr
        return self.lr * (1.0 - (epoch - self.epochs_constant) / self.epochs_decay)


class TripletSource(Protocol):
    """What :func:`train` trains: distances of pool triplets for ``contexts`` contexts."""

    contexts: int
    draws: int

    def parameters(self) -> Iterable[torch.nn.Parameter]: ...
    def count(self, draw: int | str) -> int: ...
    def labels(self, draw: int | str, rows: np.ndarray) -> torch.Tensor: ...
    def distances(self, draw: int | str, rows: np.ndarray, training: bool): ...
    def clamp_(self) -> None: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...
    def context_state(self, context: int) -> dict: ...


@dataclass
class DirectSource:
    """A metric trained on the pool images. ``pools``: draw -> (images (N,3,3,S,S) uint8, labels).

    ``"val"`` is the key of the validation draw. Labels are ``(N,)`` 0/1 for one context. Images
    given as a tensor already on ``device`` are used as they are, not copied (the contexts of a
    pack share them).
    """

    metric: DPSMetric
    pools: Mapping[int | str, tuple[np.ndarray | torch.Tensor, np.ndarray]]
    device: str = "cpu"
    contexts: int = 1
    _on_device: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.metric.to(self.device)
        self.draws = sum(1 for key in self.pools if key != "val")
        for key, (images, labels) in self.pools.items():  # uint8 stays resident on the device
            if not isinstance(images, torch.Tensor):
                images = torch.from_numpy(np.ascontiguousarray(images))
            self._on_device[key] = (
                images.to(self.device),
                torch.from_numpy(np.asarray(labels, dtype=np.float32)).to(self.device),
            )

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.metric.parameters() if p.requires_grad]

    def count(self, draw: int | str) -> int:
        return len(self.pools[draw][1])

    def labels(self, draw: int | str, rows: np.ndarray) -> torch.Tensor:
        return self._on_device[draw][1][torch.as_tensor(rows, device=self.device)].unsqueeze(1)

    def distances(self, draw: int | str, rows: np.ndarray, training: bool):
        self.metric.train(training)
        batch = self._on_device[draw][0][torch.as_tensor(rows, device=self.device)]
        ref, p0, p1 = (signed(batch[:, k]) for k in range(3))
        with autocast(self.device, training=True):
            d0, d1 = self.metric.triplet_distances(ref, p0, p1)
        return d0.float().unsqueeze(1), d1.float().unsqueeze(1)

    def clamp_(self) -> None:
        self.metric.clamp_weights_()

    def state_dict(self) -> dict:
        return self.metric.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.metric.load_state_dict(state)

    def context_state(self, context: int) -> dict:
        return copy.deepcopy(self.metric.state_dict())


class CachedLinSource(torch.nn.Module):
    """``lin`` weights of ``K`` contexts on cached statistics.

    Args:
        stats: draw -> (s0, s1), each ``(N, sum C)`` float32 (``"val"`` for validation).
        labels: draw -> ``(N, K)`` 0/1 labels, one column per context.
        dropout: probability of the dropout on the statistics in training.
        initial: starting weights, ``(sum C,)`` for every context or ``(K, sum C)``.
    """

    def __init__(
        self, stats: dict, labels: dict, dropout: float, initial: torch.Tensor, device: str = "cpu"
    ) -> None:
        super().__init__()
        self.device = device
        self.dropout = dropout
        first = next(iter(labels.values()))
        self.contexts = first.shape[1]
        self.draws = sum(1 for key in stats if key != "val")
        width = next(iter(stats.values()))[0].shape[1]
        start = initial.detach().float().reshape(-1, width).expand(self.contexts, width)
        self.weights = torch.nn.Parameter(start.clone().to(device))
        self._stats = {
            key: tuple(torch.from_numpy(np.asarray(s)).to(device) for s in pair)
            for key, pair in stats.items()
        }
        self._labels = {
            key: torch.from_numpy(np.asarray(value, dtype=np.float32)).to(device)
            for key, value in labels.items()
        }

    def count(self, draw: int | str) -> int:
        return len(self._labels[draw])

    def labels(self, draw: int | str, rows: np.ndarray) -> torch.Tensor:
        return self._labels[draw][torch.as_tensor(rows, device=self.device)]

    def distances(self, draw: int | str, rows: np.ndarray, training: bool):
        index = torch.as_tensor(rows, device=self.device)
        s0, s1 = (s[index] for s in self._stats[draw])
        if training and self.dropout > 0:
            s0 = F.dropout(s0, self.dropout, training=True)
            s1 = F.dropout(s1, self.dropout, training=True)
        return s0 @ self.weights.T, s1 @ self.weights.T

    @torch.no_grad()
    def clamp_(self) -> None:
        self.weights.clamp_(min=0.0)

    def context_state(self, context: int) -> dict:
        return {"weights": self.weights[context].detach().clone()}


@dataclass
class TrainResult:
    """Per context: the best epoch's states, the last states, the score history."""

    best_epoch: list[int]
    best_val: list[float]
    best_states: list[dict]
    last_states: list[dict]
    log: pd.DataFrame


def _epoch_seeds(keys: Sequence[str | int], seed: int, epoch: int) -> tuple[int, int]:
    sequence = seed_sequence(seed, *keys, "epoch", epoch)
    order_seed, torch_seed = sequence.generate_state(2, dtype=np.uint64)
    return int(order_seed), int(torch_seed)


def _validation_distances(source: TripletSource, batch_size: int):
    """Distances ``(N, K)`` of the validation draw and its labels, on the CPU."""
    count = source.count("val")
    d0s, d1s, labels = [], [], []
    with torch.no_grad():
        for start in range(0, count, batch_size):
            rows = np.arange(start, min(start + batch_size, count))
            d0, d1 = source.distances("val", rows, training=False)
            d0s.append(d0.float().cpu())
            d1s.append(d1.float().cpu())
            labels.append(source.labels("val", rows).float().cpu())
    return tuple(torch.cat(parts) for parts in (d0s, d1s, labels))


def _metric_2afc(d0: torch.Tensor, d1: torch.Tensor, judge: torch.Tensor) -> np.ndarray:
    d0n, d1n, jn = d0.numpy(), d1.numpy(), judge.numpy()
    return np.array(
        [scoring.two_afc_score(d0n[:, k], d1n[:, k], jn[:, k]) for k in range(d0n.shape[1])]
    )


def validation_2afc(source: TripletSource, batch_size: int) -> np.ndarray:
    """2AFC score of each context on the validation draw (hard labels)."""
    return _metric_2afc(*_validation_distances(source, batch_size))


def validation_scores(
    source: TripletSource, heads: RankingHeads, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per context, the metric's validation 2AFC and the heads' own (:func:`head_2afc`)."""
    d0, d1, judge = _validation_distances(source, batch_size)
    device = next(heads.parameters()).device
    with torch.no_grad():
        logits = heads(d0.to(device), d1.to(device)).float().cpu()
    return _metric_2afc(d0, d1, judge), head_2afc(logits, judge).numpy().astype(np.float64)


def _check_finite(loss: torch.Tensor, parameters, epoch: int, step: int) -> None:
    if not torch.isfinite(loss).all():
        raise NonFiniteError(
            f"the loss became {loss.detach().cpu().tolist()} at epoch {epoch}, step {step}: "
            "lower the learning rate (train.lr) or check the inputs; no output was written"
        )
    for parameter in parameters:
        if not torch.isfinite(parameter).all():
            raise NonFiniteError(
                f"a weight became non-finite at epoch {epoch}, step {step}: lower train.lr; "
                "no output was written"
            )


def train(
    source: TripletSource,
    heads: RankingHeads,
    settings: TrainSettings,
    *,
    seed: int,
    keys: Sequence[str | int],
    state_file: str | Path | None = None,
    identity: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``source`` and ``heads`` for ``settings.epochs`` epochs; resumable from ``state_file``.

    Args:
        source: the triplet source (its parameters are trained).
        heads: one ranking head per context of the source.
        settings: optimiser and schedule.
        seed, keys: the config seed and the job's identity (e.g. network, variant, context,
            training seed): every random draw of the run derives from them and the epoch.
        state_file: where the state is saved after every epoch; an existing file is resumed
            only if it belongs to the same run (same settings, seed, keys and ``identity``),
            otherwise training starts afresh. None: no checkpoints.
        identity: everything else the run depends on, as plain data (the metric's
            description, the contexts' rankings, fingerprints of the data it trains on), so a
            state saved under other inputs is never resumed.
        progress: show a progress bar.
    """
    heads = heads.to(_device_of(source))
    parameters = [*source.parameters(), *heads.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=settings.lr, betas=(settings.beta1, settings.beta2))
    run_id = {
        "settings": asdict(settings),
        "seed": seed,
        "keys": [str(k) for k in keys],
        "identity": _plain(identity or {}),
    }
    state = _resume(state_file, run_id, source, heads, optimizer)
    bar = tqdm(
        total=settings.epochs,
        initial=state["epoch"],
        desc=" ".join(map(str, keys)),
        unit="epoch",
        disable=not progress,
    )
    for epoch in range(state["epoch"], settings.epochs):
        start = time.perf_counter()
        losses, train_scores, synced = _run_epoch(
            source, heads, optimizer, settings, seed, keys, epoch
        )
        val, val_head = validation_scores(source, heads, max(settings.batch_size, 512))
        for k in range(source.contexts):
            state["log"].append(
                {
                    "context": k,
                    "epoch": epoch,
                    "loss": losses[k],
                    "sync_share": synced[k],
                    "train_2afc": train_scores[k],
                    "val_2afc": float(val[k]),
                    "val_head_2afc": float(val_head[k]),
                    "lr": settings.lr_at(epoch),
                    "seconds": time.perf_counter() - start,
                }
            )
            if val[k] > state["best_val"][k]:
                state["best_val"][k], state["best_epoch"][k] = float(val[k]), epoch
                state["best_states"][k] = _context_state(source, heads, k)
        state["epoch"] = epoch + 1
        _save(state_file, run_id, state, source, heads, optimizer)
        bar.update(1)
        bar.set_postfix(loss=float(np.mean(losses)), val_2afc=float(np.mean(val)))
    bar.close()
    last = [_context_state(source, heads, k) for k in range(source.contexts)]
    return TrainResult(
        state["best_epoch"],
        state["best_val"],
        state["best_states"],
        last,
        pd.DataFrame(state["log"], columns=list(LOG_COLUMNS)),
    )


def _device_of(source: TripletSource) -> str:
    return str(getattr(source, "device", "cpu"))


def batch_2afc(d0: torch.Tensor, d1: torch.Tensor, judge: torch.Tensor) -> torch.Tensor:
    """Per-triplet 2AFC agreement ``(B, K)`` of distances with judges (ties count half)."""
    return (d0 < d1) * (1 - judge) + (d1 < d0) * judge + 0.5 * (d0 == d1)


def sync_term(d0: torch.Tensor, d1: torch.Tensor, judge: torch.Tensor) -> torch.Tensor:
    """The adaptation study's sync term per context ``(K,)``: ``10 x BCE(sigmoid(d0 - d1), h)``
    over the batch, which pulls the metric's own ordering (not the head's) towards the labels."""
    bce = F.binary_cross_entropy_with_logits(d0 - d1, judge, reduction="none").mean(0)
    return SYNC_WEIGHT * bce


def _run_epoch(source, heads, optimizer, settings, seed, keys, epoch):
    """One pass over the epoch's draw; returns per-context mean loss, train 2AFC and the share
    of batches in which the sync term was active."""
    order_seed, torch_seed = _epoch_seeds(keys, seed, epoch)
    torch.manual_seed(torch_seed)  # dropout masks of this epoch
    draw = epoch % source.draws
    order = np.random.default_rng(order_seed).permutation(source.count(draw))
    for group in optimizer.param_groups:
        group["lr"] = settings.lr_at(epoch)
    loss_sum = np.zeros(source.contexts)
    score_sum = np.zeros(source.contexts)
    synced = np.zeros(source.contexts)
    batches = 0
    for step, start in enumerate(range(0, len(order), settings.batch_size)):
        rows = order[start : start + settings.batch_size]
        d0, d1 = source.distances(draw, rows, training=True)
        judge = source.labels(draw, rows)
        logits = heads(d0, d1)
        per_context = F.binary_cross_entropy_with_logits(logits, judge, reduction="none").mean(0)
        with torch.no_grad():
            agree = batch_2afc(d0, d1, judge)
            active = settings.sync_active(epoch, agree.mean(0))
        if active.any():
            per_context = per_context + sync_term(d0, d1, judge) * active
        loss = per_context.sum()
        _check_finite(loss, [], epoch, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        source.clamp_()
        _check_finite(loss, optimizer.param_groups[0]["params"], epoch, step)
        loss_sum += per_context.detach().cpu().numpy() * len(rows)
        score_sum += agree.sum(0).cpu().numpy()
        synced += active.cpu().numpy()
        batches += 1
    count = len(order)
    return list(loss_sum / count), list(score_sum / count), list(synced / batches)


def _context_state(source, heads: RankingHeads, context: int) -> dict:
    head = heads.select(context).state_dict()
    return {"source": source.context_state(context), "head": copy.deepcopy(head)}


def _resume(state_file, run_id, source, heads, optimizer) -> dict:
    fresh = {
        "epoch": 0,
        "log": [],
        "best_val": [-1.0] * source.contexts,
        "best_epoch": [-1] * source.contexts,
        "best_states": [None] * source.contexts,
    }
    if state_file is None or not Path(state_file).is_file():
        return fresh
    saved = torch.load(state_file, map_location=_device_of(source), weights_only=False)
    differ = _differences(saved.get("run_id", {}), run_id)
    if differ:
        log.warning(
            "not resuming %s: it belongs to another run (%s differ); training from scratch",
            state_file,
            ", ".join(differ),
        )
        return fresh
    source.load_state_dict(saved["source"])
    heads.load_state_dict(saved["heads"])
    optimizer.load_state_dict(saved["optimizer"])
    log.info("resuming from %s after epoch %d", state_file, saved["state"]["epoch"])
    return saved["state"]


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists, so a run id compares equal after a save and a load."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The parts of two run ids that differ, named down to the identity's entries."""
    differ = [k for k in current if k != "identity" and saved.get(k) != current[k]]
    old, new = saved.get("identity", {}), current["identity"]
    differ += [f"identity.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return differ


def _save(state_file, run_id, state, source, heads, optimizer) -> None:
    if state_file is None:
        return
    payload = {
        "run_id": run_id,
        "state": state,
        "source": source.state_dict(),
        "heads": heads.state_dict(),
        "optimizer": optimizer.state_dict(),
    }
    with io.atomic_path(state_file) as temp:
        torch.save(payload, temp)


__all__ = [
    "HEADS",
    "PRESETS",
    "CachedLinSource",
    "DirectSource",
    "NonFiniteError",
    "TrainResult",
    "TrainSettings",
    "train",
    "validation_2afc",
    "validation_scores",
]
