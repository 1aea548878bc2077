"""Device choice from the config and the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from dpsim.gpu import SlotTimeout, gpu_slot
from dpsim.runtime import resolve_device


def test_auto_and_explicit_cpu(monkeypatch):
    monkeypatch.delenv("DPSIM_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"


def test_environment_overrides_the_config(monkeypatch):
    monkeypatch.setenv("DPSIM_DEVICE", "cpu")
    assert resolve_device("cuda") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DPSIM_DEVICE", raising=False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda:0")


JOB = """
import os, sys, time
from dpsim import runtime
runtime.start_job("job.log", 1, gpus=int(sys.argv[1]), label="test")
print("visible", os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
time.sleep(float(sys.argv[2]))
"""


def _job(tmp_path, gpus, hold, **env):
    (tmp_path / "job.py").write_text(JOB)
    environment = {**os.environ, "DPSIM_GPUS": "7", **env}
    environment.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.Popen(
        [sys.executable, "job.py", str(gpus), str(hold)], cwd=tmp_path, env=environment
    )


def _visible(tmp_path) -> str:
    return (tmp_path / "job.log").read_text().split("visible ")[1].split()[0]


def test_gpu_jobs_get_a_slot_of_their_own(tmp_path):
    holder = _job(tmp_path, gpus=1, hold=3)
    log = tmp_path / "job.log"
    deadline = time.monotonic() + 60
    while not (log.exists() and "visible" in log.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert _visible(tmp_path) == "7"
    slots = tmp_path / ".snakemake" / "dpsim-gpu-slots"
    with pytest.raises(SlotTimeout, match=str(holder.pid)), gpu_slot(slots, ["7"], timeout=0.2):
        pass
    assert holder.wait(timeout=60) == 0
    with gpu_slot(tmp_path / ".snakemake" / "dpsim-gpu-slots", ["7"], timeout=1.0) as slot:
        assert slot.device == "7"


def test_no_slot_for_cpu_jobs_or_under_slurm(tmp_path):
    assert _job(tmp_path, gpus=0, hold=0).wait(timeout=60) == 0
    assert _visible(tmp_path) == "None"
    assert _job(tmp_path, gpus=1, hold=0, SLURM_JOB_ID="42").wait(timeout=60) == 0
    assert _visible(tmp_path) == "None"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_process_knows_how_long_it_has_run():
    code = (
        "import time; time.sleep(0.5); from dpsim.runtime import seconds_since_process_start as s;"
        " print(s())"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    assert 0.5 <= float(out.stdout) <= elapsed + 0.05  # clock ticks: 10 ms
