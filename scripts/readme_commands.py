"""Run every command of the README's ``bash`` blocks on the tiny test config, as a new user would.

Each command line is translated: config files named in the README (``my.yaml``,
``config/paper.yaml``, ...) become ``tests/configs/tiny.yaml``, Snakemake runs in a scratch work
directory with 2 cores, ``make run`` gets the same through ``SNAKEMAKE_ARGS``. A few commands are
not run, each for a stated reason (:data:`NOT_RUN`); a README command this script does not
recognise is an error, so a new command in the README cannot go untested.

    python scripts/readme_commands.py                   # the commands and their translations
    python scripts/readme_commands.py --run [--workdir DIR]

CI runs it right after ``make install`` (the workflow's packages only, no test tools), so a
command that needs a package only the test extras bring (``snakemake --report`` needs pygments)
fails there, as it would for a user.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dpsim.cluster import controller_answers

REPO = Path(__file__).resolve().parents[1]
TINY = "tests/configs/tiny.yaml"
#: Config files the README's examples name; each is replaced by the tiny config.
EXAMPLE_CONFIGS = ("my.yaml", "my_grid.yaml", "config/paper.yaml", "config/paper_svhn.yaml")

#: Commands not run, by their start, with the reason.
NOT_RUN = {
    "make test": "is the test suite itself (CI runs it next)",
    "make bench": "times the code for minutes on a noisy machine; it checks speed, not behaviour",
}
#: Commands that submit to SLURM: run only where a controller answers (tests/test_slurm.py
#: runs the whole workflow through SLURM in CI).
SLURM_MARK = "--workflow-profile profiles/slurm"


@dataclass(frozen=True)
class Command:
    """One README command and what is run for it (``argv`` empty: not run, see ``reason``)."""

    readme: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    reason: str = ""
    needs_slurm: bool = False


def readme_commands(text: str) -> list[str]:
    """The command lines of the ``bash`` code blocks, comments and blank lines dropped."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def translate(command: str, workdir: Path) -> Command:
    """What to run for a README ``command`` on the tiny config in ``workdir``."""
    for start, reason in NOT_RUN.items():
        if command.startswith(start):
            return Command(command, (), reason=reason)
    words = shlex.split(command.replace(" ...", ""))
    env = []
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        env.append(words.pop(0).split("=", 1))
    words = _tiny_configs(words)
    if words[:2] == ["make", "run"]:
        argv = _make_run(words, workdir)
    elif "snakemake" in " ".join(words[:8]) and words[0] in ("timeout", ".venv/bin/snakemake"):
        argv = _snakemake(words, workdir)
    elif words[:2] == [".venv/bin/dpsim", "adapt"]:
        argv = _adapt(words, workdir)
    elif words[0] == ".venv/bin/dpsim":
        argv = [str(REPO / ".venv/bin/dpsim"), *words[1:]]
        argv += ["--workdir", str(workdir)] if words[1] in ("preflight", "profile") else []
    else:
        raise ValueError(
            f"README command {command!r} is not known to {Path(__file__).name}: teach "
            "translate() how to run it on the tiny config, or add it to NOT_RUN with a reason"
        )
    pairs = tuple((name, value) for name, value in env)
    return Command(command, tuple(argv), pairs, needs_slurm=SLURM_MARK in command)


def _adapt(words: list[str], workdir: Path) -> list[str]:
    """``dpsim adapt``: its run folder in the work directory, the tiny config merged last, and
    2 cores (an ``--images`` folder of the README is not on this machine: the embedded photos)."""
    argv, rest = [str(REPO / ".venv/bin/dpsim"), "adapt"], iter(words[2:])
    config, out = REPO / TINY, workdir / "adapt"
    for word in rest:
        if word in ("--out", "--images", "--config", "--cores"):
            next(rest)  # its value: replaced below, or the default used
        elif word == "--triplets":  # the README's table is the user's: a generated one here
            next(rest)
            argv += ["--triplets", str(_judgments_fixture(workdir))]
            config = _tiny_with(workdir, {"pool": {"train_draws": 1}})
            out = workdir / "adapt_triplets"
        else:
            argv.append(word)
    return [*argv, "--out", str(out), "--config", str(config), "--cores", "2"]


