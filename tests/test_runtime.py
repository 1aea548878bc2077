"""Device choice from the config and the environment."""

from __future__ import annotations

import pytest
import torch

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
