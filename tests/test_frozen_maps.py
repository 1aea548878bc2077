"""The mix variant as a metric and its trainer on frozen difference maps: a distance for any Q,
lin at Q = 0, the stored maps' source equal to the metric, training that moves Q and only
what mix trains, checkpoints that reload to the same distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpsim.evaluate import SharedBackbone
from dpsim.frozen_maps import (
    CachedMixSource,
    bytes_per_triplet,
    difference_maps,
    dropout,
    initial_context_mixing,
    lin_and_mix_terms,
    moments_are_cheaper,
)
from dpsim.inference import to_signed
from dpsim.metric import build_metric, load_metric, load_on_backbone, save_metric
from dpsim.preflight import MIX_MAP_NUMBERS_64
from dpsim.train import TrainSettings, train

NETWORK = "alexnet"


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (3, 12, 3, 32, 32), dtype=np.uint8)


def _mix(rank: int = 4, seed: int = 0):
    return build_metric(NETWORK, "mix", taps="study", seed=seed, mix_rank=rank).eval()


def _scrambled(metric):
    """Q far from its small start, of any sign, and uneven lin weights."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for q in metric.mixing.mixing:
            q.copy_(torch.randn(q.shape, generator=generator))
        for w in metric.weights:
            w.copy_(torch.rand(w.shape, generator=generator))
    return metric


def test_mix_is_a_distance_for_any_q(images):
    metric = _scrambled(_mix())
    x, y = to_signed(images[0], "cpu"), to_signed(images[1], "cpu")
    with torch.no_grad():
        forward, backward, itself = metric(x, y), metric(y, x), metric(x, x)
    assert (forward > 0).all()
    torch.testing.assert_close(forward, backward, rtol=1e-5, atol=0)
    assert itself.abs().max() == 0


def test_mix_with_q_zero_equals_lin(images):
    mix, lin = _scrambled(_mix()), build_metric(NETWORK, "lin", taps="study").eval()
    with torch.no_grad():
        for q in mix.mixing.mixing:
            q.zero_()
        for a, b in zip(lin.weights, mix.weights, strict=True):
            a.copy_(b)
        x, y = to_signed(images[0], "cpu"), to_signed(images[1], "cpu")
        torch.testing.assert_close(mix(x, y), lin(x, y), rtol=1e-6, atol=1e-9)


def test_the_stored_maps_give_the_metric_distances(images):
    metric = _scrambled(_mix())
    maps = difference_maps(metric, *images, batch_size=5)
    assert [m.dtype for m in maps] == [torch.float16] * 4 and maps[0].shape[:2] == (12, 2)
    ref, p0, p1 = (to_signed(part, "cpu") for part in images)
    with torch.no_grad():
        d0, d1 = metric.triplet_distances(ref, p0, p1)
        weights = torch.cat([w for w in metric.weights]).unsqueeze(0)
        mixing = [[q.clone() for q in metric.mixing.mixing]]
        source = CachedMixSource({"val": maps}, {"val": np.zeros((12, 1))}, 0.0, weights, mixing)
        s0, s1 = source.distances("val", np.arange(12), training=False)
        # float16 maps: about 3 significant digits
        torch.testing.assert_close(s0[:, 0], d0, rtol=5e-3, atol=0)
        torch.testing.assert_close(s1[:, 0], d1, rtol=5e-3, atol=0)
        # in float32 the source's arithmetic is the metric's
        features = metric.features(torch.cat([ref, p0]))
        exact = sum(
            lin_and_mix_terms((f[:12] - f[12:]), w.unsqueeze(0), q.unsqueeze(0))[:, 0]
            for f, w, q in zip(features, metric.weights, metric.mixing.mixing, strict=True)
        )
        torch.testing.assert_close(exact, d0, rtol=1e-6, atol=1e-9)


def test_chunks_give_the_same_distances(images, monkeypatch):
    metric = _scrambled(_mix())
    maps = difference_maps(metric, *images)
    weights = torch.cat([w.detach() for w in metric.weights])
    mixing = initial_context_mixing(metric.backbone.channels, 4, [3, 4])
    source = CachedMixSource({"val": maps}, {"val": np.zeros((12, 2))}, 0.0, weights, mixing)
    whole = source.distances("val", np.arange(12), training=False)
    monkeypatch.setattr("dpsim.frozen_maps.CHUNK_BYTES", 1)  # one triplet per chunk
    for a, b in zip(whole, source.distances("val", np.arange(12), training=False), strict=True):
        torch.testing.assert_close(a, b)


def _planted_source(images, contexts: int = 2, dropout: float = 0.0):
    """Labels that follow a random mix metric of rank 2, to be learned from Q's start."""
    teacher = _scrambled(_mix(rank=2, seed=9))
    maps = difference_maps(teacher, *images)
    with torch.no_grad():
        d0, d1 = teacher.triplet_distances(*(to_signed(p, "cpu") for p in images))
    labels = np.repeat((d1 < d0).numpy()[:, None], contexts, axis=1).astype(np.float32)
    student = _mix(rank=4)
    weights = torch.cat([w.detach() for w in student.weights])
    mixing = initial_context_mixing(student.backbone.channels, 4, range(contexts))
    data = {0: maps, "val": maps}
    source = CachedMixSource(data, {0: labels, "val": labels}, dropout, weights, mixing)
    return source, mixing


