"""The benchmarks measure what they say: the limit is dpsim's own network, the sides agree."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_degradations  # noqa: E402
import bench_metric  # noqa: E402
import bench_packing  # noqa: E402
import timing  # noqa: E402

from dpsim.config import validate_config  # noqa: E402


def test_interleaved_rates_take_turns_and_summaries_keep_the_spread():
    calls: list[str] = []
    functions = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    rates = timing.interleaved_rates(functions, count=10, rounds=3)
    assert calls == list("abc") * 3 and all(len(v) == 3 for v in rates.values())
    assert timing.summary([3.0, 1.0, 2.0]) == {"median": 2.0, "low": 1.0, "high": 3.0}
    assert timing.round_ratios([4.0, 9.0], [2.0, 3.0]) == [2.0, 3.0]


@pytest.mark.parametrize("network", ["alexnet", "squeezenet1_1"])
def test_the_limit_is_the_metrics_own_network_and_lpips_its_distance(network):
    pytest.importorskip("lpips")
    ours, theirs, limit = bench_metric.build_sides(network, "cpu")
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    y = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        prepared = ours.network_input([x])
        for mine, reference in zip(ours.backbone(prepared), limit(prepared), strict=True):
            assert torch.equal(mine, reference)  # in-place ReLUs change no value
        torch.testing.assert_close(ours(x, y), theirs(x, y).flatten(), rtol=0, atol=1e-5)


def test_a_case_row_reports_every_side_and_the_faster_limit():
    pytest.importorskip("lpips")
    row = bench_metric.case_row(bench_metric.Case("alexnet", 32, 4), "cpu", 2, memory=False)
    for workload in bench_metric.WORKLOADS:
        result = row[workload]
        for side in bench_metric.SIDES:
            low, high = result[f"{side}_per_s"]["low"], result[f"{side}_per_s"]["high"]
            assert 0 < low <= result[f"{side}_per_s"]["median"] <= high
        assert result["limit_per_s"]["high"] == pytest.approx(
            max(result["limit_joined_per_s"]["high"], result["limit_per_batch_per_s"]["high"]),
            abs=0.1,
        )
        assert result["meets_goal"] == (result["dpsim_of_limit"]["median"] >= 0.95)


def test_the_packing_benchmarks_configs_are_valid_and_differ_only_in_the_packing():
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    configs = {}
    for per_job in (1, bench_packing.PACKED):
        overlay = bench_packing._overlay(per_job)
        merged = {**default, **{k: {**default.get(k, {}), **v} for k, v in overlay.items()}}
        configs[per_job] = validate_config(merged)
    one, packed = configs[1], configs[bench_packing.PACKED]
    assert (one["grid"]["contexts_per_job"], packed["grid"]["contexts_per_job"]) == (1, 10)
    packed["grid"]["contexts_per_job"] = 1
    assert one == packed
    assert (
        len(bench_packing._targets()) == bench_packing.CONTEXTS == one["grid"]["direct"]["contexts"]
    )


def test_the_stacked_models_get_the_gradients_each_model_gets_alone():
    import bench_stacked

    torch.manual_seed(0)
    metrics = [bench_stacked.build_metric("alexnet", "tune", taps="study", seed=s) for s in (0, 1)]
    metrics = [m.eval() for m in metrics]  # no dropout: the same function on both sides
    images = [torch.rand(2, 3, 64, 64) * 2 - 1 for _ in range(3)]
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    stacked = bench_stacked.Stacked([bench_stacked._TripletModule(m) for m in metrics])
    together = stacked._grads(stacked.params, stacked.buffers, labels, *images)
    for k, (metric, own) in enumerate(zip(metrics, labels, strict=True)):
        metric.zero_grad()
        bench_stacked._loss(*metric.triplet_distances(*images), own).backward()
        for name, parameter in metric.named_parameters():
            if parameter.grad is not None:
                torch.testing.assert_close(
                    together[f"metric.{name}"][k], parameter.grad, rtol=1e-4, atol=1e-6
                )


def test_the_degradation_benchmark_times_each_degradation_against_its_reference():
    result = bench_degradations.run(images=8, batch=4, rounds=1)
    assert set(result["distortions"]) == set(bench_degradations.REFERENCES)
    for row in result["distortions"].values():
        assert row["dpsim_images_per_s"]["median"] > 0 and row["ratio"]["median"] > 0
