"""Config validation: defaults, and one clear error naming each bad key and the allowed values."""

from __future__ import annotations

import pytest
import yaml

from dpsim import cli
from dpsim.config import ConfigError, load_config, load_schema, validate_config
from dpsim.names import CLASSIFICATION_NETWORKS


def _error(config: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
    return str(caught.value)


def test_default_config_file_is_valid(repo):
    config = load_config(repo / "config" / "config.yaml")
    assert config["images"]["source"] == "embedded"
    assert config["grid"]["weights"] == "random"  # the default must run offline


def test_empty_config_takes_every_default():
    config = validate_config({})
    assert config["seed"] == 0
    assert config["pool"]["triplets"] == {"train": 2048, "val": 512, "test": 512}
    assert config["images"]["embedded"]["scales"] == [1.0, 0.5]
    assert config["contexts"]["source"] == "generator"


def test_validation_does_not_modify_its_argument():
    raw = {"pool": {"shard_size": 8}}
    validate_config(raw)
    assert raw == {"pool": {"shard_size": 8}}


def _walk(node: dict, path: str):
    for key, sub in node.get("properties", {}).items():
        yield f"{path}.{key}".lstrip("."), sub
        yield from _walk(sub, f"{path}.{key}")


def test_every_schema_key_is_documented_with_a_default():
    for path, sub in _walk(load_schema(), ""):
        assert sub.get("description"), f"{path} has no description"
        assert "default" in sub, f"{path} has no default"


def test_every_schema_object_forbids_unknown_keys():
    schema = load_schema()
    assert schema["additionalProperties"] is False
    for path, sub in _walk(schema, ""):
        if sub.get("type") == "object" and "propertyNames" not in sub:  # a map names its keys
            assert sub.get("additionalProperties") is False, path


def test_unknown_key_names_the_path_the_allowed_keys_and_a_suggestion():
    message = _error({"pool": {"triplet": 5}})
    assert "pool.triplet: unknown key" in message
    assert "batch_size, shard_size, train_draws, triplets" in message
    assert "did you mean 'triplets'?" in message


def test_unknown_top_level_key():
    assert "sed: unknown key" in _error({"sed": 1}) and "'seed'" in _error({"sed": 1})


def test_wrong_type_names_the_path_expected_and_received():
    message = _error({"pool": {"shard_size": "abc"}})
    assert "pool.shard_size: expected integer, got 'abc' (str)" in message


def test_out_of_range_value():
    assert "pool.triplets.val: must be >= 1, got 0" in _error({"pool": {"triplets": {"val": 0}}})


def test_unknown_image_source_lists_the_allowed_sources():
    message = _error({"images": {"source": "embeded"}})
    assert "images.source: 'embeded' is not one of: embedded, folder, stl10, svhn" in message
    assert "did you mean 'embedded'" in message


def test_unknown_distortion_in_a_ranking():
    ranking = ["colour", "zoom_in", "rotate", "translate", "darken", "blur"]
    message = _error({"contexts": {"source": "list", "rankings": [ranking]}})
    assert "contexts.rankings[0]" in message and "did you mean 'color'" in message
    assert "rotate, translate, darken, color, blur, zoom_in" in message


def test_malformed_ranking_says_what_is_missing_or_repeated():
    short = ["color", "zoom_in", "rotate", "translate", "darken"]
    twice = ["color", "color", "rotate", "translate", "darken", "blur"]
    message = _error({"contexts": {"source": "list", "rankings": [short, twice]}})
    assert "contexts.rankings[0]" in message and "missing: blur" in message
    assert "contexts.rankings[1]" in message and "duplicated: color" in message


def test_empty_ranking_list_with_list_source():
    assert "contexts.rankings" in _error({"contexts": {"source": "list"}})


def test_unknown_network_suggests_the_closest_name():
    message = _error({"grid": {"networks": ["alexnet", "resnet19"]}})
    assert "grid.networks[1]: 'resnet19' is not a torchvision classification network" in message
    assert "did you mean" in message and "grid.networks[0]" not in message


def test_unknown_variant_lists_the_variants():
    message = _error({"grid": {"variants": ["lin", "finetune"]}})
    expected = "grid.variants[1]: 'finetune' is not one of: baseline, lin, mix, lora, bitfit, tune"
    assert expected in message


def test_all_problems_are_reported_together():
    message = _error({"pool": {"triplet": 1, "shard_size": "x"}, "grid": {"networks": ["vgg"]}})
    assert "(3 problems)" in message
    assert "pool.triplet" in message and "pool.shard_size" in message
    assert "grid.networks[0]" in message


def test_folder_source_needs_a_path():
    assert "images.folder.path" in _error({"images": {"source": "folder"}})


def test_fractions_must_leave_training_images():
    message = _error({"images": {"val_fraction": 0.5, "test_fraction": 0.5}})
    assert "images.val_fraction + images.test_fraction" in message


def test_stats_baseline_must_be_evaluated():
    message = _error({"evaluate": {"baselines": ["l2"]}})
    assert "stats.baseline: 'baseline'" in message and "evaluate.baselines" in message
    assert "is not one of" in _error({"stats": {"baseline": "l2"}})
    assert "stats.margin" in _error({"stats": {"margin": -0.1}})


def test_readout_and_mos_sections_are_checked():
    message = _error({"readout": {"networks": ["alexnett"]}, "mos": {"sets": [{"format": "csv"}]}})
    assert "readout.networks[0]: 'alexnett'" in message and "did you mean 'alexnet'" in message
    assert "mos.sets[0]: format 'csv' needs a `path`" in message
    assert "is not one of" in _error({"readout": {"descriptors": ["median"]}})
    message = _error({"grid": {"networks": ["resnet18"], "taps": "lpips"}})
    assert "grid.taps (resnet18): resnet18 has no 'lpips' tap set" in message
    nets = ["alexnet", "resnet18"]
    message = _error({"readout": {"networks": nets, "taps": "lpips"}})
    assert "readout.taps (resnet18): resnet18 has no 'lpips' tap set" in message
    assert "readout.taps (alexnet)" not in message and "map each network" in message
    message = _error({"readout": {"networks": nets, "taps": {"alexnett": "lpips"}}})
    assert (
        "readout.taps: 'alexnett' is not in readout.networks (did you mean 'alexnet'?)" in message
    )
    mapped = {"alexnet": "lpips", "resnet18": ["layer1", "layer3"]}
    assert validate_config({"readout": {"networks": nets, "taps": mapped}})["readout"]["taps"]
    message = _error({"mos": {"resize": "stretch", "image_size": 8}})
    assert "mos.resize" in message and "'stretch' is not one of" in message
    assert "mos.image_size" in message


def test_network_names_equal_torchvisions_list():
    import torchvision.models

    assert (
        tuple(torchvision.models.list_models(module=torchvision.models)) == CLASSIFICATION_NETWORKS
    )


def test_load_config_names_the_file_on_bad_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("pool: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml is not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_cli_check_config_reports_errors_and_exit_status(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"pool": {"shard_size": 0}}))
    assert cli.main(["check-config", str(bad)]) == 2
    assert "pool.shard_size: must be >= 1, got 0" in capsys.readouterr().err
    good = tmp_path / "good.yaml"
    good.write_text("seed: 3\n")
    assert cli.main(["check-config", str(good), "--show"]) == 0
    assert "seed: 3" in capsys.readouterr().out


def test_cli_rankings_prints_the_studys_first_context(capsys):
    assert cli.main(["rankings", "--count", "2"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("c000  color > zoom_in > rotate > translate > darken > blur")


def test_the_sync_term_takes_a_mode_or_a_number_of_epochs():
    for sync in ("below_chance", "off", 3):
        assert validate_config({"train": {"sync": sync}})["train"]["sync"] == sync
    assert validate_config({})["train"]["sync"] == "below_chance"  # the study's default
    for bad in (0, "never", True):
        with pytest.raises(ConfigError) as raised:
            validate_config({"train": {"sync": bad}})
        assert (
            f"train.sync: expected one of below_chance, off; or an integer >= 1; got {bad!r}"
            in str(raised.value)
        )


# ---------------------------------------------------------------- mistakes caught at start-up


@pytest.mark.parametrize("section", ["train", "grid.direct"])
def test_zero_epochs_are_refused_before_any_job(section):
    zero = {"epochs_constant": 0, "epochs_decay": 0}
    config = {"train": zero} if section == "train" else {"grid": {"direct": zero}}
    message = _error(config)
    assert f"{section}.epochs_constant + {section}.epochs_decay" in message
    assert "at least one epoch, got 0 + 0" in message


def test_one_epoch_of_either_kind_is_enough():
    validate_config({"train": {"epochs_constant": 0, "epochs_decay": 1}})
    validate_config({"grid": {"direct": {"epochs_constant": 1, "epochs_decay": 0}}})
    # tune / scratch are not in the grid: their epochs are not used, so not checked
    no_direct = {"variants": ["lin"], "direct": {"epochs_constant": 0, "epochs_decay": 0}}
    validate_config({"grid": no_direct})


def test_rankings_given_to_the_generator_are_an_error_not_ignored():
    ranking = ["rotate", "translate", "darken", "color", "blur", "zoom_in"]
    message = _error({"contexts": {"rankings": [ranking]}})
    assert "contexts.rankings: given, but contexts.source is 'generator'" in message
    assert "set contexts.source: list" in message
    validate_config({"contexts": {"source": "list", "rankings": [ranking]}})


def test_device_error_lists_the_allowed_values_not_a_regex():
    message = _error({"device": "gpu"})
    assert "device: 'gpu' is not allowed; use auto, cpu, cuda or cuda:N" in message
    assert "^(" not in message


def test_mix_needs_the_spatial_readout():
    message = _error({"grid": {"variants": ["lin", "mix"], "readout": "mean"}})
    assert "grid.readout: variant mix is defined for the spatial readout only" in message
    assert validate_config({"grid": {"variants": ["mix"]}})["grid"]["mix"] == {
        "rank": 16,
        "contexts": None,
    }
