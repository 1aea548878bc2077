"""Layer taps by name, checked without torch (``build_backbone`` tests check them in a network)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dpsim.taps import LAYER_TAPS, check_network, readout_taps, resolve_taps, tap_set


def test_importing_taps_loads_no_torch():
    heavy = ("torch", "torchvision")
    script = f"import sys, dpsim.taps; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("network", "name"), [(n, s) for n, sets in LAYER_TAPS.items() for s in sets]
)
def test_named_sets_are_the_layer_taps_entries(network, name):
    assert resolve_taps(network, name) == tap_set(network, name) == LAYER_TAPS[network][name]


def test_explicit_lists_keep_their_order():
    assert resolve_taps("resnet34", ["layer2", "relu"]) == ("layer2", "relu")
    assert resolve_taps("alexnet", ("features.4",)) == ("features.4",)


def test_lpips_set_of_a_resnet_names_the_networks_that_have_one():
    with pytest.raises(ValueError) as raised:
        resolve_taps("resnet18", "lpips")
    message = str(raised.value)
    assert "resnet18 has no 'lpips' tap set" in message
    assert "the LPIPS paper used only alexnet, vgg16, squeezenet1_1;" in message
    assert "taps='study'" in message


def test_networks_without_named_sets_are_told_to_list_nodes():
    with pytest.raises(ValueError, match=r"exist only for alexnet, .*e\.g\. taps=\['study'\]"):
        tap_set("densenet121", "study")


@pytest.mark.parametrize(
    ("taps", "match"),
    [
        ([], r"taps for alexnet must name at least one node, got an empty list"),
        (["features.1", "features.4", "features.1"], r"repeat \['features\.1'\]; name each"),
        (["features..3"], r"tap 'features\.\.3' is not a node or module name"),
        ([3], r"tap 3 is not a node or module name"),
    ],
)
def test_bad_explicit_lists_are_refused(taps, match):
    with pytest.raises(ValueError, match=match):
        resolve_taps("alexnet", taps)


def test_check_network():
    assert check_network("convnext_tiny") == "convnext_tiny"
    with pytest.raises(ValueError, match=r"unknown network: 'alexnt'.*did you mean 'alexnet'"):
        check_network("alexnt")


def test_readout_taps_one_choice_or_a_mapping_with_study_as_the_fallback():
    assert readout_taps({"taps": "lpips"}, "vgg16") == "lpips"
    assert readout_taps({"taps": ["a.1", "b"]}, "vgg16") == ("a.1", "b")
    mapping = {"taps": {"alexnet": "lpips", "resnet18": ["layer1"]}}
    assert readout_taps(mapping, "alexnet") == "lpips"
    assert readout_taps(mapping, "resnet18") == ("layer1",)
    assert readout_taps(mapping, "vgg16") == "study"
