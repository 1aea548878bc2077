"""Load and validate dpsim configs: one clear error naming every bad key, defaults filled in.

The JSON schema (``config/schema.yaml``, shipped in the package as ``dpsim/schema.yaml``) says
which keys exist, their types, ranges and defaults. On top of it, checks that a schema cannot
express well (rankings, network names, cross-key rules) are made here. All problems are gathered
and raised together as one :class:`ConfigError`, before any job runs.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dpsim import distortion_params
from dpsim.contexts import check_ranking
from dpsim.names import (
    BACKBONE_TRAINED,
    BUILTIN_DISTORTIONS,
    CLASSIFICATION_NETWORKS,
    RESERVED_DATASETS,
    STUDY_NETWORKS,
)
from dpsim.presets import PRESETS
from dpsim.registry import describe_choice, suggest
from dpsim.taps import readout_taps, resolve_taps


class ConfigError(ValueError):
    """A config file or mapping that does not satisfy the schema; the message lists each problem."""


def schema_path() -> Path:
    """Location of the schema shipped with the package."""
    return Path(str(resources.files("dpsim").joinpath("schema.yaml")))


@functools.cache
def load_schema(path: str | None = None) -> dict[str, Any]:
    """The config schema as a dict (cached)."""
    with open(path or schema_path()) as handle:
        return yaml.safe_load(handle)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file, validate it and return it with defaults filled in."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    return validate_config({} if data is None else data, source=str(path))


def validate_config(config: Any, source: str = "config") -> dict[str, Any]:
    """A validated copy of ``config`` with defaults filled in; raises :class:`ConfigError`."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys, got {config!r}")
    filled = copy.deepcopy(config)
    schema = load_schema()
    validator = _validator_with_defaults()(schema)
    problems = [_describe(error, schema) for error in _sorted_errors(validator, filled)]
    problems += _semantic_problems(filled)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"invalid {source} ({count}):\n{listing}")
    return filled


@functools.cache
def _validator_with_defaults() -> type:
    """A Draft 2020-12 validator that also writes each missing key's default into the instance."""
    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, subschema in properties.items():
                if "default" in subschema:
                    instance.setdefault(key, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": properties_with_defaults})


def _sorted_errors(validator: Any, instance: dict) -> list[jsonschema.ValidationError]:
    return sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])