SETTINGS = TrainSettings(0.01, 0.5, 0.999, 4, 2, 2, dropout=0.5, sync="below_chance")


def test_training_moves_q_and_reaches_only_w_and_q(images):
    source, start = _planted_source(images, dropout=0.5)
    heads = SETTINGS.new_heads(2)
    result = train(source, heads, SETTINGS, seed=0, keys=("t",), progress=False)
    assert {name for name, _ in source.named_parameters()} == {
        "weights",
        *(f"mixing.{k}" for k in range(4)),
    }
    for k in range(2):
        trained = result.last_states[k]["source"]["mixing"]
        moved = [float((a - b).abs().max()) for a, b in zip(trained, start[k], strict=True)]
        assert min(moved) > 1e-4, moved
    assert (source.weights >= 0).all()
    metric = _mix(rank=4)  # in the metric, the backbone gets no gradient
    x, y = (to_signed(p, "cpu") for p in images[:2])
    metric.train()
    metric(x, y).sum().backward()
    graded = {n for n, p in metric.named_parameters() if p.grad is not None}
    assert graded == {f"weights.{k}" for k in range(4)} | {f"mixing.mixing.{k}" for k in range(4)}


def test_contexts_trained_together_start_from_their_own_seed():
    a = initial_context_mixing([8, 4], 3, [5, 6])
    b = initial_context_mixing([8, 4], 3, [6])
    for x, y in zip(a[1], b[0], strict=True):
        assert torch.equal(x, y)
    assert [tuple(q.shape) for q in a[0]] == [(3, 8), (3, 4)]


def test_checkpoints_reload_to_the_same_distances(images, tmp_path):
    metric = _scrambled(_mix(rank=3))
    path = tmp_path / "mix.pt"
    save_metric(metric, path)
    reloaded = load_metric(path).eval()
    assert reloaded.describe() == metric.describe() and reloaded.describe()["mix_rank"] == 3
    base = _mix(rank=16)
    shared = [load_on_backbone(path, base), load_on_backbone(path, base)]
    x, y = (to_signed(p, "cpu") for p in images[:2])
    with torch.no_grad():
        alone = metric(x, y)
        torch.testing.assert_close(reloaded(x, y), alone, rtol=0, atol=0)
        together = SharedBackbone(shared).eval()(x, y)
        torch.testing.assert_close(together[:, 1], alone, rtol=1e-6, atol=0)


def test_a_checkpoint_on_another_backbone_is_refused(tmp_path):
    path = tmp_path / "mix.pt"
    save_metric(_mix(seed=0), path)
    with pytest.raises(ValueError, match=r"another backbone.*weights"):
        load_on_backbone(path, _mix(seed=1))


def test_memory_table_matches_the_networks():
    for network in ("alexnet", "squeezenet1_1"):
        metric = build_metric(network, "mix", taps="lpips")
        with torch.no_grad():
            maps = metric.backbone(torch.zeros(1, 3, 64, 64))
        shapes = [tuple(m.shape[1:]) for m in maps]
        assert bytes_per_triplet(shapes) == 4 * MIX_MAP_NUMBERS_64[network]


def test_dropout_keeps_the_share_and_the_expectation():
    torch.manual_seed(0)
    values = torch.ones(200_000)
    for rate in (0.2, 0.5):
        dropped = dropout(values, rate)
        kept = (dropped > 0).double().mean().item()
        assert abs(kept - (1 - rate)) < 0.005
        assert sorted(dropped.unique().tolist()) == pytest.approx([0.0, 1 / (1 - rate)])
        assert abs(dropped.mean().item() - 1) < 0.01
    assert dropout(values, 0.0) is values
    torch.manual_seed(3)
    first = dropout(values, 0.5)
    torch.manual_seed(3)
    assert torch.equal(first, dropout(values, 0.5))  # seeded by torch's generator


def test_the_maps_and_moments_forms_agree_in_value_and_gradient():
    generator = torch.Generator().manual_seed(0)
    difference = torch.randn(6, 8, 5, 5, generator=generator)
    weights = torch.rand(3, 8, generator=generator)
    results = {}
    for form in ("maps", "moments"):
        mixing = torch.randn(3, 4, 8, generator=torch.Generator().manual_seed(1))
        mixing.requires_grad_()
        value = lin_and_mix_terms(difference, weights, mixing, form=form)
        value.sum().backward()
        results[form] = (value.detach(), mixing.grad)
    for a, b in zip(results["maps"], results["moments"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_cheaper_form_is_chosen_by_its_cost():
    assert moments_are_cheaper(64, 961, 8 * 16)  # squeezenet1_1's first tap, 8 contexts
    assert not moments_are_cheaper(256, 49, 8 * 16)
    assert moments_are_cheaper(128, 225, 100 * 16)  # many contexts: moments on more layers
