"""GPU slot allocation across real processes: exclusion, reclaim after kill -9, timeouts, env."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dpsim import gpu
from dpsim.gpu import Slot, SlotTimeout, assign_gpu, available_devices, gpu_slot

pytestmark = pytest.mark.timeout(60)

# A worker: take a slot, record (device, start, end) on time.monotonic(), hold, release.
WORKER = textwrap.dedent(
    """
    import json, sys, time
    from dpsim.gpu import gpu_slot

    run_dir, devices, out = sys.argv[1], sys.argv[2].split(","), sys.argv[4]
    hold = float(sys.argv[3])
    with gpu_slot(run_dir, devices, timeout=30, poll=0.02, label=out) as slot:
        start = time.monotonic()
        time.sleep(hold)
        end = time.monotonic()
    with open(out, "w") as f:
        json.dump({"device": slot.device, "start": start, "end": end}, f)
    """
)

# A holder: take a slot, announce it by creating a file, then sleep until killed.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dpsim.gpu import gpu_slot

    run_dir, devices, ready = sys.argv[1], sys.argv[2].split(","), Path(sys.argv[3])
    with gpu_slot(run_dir, devices, timeout=10, label="holder") as slot:
        ready.write_text(slot.device)
        time.sleep(120)
    """
)


def _python(script: str, *args: object) -> subprocess.Popen[bytes]:
    """Start ``script`` in a fresh interpreter (this venv), with ``args`` as its argv."""
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)])


