"""The workflow through a real SLURM cluster (scripts/slurm_cluster.sh start; CI does it).

Skipped when no SLURM controller answers, unless DPSIM_REQUIRE_SLURM=1 (set by .ci/run), where a
missing cluster is a failure. Every job must record the SLURM job id it ran under, and that id
must be one the controller knows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[1]
TARGETS = (
    "results/contexts/rankings.parquet",
    "results/pool/test/draw0",
    "results/bapps/manifest.json",
)


def _slurm_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        run = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return run.returncode == 0 and any(state in run.stdout for state in ("idle", "mix", "alloc"))


@pytest.fixture(scope="module")
def cluster():
    if not _slurm_answers():
        if os.environ.get("DPSIM_REQUIRE_SLURM") == "1":
            pytest.fail("DPSIM_REQUIRE_SLURM=1 but no SLURM controller answers (sinfo)")
        pytest.skip("no SLURM cluster here: run scripts/slurm_cluster.sh start (as root)")


def test_tiny_workflow_runs_every_job_through_slurm(cluster, tmp_path):
    shutil.copy(REPO / "tests" / "configs" / "tiny.yaml", tmp_path / "config.yaml")
    command = [
        "timeout",
        "-s",
        "INT",
        "-k",
        "30",
        "600",
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path),
        "--configfile",
        str(tmp_path / "config.yaml"),
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        "--jobs",
        "4",
        *TARGETS,
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for target in TARGETS:
        assert (tmp_path / target).exists(), target
    logs = sorted((tmp_path / "logs").rglob("*.log"))
    assert len(logs) >= 5
    known = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30
    ).stdout.split()
    for log in logs:
        found = re.search(r"SLURM job (\d+)", log.read_text())
        assert found, f"{log} ran outside SLURM (no SLURM_JOB_ID recorded)"
        assert found.group(1) in known, f"{log}: SLURM job {found.group(1)} unknown to squeue"