def key_path(parts: Any) -> str:
    """Render a path like ``contexts.rankings[0]`` from a sequence of keys and indices."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _describe(error: jsonschema.ValidationError, schema: dict) -> str:
    """One line per schema violation: the key path, what is wrong, what is allowed."""
    path = key_path(error.absolute_path)
    kind, value = error.validator, error.instance
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed))
        lines = []
        for name in unknown:
            where = key_path([*error.absolute_path, name])
            hint = suggest(name, allowed)
            lines.append(
                f"{where}: unknown key; allowed keys here are {', '.join(allowed)}"
                + (f" (did you mean {hint!r}?)" if hint else "")
            )
        return "\n  - ".join(lines)
    if kind == "enum":
        return f"{path}: {describe_choice(value, error.validator_value)}"
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{path}: expected {expected}, got {value!r} ({type(value).__name__})"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
        return f"{path}: must be {sign[kind]} {error.validator_value}, got {value!r}"
    if kind == "pattern" and "x-allowed" in error.schema:
        return f"{path}: {value!r} is not allowed; use {error.schema['x-allowed']}"
    if kind == "anyOf":
        choices = "; or ".join(_alternative(option) for option in error.validator_value)
        return f"{path}: expected {choices}; got {value!r}"
    description = _description_at(schema, error.absolute_schema_path)
    return f"{path}: {error.message}" + (f" ({description})" if description else "")


def _alternative(option: dict[str, Any]) -> str:
    """One branch of an ``anyOf``, said in words: ``one of a, b``, ``an integer >= 1``, ..."""
    if "enum" in option:
        return "one of " + ", ".join(map(str, option["enum"]))
    kind = option.get("type", "value")
    words = {
        "integer": "an integer",
        "array": "a list",
        "object": "a mapping",
        "string": "a string",
    }
    text = words.get(kind, f"a {kind}")
    if "minimum" in option:
        text += f" >= {option['minimum']}"
    return text


def _description_at(schema: dict, schema_path: Any) -> str:
    """The ``description`` of the innermost schema node on ``schema_path`` that has one."""
    node, found = schema, ""
    for part in list(schema_path)[:-1]:
        node = node[part]
        if isinstance(node, dict) and "description" in node:
            found = " ".join(str(node["description"]).split())
    return found


def _semantic_problems(config: dict) -> Iterator[str]:
    """Checks beyond the schema: rankings, network names, and rules that link several keys.

    Each check runs on its own; one that trips over a malformed value (already reported by the
    schema) is skipped, so every independent problem is still reported in the same error.
    """
    checks = (
        _distortion_problems,
        _ranking_problems,
        _network_problems,
        _image_problems,
        _bapps_problems,
        _judgment_set_problems,
    )
    more = (
        _training_problems,
        _mix_problems,
        _stats_problems,
        _readout_problems,
        _mos_problems,
    )
    for check in (*checks, *more):
        try:
            yield from list(check(config))
        except (KeyError, TypeError, AttributeError):
            continue


def _distortion_problems(config: dict) -> Iterator[str]:
    section = config["distortions"]
    plugins = section["plugins"]
    for name in plugins:
        if name in BUILTIN_DISTORTIONS:
            yield (
                f"distortions.plugins.{name}: {name!r} is a built-in distortion; give the "
                "plug-in another name"
            )
    known = (*BUILTIN_DISTORTIONS, *plugins)
    for index, name in enumerate(section["set"]):
        if name not in known:
            yield (
                f"distortions.set[{index}]: {describe_choice(name, known)}; a plug-in must be "
                "named in distortions.plugins"
            )
    for name, given in section["params"].items():
        yield from distortion_params.problems(name, given, f"distortions.params.{name}")
    size = config["images"]["size"]
    if "blur" in section["set"]:
        widest = max(
            distortion_params.resolved("blur", section["params"].get("blur"))["kernel_sizes"]
        )
        if widest // 2 >= size:
            yield (
                f"distortions.params.blur.kernel_sizes: kernels up to {widest} pixels wide need "
                f"images larger than {widest // 2} pixels (images.size is {size}); give "
                "smaller kernel sizes or a larger images.size"
            )


def _ranking_problems(config: dict) -> Iterator[str]:
    contexts = config["contexts"]
    names = config["distortions"]["set"]
    for index, ranking in enumerate(contexts["rankings"]):
        try:
            check_ranking(ranking, f"contexts.rankings[{index}]", names)
        except ValueError as error:
            yield str(error)
    if contexts["source"] == "list" and not contexts["rankings"]:
        yield "contexts.rankings: contexts.source is 'list' but the list is empty"
    if contexts["source"] == "judgments":
        yield from _judgments_problems(config)
    if contexts["source"] == "generator" and contexts["rankings"]:
        yield (
            "contexts.rankings: given, but contexts.source is 'generator', which ignores it; set "
            "contexts.source: list to use these rankings, or remove contexts.rankings"
        )
    possible = math.factorial(len(names))
    if contexts["source"] == "generator" and contexts["distinct"] and contexts["count"] > possible:
        yield (
            f"contexts.count: only {possible} distinct rankings of {len(names)} distortions "
            f"exist, asked for {contexts['count']}"
        )


def _judgments_problems(config: dict) -> Iterator[str]:
    section = config["contexts"]["judgments"]
    if section["path"] is None:
        yield (
            "contexts.judgments.path: contexts.source is 'judgments' but no file or folder is "
            "given; name your CSV (or BAPPS-layout folder)"
        )
    if config["contexts"]["rankings"]:
        yield "contexts.rankings: given, but contexts.source is 'judgments', which ignores them"
    if config["pool"]["train_draws"] != 1:
        yield (
            f"pool.train_draws: {config['pool']['train_draws']}, but judgments have one training "
            "set (no fresh draws to make): set pool.train_draws: 1"
        )
    total = sum(section["fractions"].values())
    if abs(total - 1.0) > 1e-9:
        yield f"contexts.judgments.fractions: train, val and test sum to {total:g}, not 1"
    needs_votes = section["min_votes"] is not None and section["format"] == "csv"
    if needs_votes and section["columns"]["votes"] is None:
        yield "contexts.judgments.min_votes: needs contexts.judgments.columns.votes"


def _judgment_set_problems(config: dict) -> Iterator[str]:
    """What the schema cannot say of ``evaluate.judgment_sets``: names that would read as
    BAPPS's rows, and options the set's format cannot serve."""
    for name, section in config["evaluate"]["judgment_sets"].items():
        where = f"evaluate.judgment_sets.{name}"
        if name in RESERVED_DATASETS:
            yield (
                f"{where}: the name {name!r} is taken by BAPPS or the context rows "
                f"({', '.join(RESERVED_DATASETS)}); give the set another name"
            )
        columns, form = section["columns"], section["format"]
        if form == "bapps" and (section["split"] is not None or section["min_votes"] is not None):
            yield f"{where}: a BAPPS-layout folder has no split or votes; drop split and min_votes"
        if form == "csv" and section["split"] is not None and columns["split"] is None:
            yield f"{where}.split: needs {where}.columns.split (the column naming each row's split)"
        if form == "csv" and section["min_votes"] is not None and columns["votes"] is None:
            yield f"{where}.min_votes: needs {where}.columns.votes"


def _network_problems(config: dict) -> Iterator[str]:
    for index, name in enumerate(config["grid"]["networks"]):
        if name not in CLASSIFICATION_NETWORKS:
            yield f"grid.networks[{index}]: {describe_network(name)}"
        else:
            yield from _tap_problem(f"grid.taps ({name})", name, config["grid"]["taps"])


def _tap_problem(where: str, network: str, taps: object) -> Iterator[str]:
    """A tap set the network does not have (or a malformed list), said before any job runs."""
    try:
        resolve_taps(network, taps)  # type: ignore[arg-type]
    except ValueError as error:
        yield f"{where}: {error}"


def _image_problems(config: dict) -> Iterator[str]:
    images = config["images"]
    if images["source"] == "folder" and not images["folder"]["path"]:
        yield "images.folder.path: images.source is 'folder' but no folder path is given"
    if images["val_fraction"] + images["test_fraction"] >= 1:
        yield (
            "images.val_fraction + images.test_fraction: must leave images for training, got "
            f"{images['val_fraction']} + {images['test_fraction']}"
        )


def _bapps_problems(config: dict) -> Iterator[str]:
    bapps = config["bapps"]
    if bapps["source"] == "local" and not bapps["path"]:
        yield "bapps.path: bapps.source is 'local' but no path is given (the folder holding 2afc/)"


def _training_problems(config: dict) -> Iterator[str]:
    """Training needs at least one epoch: for lin (``train``) and for tune / scratch."""
    train = config["train"]
    preset = PRESETS[train["preset"]]
    epochs = {
        key: preset[key] if train[key] is None else train[key]
        for key in ("epochs_constant", "epochs_decay")
    }
    if sum(epochs.values()) < 1:
        yield (
            "train.epochs_constant + train.epochs_decay: training needs at least one epoch, got "
            f"{epochs['epochs_constant']} + {epochs['epochs_decay']}; set either to 1 or more "
            "(null takes the preset's 5 + 5)"
        )
        return
    if not set(BACKBONE_TRAINED) & set(config["grid"]["variants"]):
        return
    direct = config["grid"]["direct"]
    chosen = {k: epochs[k] if direct[k] is None else direct[k] for k in epochs}
    if sum(chosen.values()) < 1:
        yield (
            "grid.direct.epochs_constant + grid.direct.epochs_decay: lora / bitfit / tune / "
            "scratch need at least "
            f"one epoch, got {chosen['epochs_constant']} + {chosen['epochs_decay']}; set either "
            "to 1 or more (null takes train's)"
        )


def _mix_problems(config: dict) -> Iterator[str]:
    """mix's channel mixing is a spatial mean of squared norms: it needs the spatial readout."""
    grid = config["grid"]
    if "mix" in grid["variants"] and grid["readout"] != "spatial":
        yield (
            f"grid.readout: variant mix is defined for the spatial readout only, got "
            f"{grid['readout']!r}; set grid.readout: spatial or drop mix from grid.variants"
        )