def _judgments_fixture(workdir: Path) -> Path:
    from dpsim.data.judgment_fixture import write_judgment_fixture

    return write_judgment_fixture(workdir / "judgments", count=60)


def _tiny_with(workdir: Path, changes: dict) -> Path:
    """The tiny config with ``changes`` merged in, written into the work directory."""
    import yaml

    from dpsim.adapt_command import merged

    config = merged(yaml.safe_load((REPO / TINY).read_text()), changes)
    path = workdir / "tiny_for_adapt.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _tiny_configs(words: list[str]) -> list[str]:
    """Every example config named becomes the tiny config (once: a second file is dropped)."""
    out: list[str] = []
    for word in words:
        for example in EXAMPLE_CONFIGS:
            word = re.sub(rf"(?<![\w/]){re.escape(example)}\b", str(REPO / TINY), word)
        if word == str(REPO / TINY) and out and out[-1] == str(REPO / TINY):
            continue
        out.append(word)
    return out


def _make_run(words: list[str], workdir: Path) -> list[str]:
    """``make run [VAR=...]``: the variables kept, the work directory and tiny config added."""
    variables = dict(w.split("=", 1) for w in words[2:])
    extra = variables.pop("SNAKEMAKE_ARGS", "")
    if "--configfile" not in extra:
        extra += f" --configfile {REPO / TINY}"
    variables["SNAKEMAKE_ARGS"] = f"{extra} -d {workdir}".strip()
    variables["CORES"] = "2"
    return ["make", "-C", str(REPO), "run", *(f"{k}={v}" for k, v in variables.items())]


def _snakemake(words: list[str], workdir: Path) -> list[str]:
    """A Snakemake call, run from the repository on the tiny config in ``workdir``."""
    at = next(i for i, w in enumerate(words) if w.endswith("snakemake"))
    args = [w for w in words[at + 1 :] if w != "-d" and not w.startswith("runs/")]
    if "--configfile" not in args:
        args = ["--configfile", str(REPO / TINY), *args]
    if "--jobs" not in args and SLURM_MARK not in " ".join(args):
        args += ["--cores", "2"]
    program = [str(REPO / ".venv/bin/snakemake"), "-s", str(REPO / "Snakefile")]
    return [*words[:at], *program, "-d", str(workdir), *args]


def run_all(commands: list[Command], workdir: Path) -> list[str]:
    """Run each command in turn (the first builds the run, the rest reuse it); the failures."""
    failures = []
    slurm = controller_answers()
    for command in commands:
        if not command.argv or (command.needs_slurm and not slurm):
            why = command.reason or "no SLURM controller answers here"
            print(f"-- not run: {command.readme}  ({why})", flush=True)
            continue
        print(f"-- {command.readme}\n   $ {shlex.join(command.argv)}", flush=True)
        started = time.monotonic()
        done = subprocess.run(
            command.argv,
            cwd=REPO,
            env={**os.environ, **dict(command.env)},
            capture_output=True,
            text=True,
        )
        print(f"   exit {done.returncode} after {time.monotonic() - started:.0f} s", flush=True)
        if done.returncode != 0:
            failures.append(f"{command.readme}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", action="store_true", help="run the commands (else list them)")
    parser.add_argument("--workdir", type=Path, help="work directory (default: a temporary one)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dpsim-readme-"))
    commands = [translate(c, workdir) for c in readme_commands((REPO / "README.md").read_text())]
    if not args.run:
        for command in commands:
            print(f"{command.readme}\n  -> {shlex.join(command.argv) or command.reason}")
        return 0
    failures = run_all(commands, workdir)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    print(f"{len(commands) - len(failures)} of {len(commands)} README commands passed or skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
