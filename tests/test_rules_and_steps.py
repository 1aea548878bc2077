"""Every rule has a script and a step of its name, and every step and settings function a rule."""

from __future__ import annotations

import ast
import importlib
import inspect
import re

import pytest

from dpsim.steps import keys

# `rule name:`, or `rule:` with a `name:` made in a loop (the packs of dpsim.packs: named
# <step>_<pack>, they run the step of their script's name).
RULE = re.compile(r"^\s*rule( \w+)?:", re.M)
SCRIPT = re.compile(r'^\s*script:\s*\n\s*"\.\./workflow_scripts/(\w+)\.py"', re.M)
SETTINGS = re.compile(r'settings=settings\("(\w+)"')


def _rules(repo) -> dict[str, tuple[str, str]]:
    """rule (for a loop of rules: its step) -> (rules file stem, the rule's own text), for every
    rule of rules/*.smk."""
    found = {}
    for path in sorted((repo / "rules").glob("*.smk")):
        text = path.read_text()
        starts = [(m.group(1), m.start()) for m in RULE.finditer(text)]
        ends = [start for _, start in starts[1:]] + [len(text)]
        for (name, start), end in zip(starts, ends[: len(starts)], strict=True):
            body = text[start:end]
            if name is None:  # a rule made in a loop: named by its `name:`, runs its script
                assert "name:" in body, f"an unnamed rule in {path.name}"
                name = SCRIPT.findall(body)[0]
            found[name.strip()] = (path.stem, body)
    return found


def test_every_rule_has_a_script_and_a_step_of_its_name(repo):
    rules = _rules(repo)
    assert len(rules) >= 20
    for rule, (stem, text) in rules.items():
        assert SCRIPT.findall(text) == [rule], f"rule {rule} must run workflow_scripts/{rule}.py"
        script = (repo / "workflow_scripts" / f"{rule}.py").read_text()
        calls = [node for node in ast.walk(ast.parse(script)) if isinstance(node, ast.Call)]
        assert [ast.unparse(c) for c in calls] == [f"run(snakemake, {stem}.{rule})"], rule
        step = getattr(importlib.import_module(f"dpsim.steps.{stem}"), rule)
        assert list(inspect.signature(step).parameters)[:3] == ["settings", "inputs", "outputs"]
        assert SETTINGS.findall(text) in ([], [rule]), f"rule {rule} passes another rule's keys"
        if SETTINGS.findall(text):
            assert rule in keys.RULES, rule


def test_every_step_and_settings_function_belongs_to_a_rule(repo):
    rules = _rules(repo)
    for stem in {stem for stem, _ in rules.values()}:
        module = importlib.import_module(f"dpsim.steps.{stem}")
        steps = [
            name
            for name, value in vars(module).items()
            if inspect.isfunction(value)
            and value.__module__ == module.__name__
            and not name.startswith("_")
        ]
        assert steps and all(rules[name][0] == stem for name in steps), (stem, steps)
    used = {name for _, text in rules.values() for name in SETTINGS.findall(text)}
    assert used == set(keys.RULES)
    scripts = {path.stem for path in (repo / "workflow_scripts").glob("*.py")}
    assert scripts == set(rules)


def test_keys_pick_nested_values_sorted_and_name_a_missing_key():
    config = {"b": {"y": 1, "x": [2, (3, 4)]}, "a": 5}
    picked = keys.pick(config, "b.x", "a")
    assert picked == {"a": 5, "b": {"x": [2, [3, 4]]}} and list(picked) == ["a", "b"]
    with pytest.raises(KeyError, match=r"config key b\.z does not exist"):
        keys.pick(config, "b.z")


def test_a_step_reads_its_files_by_name():
    from dpsim.steps.job import named_files

    class Files(list):  # the shape of Snakemake's Namedlist
        def __init__(self, items, names):
            super().__init__(items)
            self._names = names

        def items(self):
            return self._names.items()

    named = Files(["a", "b", "c"], {"one": "a", "rest": Files(["b", "c"], {})})
    assert named_files(named, "input", "r") == {"one": "a", "rest": ["b", "c"]}
    with pytest.raises(ValueError, match="rule r: 2 of its input files have no name"):
        named_files(Files(["a", "b", "c"], {"one": "a"}), "input", "r")


def test_the_step_table_lists_every_rule_under_its_rules_file(repo):
    from dpsim import steps

    assert {rule: stem for rule, (stem, _) in _rules(repo).items()} == steps.MODULES
    assert steps.step("adapt_direct").__module__ == "dpsim.steps.adapt"
    with pytest.raises(KeyError, match="no rule named 'adapt'"):
        steps.step("adapt")
