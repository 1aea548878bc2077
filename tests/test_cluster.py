"""Whether SLURM jobs fit a node: sinfo parsing, GRES, time limits, and the misfit messages."""

from __future__ import annotations

import subprocess

import pytest

from dpsim.cluster import (
    ClusterFitError,
    Node,
    Request,
    gres_gpus,
    misfits,
    parse_sinfo,
    raise_on_misfits,
    read_nodes,
    request_of,
    slurm_minutes,
)

SINFO = """\
small|debug*|2|24105|(null)|infinite
gpu01|gpu|32|256000|gpu:a100:4(S:0-1)|2-00:00:00
gpu02|gpu|16|128000|gpu:2,mps:200|2-00:00:00
"""


@pytest.mark.parametrize(
    ("gres", "count"),
    [("(null)", 0), ("gpu:2", 2), ("gpu:a100:4(S:0-1)", 4), ("gpu:1,gpu:v100:2", 3), ("mps:8", 0)],
)
def test_gres_gpus_counts_every_gpu_entry(gres, count):
    assert gres_gpus(gres) == count


@pytest.mark.parametrize(
    ("limit", "minutes"),
    [("infinite", None), ("2-00:00:00", 2880), ("4:00:00", 240), ("30:00", 30), ("45", 45)],
)
def test_slurm_time_limits_in_minutes(limit, minutes):
    assert slurm_minutes(limit) == minutes


def test_parse_sinfo_groups_nodes_by_partition_and_marks_the_default():
    nodes = parse_sinfo(SINFO + "garbage line\n")
    assert nodes[""] == nodes["debug"] == [Node("small", 2, 24105, 0, None)]
    assert [n.gpus for n in nodes["gpu"]] == [4, 2]
    assert {n.max_minutes for n in nodes["gpu"]} == {2880}


def test_request_of_reads_resources_as_the_slurm_plugin_does():
    assert request_of("rule a", {"mem_mb": 4000, "gpu": 1}, threads=2) == Request(
        "rule a", "", 2, 4000, 1, 0
    )
    explicit = request_of("rule b", {"cpus_per_task": 4, "mem_mb_per_cpu": 1000}, threads=1)
    assert (explicit.cpus, explicit.mem_mb) == (4, 4000)
    gres = request_of("rule c", {"gres": "gpu:2", "slurm_partition": "gpu", "runtime": 90}, 1)
    assert (gres.gpus, gres.partition, gres.minutes) == (2, "gpu", 90)
    pending = request_of("rule d", {"mem_mb": "<TBD>"}, threads=1)
    assert pending.mem_mb == 0  # not known before the job's inputs exist: never a misfit


def test_requests_within_a_node_fit():
    nodes = parse_sinfo(SINFO)
    fine = [
        Request("rule small", "", 2, 20000, 0),
        Request("rule gpu", "gpu", 16, 100000, 4, 600),  # gpu01 has it all
    ]
    assert misfits(fine, nodes) == []


def test_the_summed_group_that_hung_the_two_cpu_cluster_is_caught():
    """Four grouped pool draws side by side asked for 4 CPUs and 16 GB: pending forever."""
    nodes = parse_sinfo(SINFO)
    (problem,) = misfits([Request("group pool (4 jobs)", "", 4, 16000, 0)], nodes)
    assert "group pool (4 jobs) on partition (the default partition)" in problem
    assert "4 CPUs (largest node: 2)" in problem


def test_each_dimension_and_the_partition_limit_are_checked():
    nodes = parse_sinfo(SINFO)
    problems = misfits(
        [
            Request("rule gpus", "gpu", 1, 1000, 8),
            Request("rule long", "gpu", 1, 1000, 1, 3000),
            Request("rule memory", "debug", 1, 30000, 0),
            Request("rule nowhere", "big", 1, 1000, 0),
        ],
        nodes,
    )
    assert "8 GPUs (largest node: 4)" in problems[0]
    assert "3000 minutes of runtime (largest node: 2880)" in problems[1]
    assert "30000 MB of memory (largest node: 24105)" in problems[2]
    assert "partition big has no nodes (partitions: debug, gpu)" in problems[3]


def test_a_request_must_fit_one_node_not_the_best_of_each():
    """Node a has the GPUs, node b the memory; neither has both, so no node runs the job."""
    nodes = {"p": [Node("a", 32, 100000, 4), Node("b", 32, 300000, 0)]}
    (problem,) = misfits([Request("rule x", "p", 1, 200000, 4)], nodes)
    assert "a combination no single node has" in problem


def test_raise_on_misfits_names_every_job_and_the_fix():
    nodes = parse_sinfo(SINFO)
    with pytest.raises(ClusterFitError) as caught:
        raise_on_misfits([Request("rule a", "", 3, 1, 0), Request("rule b", "", 1, 1, 1)], nodes)
    message = str(caught.value)
    assert "2 SLURM job(s)" in message and "rule a" in message and "rule b" in message
    assert "set-resources" in message and "PENDING forever" in message
    raise_on_misfits([Request("rule ok", "", 1, 1, 0)], nodes)  # nothing to raise


def test_read_nodes_without_sinfo_or_with_a_failing_sinfo_is_none(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert read_nodes() is None
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/sinfo")

    def failing(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "slurm_load_partitions: error")

    assert read_nodes(run=failing) is None

    def answering(*args, **kwargs):
        return subprocess.CompletedProcess(args, 0, SINFO, "")

    assert set(read_nodes(run=answering)) == {"", "debug", "gpu"}


def test_controller_answers_only_with_sinfo_listing_a_usable_node(monkeypatch):
    from dpsim import cluster

    monkeypatch.setattr("shutil.which", lambda name: None)
    assert not cluster.controller_answers()
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/sinfo")
    for listing, expected in (
        ("debug* up infinite 1 idle vm\n", True),
        ("debug* up 1 down vm", False),
    ):
        answer = subprocess.CompletedProcess([], 0, listing, "")
        monkeypatch.setattr(cluster.subprocess, "run", lambda *a, answer=answer, **k: answer)
        assert cluster.controller_answers() is expected
