"""``mix`` trained on a frozen backbone's difference maps, every context in one batched pass.

lin needs only one number per channel and comparison (:mod:`dpsim.feature_cache`); ``mix``'s
channel mixing ``mean_hw ||Q_l D||^2`` needs the whole difference map ``D = y_ref - y_p`` of
every tapped layer (or its channel second moments ``D D^T``, which at 64 px are larger than
the maps for alexnet and squeezenet1_1 and slower to train on:
``benchmarks/bench_mixing.py``). The backbone is frozen, so the maps of a pool draw are
computed once, in the training job, and kept in memory in float16: the difference of two unit
vectors lies in [-2, 2], where float16 keeps about 3 significant digits (the distances of a
stored map differ from float32's by about 1e-3 relative; tested). Each training batch is
converted to float32 before it is used.

Memory: ``2 x 2 bytes x sum_l C_l H_l W_l`` per triplet: 118 KB for alexnet's study taps at
64 px, 430 KB for squeezenet1_1's (:func:`bytes_per_triplet`); the demo's pool (2 x 1024
training and 256 validation triplets) takes 272 MB and 990 MB.

:class:`CachedMixSource` trains ``K`` contexts together as :class:`~dpsim.train.CachedLinSource`
does: one weight row and one mixing matrix per layer and context, a loss summed over contexts
(Adam is element-wise, so each context trains as it would alone, up to the dropout masks the
contexts of a batch share). Dropout acts as on the direct path: on the squared differences
before lin's spatial mean, and on ``D`` before it is mixed (independent masks); without it the
source computes exactly :meth:`dpsim.metric.DPSMetric.layer_distances` of a ``mix`` metric
(tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from dpsim.inference import to_signed
from dpsim.metric import DPSMetric
from dpsim.mixing import initial_layers

#: Bytes of one stored difference value.
STORED_BYTES = 2
STORED_DTYPE = torch.float16
#: Most memory the projected maps of one chunk of triplets may take (bytes).
CHUNK_BYTES = 256 * 2**20


def bytes_per_triplet(shapes: Sequence[tuple[int, int, int]]) -> int:
    """Memory one triplet's two stored difference maps take (``shapes``: each layer's C, H, W)."""
    return 2 * STORED_BYTES * sum(c * h * w for c, h, w in shapes)


def difference_maps(
    metric: DPSMetric,
    ref: np.ndarray,
    p0: np.ndarray,
    p1: np.ndarray,
    *,
    device: str = "cpu",
    batch_size: int = 256,
) -> list[torch.Tensor]:
    """Per tapped layer, the float16 differences ``(N, 2, C, H, W)`` of uint8 triplets
    ``(N, 3, S, S)`` each: ``[:, 0]`` is ``y_ref - y_p0``, ``[:, 1]`` is ``y_ref - y_p1``, on
    ``device``."""
    metric = metric.to(device).eval()
    parts: list[list[torch.Tensor]] = []
    with torch.inference_mode():
        for start in range(0, len(ref), batch_size):
            rows = slice(start, start + batch_size)
            n = len(ref[rows])
            images = torch.cat([to_signed(a[rows], device) for a in (ref, p0, p1)])
            layers = []
            for feature in metric.features(images):
                anchor = feature[:n]
                pair = torch.stack([anchor - feature[n : 2 * n], anchor - feature[2 * n :]], 1)
                layers.append(pair.to(STORED_DTYPE).contiguous())
            parts.append(layers)
    return [torch.cat(layer) for layer in zip(*parts, strict=True)]


def dropout(values: torch.Tensor, rate: float) -> torch.Tensor:
    """Dropout (keep each value with probability ``1 - rate``, scale kept ones by
    ``1 / (1 - rate)``), as :func:`torch.nn.functional.dropout` but with the mask drawn from
    random 16-bit integers: CPU Bernoulli sampling took two thirds of a mix training step
    (measured on alexnet's study taps, 8 contexts, 2 threads: 150 ms a step with it, 56 ms with
    this and :func:`lin_and_mix_terms`' single matrix product). ``rate`` is met to 1 / 65536."""
    if rate <= 0:
        return values
    count = values.numel()
    words = torch.randint(
        -(2**63), 2**63 - 1, ((count + 3) // 4,), dtype=torch.int64, device=values.device
    )
    drawn = words.view(torch.int16)[:count].view(values.shape)
    keep = (drawn >= (-(2**15) + round(rate * 2**16))).view(torch.uint8)  # bool arithmetic is
    return values * keep * (1.0 / (1.0 - rate))  # not vectorised on the CPU: 6x slower


def moments_are_cheaper(channels: int, positions: int, rows: int) -> bool:
    """Whether a layer's mixing term costs less through the batch's second moments.

    Per comparison, with ``rows = K r`` mixing rows over all contexts: the maps form costs
    ``rows C HW`` multiply-adds forward and as many backward; the moments form builds
    ``G = D D^T`` (``C^2 HW``, no gradient: ``D`` is data) and then ``rows C^2`` forward and
    backward. The moments win on layers with many positions and few channels (squeezenet1_1's
    first tap, 64 x 31 x 31 at 64 px), and on every layer once many contexts train together.
    """
    maps = 2 * rows * channels * positions
    moments = channels * channels * positions + 2 * rows * channels * channels
    return moments < maps


def lin_and_mix_terms(
    difference: torch.Tensor,
    weights: torch.Tensor,
    mixing: torch.Tensor,
    rate: float = 0.0,
    form: str = "auto",
) -> torch.Tensor:
    """One layer's distances ``(M, K)`` for ``K`` contexts from differences ``(M, C, H, W)``.

    ``weights`` ``(K, C)`` (lin's, >= 0) and ``mixing`` ``(K, r, C)``: ``mean_hw [sum_c w_kc
    D_c^2 + ||Q_k D||^2]``, with dropout (probability ``rate``, training) on ``D^2`` and,
    independently, on ``D``. ``form``: ``maps`` (one ``(K r, C) x (C, M HW)`` product, faster
    on the CPU than a product per comparison), ``moments`` (``trace(Q_k G Q_k^T)`` with the
    batch's ``G = mean_hw D D^T``), or ``auto``: the cheaper (:func:`moments_are_cheaper`).
    """
    m, c = difference.shape[:2]
    k, r = mixing.shape[:2]
    lin = dropout(difference.square(), rate).mean(dim=(2, 3)) @ weights.T
    dropped = dropout(difference, rate).reshape(m, c, -1)
    positions = dropped.shape[2]
    rows = mixing.reshape(k * r, c)
    if form == "auto":
        form = "moments" if moments_are_cheaper(c, positions, k * r) else "maps"
    if form == "moments":
        moments = dropped @ dropped.transpose(1, 2) / positions  # (M, C, C)
        mix = ((rows @ moments) * rows).sum(dim=2).reshape(m, k, r).sum(dim=2)
        return lin + mix
    flat = dropped.transpose(0, 1).reshape(c, -1)  # (C, M HW)
    projected = rows @ flat  # (K r, M HW)
    mix = projected.reshape(k, r, m, -1).square().sum(dim=1).mean(dim=2)  # (K, M)
    return lin + mix.T


class CachedMixSource(torch.nn.Module):
    """``mix`` of ``K`` contexts on stored difference maps (a :class:`~dpsim.train.TripletSource`).

    Args:
        maps: draw -> per layer ``(N, 2, C, H, W)`` differences (:func:`difference_maps`);
            ``"val"`` is the validation draw.
        labels: draw -> ``(N, K)`` 0/1 labels, one column per context.
        dropout: dropout probability in training.
        weights: starting channel weights ``(sum C,)``, the same for every context.
        mixing: each context's starting mixing matrices (per layer ``(r, C_l)``).
        device: where the parameters live (the maps stay where they are).
    """

    def __init__(
        self,
        maps: Mapping[int | str, Sequence[torch.Tensor]],
        labels: Mapping[int | str, np.ndarray],
        dropout: float,
        weights: torch.Tensor,
        mixing: Sequence[Sequence[torch.Tensor]],
        device: str = "cpu",
    ) -> None:
        super().__init__()
        self.device = device
        self.dropout = dropout
        self.contexts = len(mixing)
        self.draws = sum(1 for key in maps if key != "val")
        self._maps = {key: list(layers) for key, layers in maps.items()}
        self.channels = [layer.shape[2] for layer in next(iter(self._maps.values()))]
        self._labels = {
            key: torch.from_numpy(np.asarray(value, dtype=np.float32)).to(device)
            for key, value in labels.items()
        }
        start = weights.detach().float().reshape(1, -1).expand(self.contexts, -1)
        self.weights = torch.nn.Parameter(start.clone().to(device))
        self.mixing = torch.nn.ParameterList(
            torch.nn.Parameter(torch.stack([m[layer] for m in mixing]).float().to(device))
            for layer in range(len(self.channels))
        )

    def count(self, draw: int | str) -> int:
        return len(self._labels[draw])

    def labels(self, draw: int | str, rows: np.ndarray) -> torch.Tensor:
        return self._labels[draw][torch.as_tensor(rows, device=self.device)]

    def distances(self, draw: int | str, rows: np.ndarray, training: bool):
        """``(d0, d1)``, each ``(B, K)``, of the triplets ``rows`` of ``draw``, in chunks whose
        projected maps take at most :data:`CHUNK_BYTES` (validation batches are large)."""
        largest = max(
            layer.shape[3] * layer.shape[4] * q.shape[0] * q.shape[1]
            for layer, q in zip(self._maps[draw], self.mixing, strict=True)
        )
        step = max(1, CHUNK_BYTES // (2 * 4 * largest))
        parts = [
            self._distances(draw, rows[i : i + step], training) for i in range(0, len(rows), step)
        ]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _distances(self, draw: int | str, rows: np.ndarray, training: bool):
        total = None
        rate = self.dropout if training else 0.0
        layer_weights = self.weights.split(self.channels, dim=1)
        for stored, w, q in zip(self._maps[draw], layer_weights, self.mixing, strict=True):
            index = torch.as_tensor(rows, device=stored.device)
            batch = stored[index].to(self.device, torch.float32)  # (B, 2, C, H, W)
            terms = lin_and_mix_terms(batch.flatten(0, 1), w, q, rate)
            total = terms if total is None else total + terms
        assert total is not None
        paired = total.reshape(len(rows), 2, self.contexts)
        return paired[:, 0], paired[:, 1]

    @torch.no_grad()
    def clamp_(self) -> None:
        self.weights.clamp_(min=0.0)

    def context_state(self, context: int) -> dict:
        return {
            "weights": self.weights[context].detach().clone(),
            "mixing": [q[context].detach().clone() for q in self.mixing],
        }


def initial_context_mixing(
    channels: Sequence[int], rank: int, seeds: Sequence[int]
) -> list[list[torch.Tensor]]:
    """Each context's starting mixing matrices, one seed per context (so a context starts from
    the same Q whichever other contexts train beside it)."""
    return [initial_layers(channels, rank, seed) for seed in seeds]
