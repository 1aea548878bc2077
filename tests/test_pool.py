"""The shared triplet pool: content, determinism, resume after a crash, context independence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dpsim import contexts, distortions
from dpsim.data import pool as P
from dpsim.integrity import CorruptIntermediateError

SPEC = dict(split="train", draw=0, triplets=50, shard_size=16, seed=3, batch_size=7)


def _build(images, path, **changes):
    return P.build_pool(images, path, **{**SPEC, **changes})


def test_pool_holds_the_references_and_their_distortions(random_images, tmp_path):
    manifest = _build(random_images, tmp_path / "draw0")
    pool = P.load_pool(tmp_path / "draw0", verify=True)
    assert len(pool) == 50 and [s["triplets"] for s in manifest["shards"]] == [16, 16, 16, 2]
    assert np.array_equal(pool.ref, random_images[pool.ref_index])
    assert np.all(pool.d0 != pool.d1) and np.array_equal(pool.triplet, np.arange(50))
    recomputed = distortions.apply_uint8(torch.from_numpy(pool.ref), pool.d0, pool.params0)
    assert np.array_equal(pool.p0, recomputed.numpy())
    # every reference is used before any is used twice
    assert sorted(pool.ref_index[:20]) == list(range(20))


def test_same_seed_same_pool_other_seed_or_draw_other_pool(random_images, tmp_path):
    first = _build(random_images, tmp_path / "a")
    second = _build(random_images, tmp_path / "b")
    assert [s["sha256"] for s in first["shards"]] == [s["sha256"] for s in second["shards"]]
    _build(random_images, tmp_path / "c", draw=1)
    _build(random_images, tmp_path / "d", seed=4)
    base, other_draw, other_seed = (P.load_pool(tmp_path / name) for name in "acd")
    assert not np.array_equal(base.params0, other_draw.params0)
    assert not np.array_equal(base.params0, other_seed.params0)


def test_a_context_only_labels_the_pool(random_images, tmp_path):
    _build(random_images, tmp_path / "draw0")
    pool = P.load_pool(tmp_path / "draw0")
    chosen = contexts.reference_rankings(3)
    label_sets = [pool.labels(c.ranking) for c in chosen]
    assert all(set(np.unique(labels)) <= {0, 1} for labels in label_sets)
    assert not np.array_equal(label_sets[0], label_sets[1])
    position = {name: i for i, name in enumerate(chosen[0].ranking)}
    names = distortions.DISTORTIONS
    expected = [
        int(position[names[a]] > position[names[b]]) for a, b in zip(pool.d0, pool.d1, strict=True)
    ]
    assert label_sets[0].tolist() == expected


def test_crashed_build_resumes_from_finished_shards(random_images, tmp_path, monkeypatch):
    uninterrupted = _build(random_images, tmp_path / "clean")
    real = P.synthesize_shard
    calls = []

    def crash_on_third(images, spec, shard, refs, batch, device, dset):
        calls.append(shard)
        if shard == 2 and calls.count(2) == 1:
            raise KeyboardInterrupt("simulated kill")
        return real(images, spec, shard, refs, batch, device, dset)

    monkeypatch.setattr(P, "synthesize_shard", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        _build(random_images, tmp_path / "draw0")
    assert not (tmp_path / "draw0").exists()
    assert sorted(p.name for p in (tmp_path / ".draw0.partial").glob("shard_*")) == [
        "shard_00000.npz",
        "shard_00001.npz",
    ]
    resumed = _build(random_images, tmp_path / "draw0")
    assert calls == [0, 1, 2, 2, 3]  # shards 0 and 1 were not synthesised again
    assert resumed["shards"] == uninterrupted["shards"]
    assert not (tmp_path / ".draw0.partial").exists()


def test_partial_folder_of_another_spec_is_discarded(random_images, tmp_path):
    partial = tmp_path / ".draw0.partial"
    partial.mkdir()
    (partial / "spec.json").write_text(json.dumps({"seed": 99}))
    (partial / "shard_00000.npz").write_bytes(b"stale")
    _build(random_images, tmp_path / "draw0")
    P.load_pool(tmp_path / "draw0", verify=True)


def test_corrupted_shard_is_detected(random_images, tmp_path):
    _build(random_images, tmp_path / "draw0")
    shard = tmp_path / "draw0" / "shard_00001.npz"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(CorruptIntermediateError, match=r"shard_00001\.npz is corrupt: sha256"):
        P.load_pool(tmp_path / "draw0")


def test_a_truncated_shard_names_the_shard_the_rule_and_the_folder_to_delete(
    random_images, tmp_path
):
    manifest = _build(random_images, tmp_path / "draw0", writer="pool_draw")
    assert manifest["rule"] == "pool_draw"
    shard = tmp_path / "draw0" / "shard_00002.npz"
    recorded = manifest["shards"][2]["bytes"]
    assert recorded == shard.stat().st_size
    with open(shard, "r+b") as handle:
        handle.truncate(recorded // 2)
    for verify in (True, False):  # the size is checked even without the sha256
        with pytest.raises(CorruptIntermediateError) as caught:
            P.load_pool(tmp_path / "draw0", verify=verify)
        message = str(caught.value)
        assert f"{shard} is corrupt: {recorded // 2:,} bytes where its writer recorded" in message
        assert "written by the rule pool_draw" in message
        assert f"delete {(tmp_path / 'draw0').absolute()} and run snakemake again" in message


def test_a_pool_of_the_former_manifest_loads_and_is_checked_by_sha256(random_images, tmp_path):
    _build(random_images, tmp_path / "draw0")
    manifest_path = tmp_path / "draw0" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["rule"]
    for shard in manifest["shards"]:
        del shard["bytes"]  # manifests written before sizes were recorded
    manifest_path.write_text(json.dumps(manifest))
    assert len(P.load_pool(tmp_path / "draw0")) == 50
    shard = tmp_path / "draw0" / "shard_00000.npz"
    with open(shard, "r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(CorruptIntermediateError, match="sha256"):
        P.load_pool(tmp_path / "draw0")
    with pytest.raises(CorruptIntermediateError, match=r"cannot be read \(BadZipFile"):
        P.load_pool(tmp_path / "draw0", verify=False)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        P.build_pool(np.zeros((2, 3, 8, 8), np.float32), tmp_path / "x", **SPEC)
    with pytest.raises(FileNotFoundError, match="not a finished pool draw"):
        P.load_pool(tmp_path)