def _stats_problems(config: dict) -> Iterator[str]:
    baseline = config["stats"]["baseline"]
    if baseline not in config["evaluate"]["baselines"]:
        yield (
            f"stats.baseline: {baseline!r} is the comparison of every test but is not evaluated; "
            f"add it to evaluate.baselines (now {config['evaluate']['baselines']})"
        )


def _readout_problems(config: dict) -> Iterator[str]:
    section = config["readout"]
    for index, name in enumerate(section["networks"]):
        if name not in CLASSIFICATION_NETWORKS:
            yield f"readout.networks[{index}]: {describe_network(name)}"
        else:
            yield from (
                f"{problem} (readout.taps may also map each network to its own choice, e.g. "
                "{alexnet: lpips, vgg16: lpips})"
                for problem in _tap_problem(
                    f"readout.taps ({name})", name, readout_taps(section, name)
                )
            )
    if isinstance(section["taps"], dict):
        for name in section["taps"]:
            if name not in section["networks"]:
                close = suggest(name, section["networks"])
                hint = f" (did you mean {close!r}?)" if close else ""
                yield (
                    f"readout.taps: {name!r} is not in readout.networks{hint}; a tap choice "
                    f"needs its network listed there (now {section['networks']})"
                )


def _mos_problems(config: dict) -> Iterator[str]:
    for index, entry in enumerate(config["mos"]["sets"]):
        if entry["format"] != "fixture" and not entry.get("path"):
            yield (
                f"mos.sets[{index}]: format {entry['format']!r} needs a `path` "
                "(the CSV file, or the dataset's folder for kadid10k / tid2013)"
            )
    fixtures = [e for e in config["mos"]["sets"] if e["format"] == "fixture"]
    if len(fixtures) > 1:
        yield "mos.sets: the fixture is listed more than once"


def describe_network(name: str) -> str:
    """Explain an unknown network name without dumping the ~80 names torchvision knows."""
    hint = suggest(name, CLASSIFICATION_NETWORKS)
    return (
        f"{name!r} is not a torchvision classification network"
        + (f" (did you mean {hint!r}?)" if hint else "")
        + f"; the study's networks are {', '.join(STUDY_NETWORKS)}; `dpsim info` lists them all"
    )
