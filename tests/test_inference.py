"""Batched scoring: same numbers as the plain metric call, triplets reuse the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpsim import baselines, inference
from dpsim.metric import build_metric


@pytest.fixture(scope="module")
def metric():
    return build_metric("alexnet", "lin", weights="random", seed=1).eval()


def _uint8(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


def test_pair_distances_equal_one_big_call(metric):
    x, y = _uint8(10, 1), _uint8(10, 2)
    batched = inference.pair_distances(
        lambda a, b: metric(a, b, check_range=False), x, y, batch_size=3
    )
    with torch.no_grad():
        direct = metric(inference.to_signed(x, "cpu"), inference.to_signed(y, "cpu"))
    np.testing.assert_allclose(batched, direct.numpy(), rtol=1e-5, atol=1e-7)


def test_triplet_distances_equal_pairwise_calls(metric):
    triplets = np.stack([_uint8(7, 3), _uint8(7, 4), _uint8(7, 5)], axis=1)
    d0, d1 = inference.triplet_distances(metric, triplets, batch_size=4)
    with torch.no_grad():
        ref, p0, p1 = (inference.to_signed(triplets[:, k], "cpu") for k in range(3))
        np.testing.assert_allclose(d0, metric(ref, p0).numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(d1, metric(ref, p1).numpy(), rtol=1e-5, atol=1e-7)


def test_functions_without_a_fused_path_work_too():
    triplets = np.stack([_uint8(5, 6), _uint8(5, 7), _uint8(5, 8)], axis=1)
    d0, d1 = inference.triplet_distances(baselines.l2_distance, triplets, batch_size=2)
    ref, p0 = inference.to_signed(triplets[:, 0], "cpu"), inference.to_signed(triplets[:, 1], "cpu")
    np.testing.assert_allclose(d0, ((ref - p0) ** 2).mean(dim=(1, 2, 3)).numpy(), rtol=1e-6)
    assert d1.shape == (5,)


def test_shape_errors():
    with pytest.raises(ValueError, match="pairs need equal counts"):
        inference.pair_distances(baselines.l2_distance, _uint8(2, 0), _uint8(3, 0))
    with pytest.raises(ValueError, match=r"\(N, 3, 3, H, W\)"):
        inference.triplet_distances(baselines.l2_distance, _uint8(2, 0))