@contextmanager
def _holder(run_dir: Path, devices: list[str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process that holds a slot until the block ends (then it is killed)."""
    ready = tmp_path / f"ready-{time.monotonic_ns()}"
    proc = _python(HOLDER, run_dir, ",".join(devices), ready)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert proc.poll() is None, f"holder exited early with {proc.returncode}"
            assert time.monotonic() < deadline, "holder did not take its slot within 20 s"
            time.sleep(0.02)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_concurrent_jobs_never_share_a_device(tmp_path: Path) -> None:
    run_dir = tmp_path / "slots"
    devices = ["0", "1", "2"]
    outs = [tmp_path / f"worker-{i}.json" for i in range(12)]
    procs = [_python(WORKER, run_dir, ",".join(devices), 0.3, out) for out in outs]
    for proc in procs:
        assert proc.wait(timeout=30) == 0

    records = [json.loads(out.read_text()) for out in outs]
    assert len(records) == 12
    assert {r["device"] for r in records} == set(devices)
    for device in devices:
        spans = sorted((r["start"], r["end"]) for r in records if r["device"] == device)
        for (_, end), (next_start, _) in itertools.pairwise(spans):
            assert end <= next_start, f"device {device} held by two jobs at once: {spans}"
    # The slots were used in parallel: some two jobs on different devices overlapped in time.
    assert any(
        a["device"] != b["device"] and a["start"] < b["end"] and b["start"] < a["end"]
        for a in records
        for b in records
    )


def test_killed_job_slot_is_reclaimed(tmp_path: Path) -> None:
    run_dir = tmp_path / "slots"
    with _holder(run_dir, ["0"], tmp_path) as proc:
        with pytest.raises(SlotTimeout), gpu_slot(run_dir, ["0"], timeout=0.2):
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        t0 = time.monotonic()
        with gpu_slot(run_dir, ["0"], timeout=2, poll=0.02) as slot:
            assert slot.device == "0"
            info = json.loads(slot.lock_path.read_text())
            assert info["pid"] == os.getpid()
        assert time.monotonic() - t0 < 2


def test_timeout_names_the_holder(tmp_path: Path) -> None:
    run_dir = tmp_path / "slots"
    with _holder(run_dir, ["0"], tmp_path) as proc:
        t0 = time.monotonic()
        with pytest.raises(SlotTimeout) as excinfo, gpu_slot(run_dir, ["0"], timeout=0.5):
            pass
        elapsed = time.monotonic() - t0
    message = str(excinfo.value)
    assert f"pid {proc.pid}" in message
    assert "holder" in message
    assert str(run_dir) in message
    assert "1 slot(s)" in message
    assert 0.4 <= elapsed < 3
    assert isinstance(excinfo.value, TimeoutError)


def test_slot_content_and_in_process_exclusion(tmp_path: Path) -> None:
    run_dir = tmp_path / "slots"
    with gpu_slot(run_dir, ["0", "0"], label="first") as first:
        info = json.loads(first.lock_path.read_text())
        assert info["pid"] == os.getpid()
        assert info["label"] == "first"
        assert info["device"] == "0"
        assert isinstance(info["since"], float)
        # flock locks belong to open file descriptions: a second hold in the same process
        # cannot take the same slot, and a repeated device is a second slot.
        with gpu_slot(run_dir, ["0", "0"], timeout=0) as second:
            assert second.lock_path != first.lock_path
            assert {first.index, second.index} == {0, 1}
            with pytest.raises(SlotTimeout), gpu_slot(run_dir, ["0", "0"], timeout=0):
                pass
    assert first.lock_path.read_text() == ""  # diagnostics cleared on release
    assert sorted(p.name for p in run_dir.iterdir()) == ["gpu-0.1.lock", "gpu-0.lock"]


def test_slot_released_when_block_raises(tmp_path: Path) -> None:
    with pytest.raises(KeyError), gpu_slot(tmp_path, ["3"]):
        raise KeyError("boom")
    with gpu_slot(tmp_path, ["3"], timeout=0) as slot:
        assert slot == Slot(index=0, device="3", lock_path=tmp_path / "gpu-3.lock")


def test_unsafe_device_names_are_sanitised(tmp_path: Path) -> None:
    with gpu_slot(tmp_path, ["GPU-ab/cd"], timeout=0) as slot:
        assert slot.device == "GPU-ab/cd"
        assert slot.lock_path == tmp_path / "gpu-GPU-ab_cd.lock"


def test_no_devices_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="DPSIM_GPUS"), gpu_slot(tmp_path, []):
        pass
    with pytest.raises(ValueError, match="poll"), gpu_slot(tmp_path, ["0"], poll=0):
        pass


# --- available_devices --------------------------------------------------------------------

NVIDIA_SMI_OUTPUT = (
    "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-11111111-2222-3333-4444-555555555555)\n"
    "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-66666666-7777-8888-9999-000000000000)\n"
    "  MIG 1g.10gb      Device  0: (UUID: MIG-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee)\n"
)


@pytest.fixture
def fake_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Pretend ``nvidia-smi`` exists and lists two GPUs; returns the commands it was run with."""
    calls: list[list[str]] = []

    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        assert kwargs.get("timeout")
        return subprocess.CompletedProcess(cmd, 0, stdout=NVIDIA_SMI_OUTPUT, stderr="")

    monkeypatch.setattr(gpu.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(gpu.subprocess, "run", run)
    return calls


def test_available_devices_precedence(fake_nvidia_smi: list[list[str]]) -> None:
    env = {"DPSIM_GPUS": "0, 1,3", "CUDA_VISIBLE_DEVICES": "5,6"}
    assert available_devices(env) == ["0", "1", "3"]
    assert available_devices({"DPSIM_GPUS": "", "CUDA_VISIBLE_DEVICES": "5"}) == []
    assert available_devices({"CUDA_VISIBLE_DEVICES": "5,6"}) == ["5", "6"]
    assert available_devices({"CUDA_VISIBLE_DEVICES": "GPU-abc"}) == ["GPU-abc"]
    assert available_devices({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert available_devices({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert available_devices({"CUDA_VISIBLE_DEVICES": "2,-1,3"}) == ["2"]
    assert fake_nvidia_smi == []  # never asked while an environment variable decides
    assert available_devices({}) == ["0", "1"]
    assert fake_nvidia_smi == [["/usr/bin/nvidia-smi", "-L"]]


def test_available_devices_defaults_to_os_environ(
    monkeypatch: pytest.MonkeyPatch, fake_nvidia_smi: list[list[str]]
) -> None:
    monkeypatch.setenv("DPSIM_GPUS", "4,2")
    assert available_devices() == ["4", "2"]


def test_available_devices_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu.shutil, "which", lambda name: None)

    def run(*args: object, **kwargs: object) -> None:
        raise AssertionError("nvidia-smi must not be run when it is not on PATH")

    monkeypatch.setattr(gpu.subprocess, "run", run)
    assert available_devices({}) == []


@pytest.mark.parametrize(
    "outcome",
    [
        subprocess.TimeoutExpired(["nvidia-smi", "-L"], 5),
        FileNotFoundError("nvidia-smi"),
        subprocess.CompletedProcess(["nvidia-smi", "-L"], 9, stdout="", stderr="driver error"),
    ],
    ids=["timeout", "oserror", "exit-code"],
)
def test_available_devices_nvidia_smi_failure_means_none(
    monkeypatch: pytest.MonkeyPatch, outcome: object
) -> None:
    def run(*args: object, **kwargs: object) -> object:
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(gpu.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(gpu.subprocess, "run", run)
    assert available_devices({}) == []


# --- assign_gpu ---------------------------------------------------------------------------


def test_assign_gpu_sets_and_restores_cuda_visible_devices(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    with assign_gpu(tmp_path, devices=["2"], label="job") as slot:
        assert slot is not None
        assert slot.device == "2"
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "2"
        assert json.loads(slot.lock_path.read_text())["label"] == "job"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "7"

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(RuntimeError, match="inside"), assign_gpu(tmp_path, devices=["1"]):
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
        raise RuntimeError("inside")
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    with gpu_slot(tmp_path, ["1"], timeout=0):  # the slot was freed despite the error
        pass


def test_assign_gpu_uses_available_devices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DPSIM_GPUS", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    with assign_gpu(tmp_path) as slot:
        assert slot is not None
        assert slot.device == "3"
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"


def test_assign_gpu_without_devices_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DPSIM_GPUS", "")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    run_dir = tmp_path / "slots"
    with assign_gpu(run_dir) as slot:
        assert slot is None
        assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    with assign_gpu(run_dir, devices=[]) as slot:
        assert slot is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    assert not run_dir.exists()


def test_assign_gpu_refuses_after_cuda_initialised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(is_initialized=lambda: True))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with (
        pytest.raises(RuntimeError, match=r"before the first torch\.cuda call"),
        assign_gpu(tmp_path, devices=["0"]),
    ):
        pass
    assert "CUDA_VISIBLE_DEVICES" not in os.environ

    fake_torch.cuda.is_initialized = lambda: False
    with assign_gpu(tmp_path, devices=["0"]) as slot:
        assert slot is not None
