"""Run ``snakemake --lint`` and fail on every lint except the advice to use conda or containers.

dpsim installs into one virtual environment (see the README), and conda cannot be tested here, so
"Specify a conda environment or container for each rule" is the one lint we accept. ``--lint json``
of Snakemake 9.27 still prints text, so the text is parsed: each lint is a line ``    * title:``.

Usage: python scripts/lint_workflow.py [extra snakemake arguments, e.g. --configfile FILE]
"""

from __future__ import annotations

import re
import subprocess
import sys

ACCEPTED = ("Specify a conda environment or container for each rule.",)
LINT_LINE = re.compile(r"^\s+\* (?P<title>.+?):?\s*$")
HEADER_LINE = re.compile(r"^Lints for (?P<where>.+?):\s*$")


def unexpected_lints(text: str) -> list[str]:
    """Each lint in ``snakemake --lint`` output that is not accepted, as 'where: title'."""
    found, where = [], "workflow"
    for line in text.splitlines():
        header = HEADER_LINE.match(line)
        if header:
            where = header["where"]
            continue
        lint = LINT_LINE.match(line)
        if lint and lint["title"].rstrip(":") not in ACCEPTED:
            found.append(f"{where}: {lint['title']}")
    return found


def main(argv: list[str]) -> int:
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", *argv], capture_output=True, text=True
    )
    text = run.stdout + run.stderr
    problems = unexpected_lints(text)
    if "Lints for" not in text and run.returncode != 0:
        print(text, file=sys.stderr)
        print("snakemake --lint failed before linting (see above)", file=sys.stderr)
        return 1
    if problems:
        print(text, file=sys.stderr)
        print("Unexpected Snakemake lints:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print("snakemake --lint: clean (apart from the accepted conda/container advice)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
