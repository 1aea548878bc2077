"""User plug-in distortions: import, the contract's checks, seeding, pools; config-time errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpsim import distortion_params, plugins, preflight
from dpsim.config import ConfigError, validate_config
from dpsim.data.pool import build_pool, load_pool
from dpsim.distortions import DistortionSet
from dpsim.names import BUILTIN_DISTORTIONS

PLUGINS = "user_distortions"  # tests/user_distortions.py


@pytest.fixture
def plugin_module():
    plugins.load.cache_clear()
    yield PLUGINS
    plugins.load.cache_clear()


def _set(module: str, function: str = "stripes") -> DistortionSet:
    return DistortionSet(("blur", "mine"), plugins={"mine": f"{module}:{function}"})


def test_a_plugin_distorts_its_rows_and_returns_its_parameters(plugin_module):
    dset = _set(plugin_module)
    images = torch.full((6, 3, 16, 16), 200, dtype=torch.uint8)
    ids = np.array([1, 0, 1, 1, 0, 1])
    params = dset.draw_params(np.random.default_rng(0), ids, 16)
    assert params.shape == (6, 4) and np.all(params[ids == 1] == 0)  # a plug-in draws its own
    out, drawn = dset.distort_uint8(images, ids, params, seed=5)
    periods = drawn[ids == 1, 0]
    assert set(periods) <= {2, 3, 4, 5} and np.all(drawn[ids == 1, 1:] == 0)
    for row, period in zip(np.flatnonzero(ids == 1), periods, strict=True):
        assert torch.all(out[row, :, :: int(period)] == 100)
    assert np.array_equal(drawn[ids == 0], params[ids == 0])  # blur rows keep theirs
    again = dset.distort_uint8(images, ids, params, seed=5)
    assert torch.equal(again[0], out) and np.array_equal(again[1], drawn)
    other = dset.distort_uint8(images, ids, params, seed=6)[1][ids == 1, 0]
    assert not np.array_equal(other, periods)  # the seed reaches the plug-in's generator


def test_a_pool_over_a_plugin_is_reproducible_and_records_its_set(plugin_module, tmp_path):
    dset = _set(plugin_module)
    images = np.random.default_rng(0).integers(0, 256, (10, 3, 16, 16), dtype=np.uint8)
    kwargs = dict(split="train", draw=0, triplets=30, shard_size=16, seed=3, batch_size=8)
    first = build_pool(images, tmp_path / "a", dset=dset, **kwargs)
    build_pool(images, tmp_path / "b", dset=dset, **kwargs)
    assert first["spec"]["distortions"]["plugins"] == {"mine": f"{plugin_module}:stripes"}
    a, b = load_pool(tmp_path / "a"), load_pool(tmp_path / "b")
    assert a.distortions == ("blur", "mine")
    assert np.array_equal(a.p0, b.p0) and np.array_equal(a.params1, b.params1)
    mine = np.concatenate([a.params0[a.d0 == 1, 0], a.params1[a.d1 == 1, 0]])
    assert len(mine) and set(mine) <= {2, 3, 4, 5}
    assert a.labels(("mine", "blur")).tolist() == (a.d0 == 0).astype(int).tolist()
    with pytest.raises(ValueError, match="'rotate' is not one of: blur, mine"):
        a.labels(("rotate", "blur"))  # a ranking of another set


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("no_colon", "package.module:function"),
        ("surely_not_a_module_xyz:f", "cannot import 'surely_not_a_module_xyz'"),
        ("{module}:missing", "has no function 'missing'"),
        ("{module}:float_out", "must return a uint8 torch.Tensor, got torch.float32"),
        ("{module}:cropped", r"images of shape \(2, 3, 16, 15\)"),
        ("{module}:too_many_params", r"parameters of shape \(2, 5\)"),
        ("{module}:one_thing", r"must return \(images, params\)"),
        ("{module}:raises", "failed: RuntimeError: boom"),
    ],
)
def test_a_broken_plugin_is_named_with_what_is_wrong(plugin_module, path, message):
    with pytest.raises(plugins.PluginError, match=message):
        plugins.check_plugin(path.format(module=plugin_module), "mine")


def _config(**distortions) -> dict:
    return {"distortions": distortions, "readout": {"networks": []}}


def test_the_startup_checks_try_each_plugin_of_the_set(plugin_module):
    good = validate_config(
        _config(set=["blur", "mine"], plugins={"mine": f"{plugin_module}:stripes"})
    )
    assert [c.failed for c in preflight.plugin_checks(good)] == [False]
    bad = validate_config(
        _config(set=["blur", "mine"], plugins={"mine": f"{plugin_module}:cropped"})
    )
    (check,) = preflight.plugin_checks(bad)
    assert check.failed and check.message.startswith("distortions.plugins.mine: plug-in mine")
    unused = validate_config(_config(plugins={"mine": "not_imported_at_all:f"}))
    assert preflight.plugin_checks(unused) == []  # declared, not in the set: not imported


def _error(config: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    return str(caught.value)


def test_bad_distortion_config_gets_one_message_per_problem():
    message = _error(
        {
            "distortions": {
                "set": ["blur", "jpg", "mine"],
                "plugins": {"blur": "a.b:c", "ok": "a:b"},
                "params": {
                    "jpeg": {"quality": [50, 200]},
                    "blur": {"kernel_sizes": [10, 11], "sigma": [5, 1]},
                    "pixelate": {"factors": [1]},
                },
            }
        }
    )
    assert "distortions.set[1]: 'jpg' is not one of" in message and "did you mean 'jpeg'" in message
    assert "distortions.set[2]: 'mine'" in message  # not a built-in, not a declared plug-in
    assert "distortions.plugins.blur: 'blur' is a built-in" in message
    assert "distortions.params.jpeg.quality: 200 is outside [1, 100]" in message
    assert "distortions.params.blur.kernel_sizes: 10 is not odd" in message
    assert "distortions.params.blur.sigma: the range [5, 1] runs backwards" in message
    assert "distortions.params.pixelate.factors: 1 is outside" in message


def test_schema_errors_on_a_set_of_one_a_repeat_or_a_bad_plugin_path():
    assert "distortions.set" in _error({"distortions": {"set": ["blur"]}})
    assert "distortions.set" in _error({"distortions": {"set": ["blur", "blur"]}})
    assert "distortions.plugins" in _error({"distortions": {"plugins": {"x": "no colon"}}})
    assert "distortions.params" in _error({"distortions": {"params": {"jpeg": {"q": [1, 2]}}}})


def test_rankings_order_the_runs_set():
    config = {"distortions": {"set": ["jpeg", "noise", "blur"]}, "contexts": {"source": "list"}}
    config["contexts"]["rankings"] = [["noise", "jpeg", "blur"]]
    assert validate_config(config)["contexts"]["rankings"] == [["noise", "jpeg", "blur"]]
    config["contexts"]["rankings"] = [["noise", "jpeg", "rotate"]]
    message = _error(config)
    assert (
        "contexts.rankings[0]" in message and "'rotate' is not one of: jpeg, noise, blur" in message
    )
    too_many = {"distortions": {"set": ["jpeg", "noise", "blur"]}}
    too_many["contexts"] = {"count": 7, "distinct": True}
    assert "only 6 distinct rankings of 3 distortions" in _error(too_many)


def test_schema_defaults_equal_the_registrys(repo):
    from dpsim.config import load_schema

    params = load_schema()["properties"]["distortions"]["properties"]["params"]["properties"]
    assert list(params) == list(BUILTIN_DISTORTIONS)
    for name in BUILTIN_DISTORTIONS:
        schema_defaults = {k: v["default"] for k, v in params[name]["properties"].items()}
        assert schema_defaults == distortion_params.defaults(name), name


def test_the_report_names_the_runs_distortions():
    from dpsim.report import distortions_text

    study = validate_config({})["distortions"]
    assert distortions_text(study).startswith("the study's six")
    mine = validate_config(
        {
            "distortions": {
                "set": ["jpeg", "mine"],
                "plugins": {"mine": "pkg.mod:fn"},
                "params": {"jpeg": {"quality": [5, 9]}},
            }
        }
    )["distortions"]
    assert distortions_text(mine) == (
        "2: jpeg, mine (plug-in pkg.mod:fn); ranges changed: jpeg: {'quality': [5, 9]}"
    )
    changed = validate_config({"distortions": {"params": {"blur": {"sigma": [1, 2]}}}})
    assert distortions_text(changed["distortions"]).endswith(
        "ranges changed: blur: {'sigma': [1, 2], 'kernel_sizes': [11, 13, 15, 17, 19, 21]}"
    )
