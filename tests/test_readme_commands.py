"""Every README command is translated to a run on the tiny config (CI runs them after set-up)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import readme_commands
from readme_commands import readme_commands as commands_of
from readme_commands import translate

REPO = Path(__file__).resolve().parents[1]


def test_every_readme_command_is_run_or_skipped_with_a_reason(tmp_path):
    commands = [translate(c, tmp_path) for c in commands_of((REPO / "README.md").read_text())]
    assert len(commands) >= 10
    for command in commands:
        assert command.argv or command.reason, command.readme
    readme = {c.readme: c for c in commands}
    report = readme[".venv/bin/snakemake --report reports/snakemake_report.html"]
    assert "--report" in report.argv and str(tmp_path) in report.argv  # the run it reports on
    for command in commands:
        assert "my.yaml" not in " ".join(command.argv)
        assert "config/paper.yaml" not in " ".join(command.argv)


def test_an_unknown_readme_command_fails_loudly(tmp_path):
    with pytest.raises(ValueError, match=r"is not known to readme_commands\.py"):
        translate("rm -rf results", tmp_path)


def test_commands_come_only_from_bash_blocks_without_comments():
    text = "```bash\nmake run   # all\n# a comment\n\nA=1 make x\n```\n```yaml\nkey: 1\n```\n"
    assert commands_of(text) == ["make run", "A=1 make x"]


def test_example_configs_become_the_tiny_config_and_make_gets_the_workdir(tmp_path):
    command = translate('make run CORES=8 SNAKEMAKE_ARGS="--configfile my.yaml"', tmp_path)
    assert command.argv[:4] == ("make", "-C", str(REPO), "run")
    assert "CORES=2" in command.argv
    args = next(a for a in command.argv if a.startswith("SNAKEMAKE_ARGS="))
    assert f"--configfile {REPO / readme_commands.TINY}" in args and f"-d {tmp_path}" in args
    gpus = translate("DPSIM_GPUS=0,2 .venv/bin/snakemake --resources gpu=2", tmp_path)
    assert gpus.env == (("DPSIM_GPUS", "0,2"),) and "--cores" in gpus.argv
    slurm = translate(".venv/bin/snakemake --workflow-profile profiles/slurm", tmp_path)
    assert slurm.needs_slurm and "--cores" not in slurm.argv
