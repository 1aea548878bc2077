"""The whole workflow through a real SLURM cluster, as a user runs it (CI starts the cluster).

``scripts/slurm_cluster.sh start`` makes a single-node cluster with 2 fake GPUs. Skipped when no
SLURM controller answers, unless DPSIM_REQUIRE_SLURM=1 (set by .ci/run), where a missing cluster
is a failure. A job left pending for a reason no waiting can cure (``PartitionConfig``: no node
is large enough) fails the test at once, naming the job, instead of hanging.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dpsim.cluster import controller_answers

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(2400)]
REPO = Path(__file__).resolve().parents[1]
#: Pending reasons that never clear by themselves.
HOPELESS = ("PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "ReqNodeNotAvail")
#: The whole tiny workflow took 9.5 minutes through the 2-CPU test cluster (29 jobs).
WHOLE_RUN_LIMIT_S = 1800


@pytest.fixture(scope="module")
def cluster():
    if not controller_answers():
        if os.environ.get("DPSIM_REQUIRE_SLURM") == "1":
            pytest.fail("DPSIM_REQUIRE_SLURM=1 but no SLURM controller answers (sinfo)")
        pytest.skip("no SLURM cluster here: run scripts/slurm_cluster.sh start (as root)")


def _hopeless_jobs() -> list[str]:
    queue = subprocess.run(
        ["squeue", "-h", "-t", "PENDING", "-o", "%i %r %C %m %b"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return [line for line in queue.splitlines() if any(r in line for r in HOPELESS)]


def _run_watched(command: list[str], limit_s: float) -> subprocess.CompletedProcess:
    """Run ``command``; stop it (SIGINT cancels its jobs) if a job can never start."""
    started = time.monotonic()
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as p:
        while p.poll() is None:
            time.sleep(5)
            stuck = _hopeless_jobs()
            if stuck or time.monotonic() - started > limit_s:
                p.send_signal(2)
                output = p.communicate(timeout=120)[0]
                why = f"jobs that can never start: {stuck}" if stuck else f"over {limit_s:.0f} s"
                pytest.fail(f"stopped the SLURM run, {why}\n{output[-3000:]}")
        output = p.stdout.read() if p.stdout else ""
    return subprocess.CompletedProcess(command, p.returncode, output, "")


def _snakemake(workdir: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        *args,
    ]


def _known_jobs() -> set[str]:
    listing = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30
    )
    return set(listing.stdout.split())


def test_the_whole_tiny_workflow_runs_through_slurm(cluster, tmp_path):
    """Every target of the tiny config, as the README says to run it on a cluster."""
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp_path / "config.yaml")
    started = time.monotonic()
    command = _snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"), "--jobs", "4")
    run = _run_watched(command, WHOLE_RUN_LIMIT_S)
    minutes = (time.monotonic() - started) / 60
    assert run.returncode == 0, run.stdout[-4000:]
    print(f"whole tiny workflow through SLURM: {minutes:.1f} min")
    assert (tmp_path / "reports" / "report.html").stat().st_size > 100_000
    assert "group" in run.stdout  # the profile's groups were submitted as group jobs
    logs = sorted((tmp_path / "logs").rglob("*.log"))
    assert len(logs) >= 20
    known = _known_jobs()
    for log in logs:
        found = re.search(r"SLURM job (\d+)", log.read_text())
        assert found, f"{log} ran outside SLURM (no SLURM_JOB_ID recorded)"
        assert found.group(1) in known, f"{log}: SLURM job {found.group(1)} unknown to squeue"


def test_a_job_asking_for_a_gpu_gets_one_from_slurm(cluster, tmp_path):
    """The fake GPUs: a rule given gpu=1 receives CUDA_VISIBLE_DEVICES from SLURM (on CPU)."""
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp_path / "config.yaml")
    args = ["--configfile", str(tmp_path / "config.yaml"), "--jobs", "2"]
    args += ["--set-resources", "rankings:gpu=1", "--", "results/contexts/rankings.parquet"]
    run = _run_watched(_snakemake(tmp_path, *args), 600)
    assert run.returncode == 0, run.stdout[-4000:]
    log = (tmp_path / "logs" / "contexts" / "rankings.log").read_text()
    found = re.search(r"SLURM job \d+, CUDA_VISIBLE_DEVICES=(\S+)", log)
    assert found, log[-2000:]
    assert found.group(1).split(",")[0].isdigit()


def test_a_job_no_node_can_run_stops_the_run_at_once(cluster, tmp_path):
    """Asking for more memory than the node has: refused at start-up, nothing submitted."""
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp_path / "config.yaml")
    args = ["--configfile", str(tmp_path / "config.yaml"), "--jobs", "2"]
    args += [
        "--set-resources",
        "rankings:mem_mb=10000000",
        "--",
        "results/contexts/rankings.parquet",
    ]
    run = _run_watched(_snakemake(tmp_path, *args), 300)
    assert run.returncode != 0
    assert "rule rankings on partition debug asks for 10000000 MB of memory" in run.stdout
    assert not (tmp_path / "results" / "contexts").exists()
