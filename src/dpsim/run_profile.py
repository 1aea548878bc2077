"""Where a workflow run's time went: per rule, its jobs' wall time, start-up and step time.

Two sources, both written by every run:

- Snakemake's own log (``.snakemake/log/<date>.snakemake.log``) names each job's rule, job id
  and log file, and stamps (to the second) when it was started and when it finished;
- each job's log, where :func:`dpsim.runtime.start_job` writes how long the process had run
  when the step took over (interpreter, Snakemake's script preamble, imports: the start-up)
  and :func:`dpsim.steps.job.run` how long the step itself took.

:func:`profile_run` joins them into one row per rule; ``dpsim profile`` prints it. Packed rules
(``adapt_direct_c000_c009``, one per pack) are counted under their family, ``adapt_direct``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from dpsim.packs import is_pack_rule

#: Columns of :func:`profile_run`'s table, one row per rule.
PROFILE_COLUMNS = (
    "rule",
    "jobs",
    "wall_s",
    "longest_s",
    "startup_s",
    "step_s",
    "share",
)

_STAMP = re.compile(r"^\[(\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4})\]$")
_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\S+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_LOG = re.compile(r"^\s+log: (.+)$")
_FINISHED = re.compile(r"^Finished job(?:id:)? (\d+)\.?")
#: The lines :mod:`dpsim.runtime` and :mod:`dpsim.steps.job` write in a job's log.
STARTUP_LINE = re.compile(r"job started: .*?, ([\d.]+) s after the process started")
STEP_LINE = re.compile(r"step finished in ([\d.]+) s")


@dataclass(frozen=True)
class JobTimes:
    """One job of a run, as Snakemake's log tells it."""

    rule: str
    jobid: int
    started: datetime
    finished: datetime
    log: str | None

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds()


def _stamp(text: str) -> datetime:
    return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")


def jobs_of_log(lines: Iterable[str]) -> list[JobTimes]:
    """The finished jobs of a Snakemake log, with their rule, job id, log file and times.

    A job is stamped with the time printed above its ``rule`` block and finished at the stamp
    above its ``Finished job`` line; jobs that never finished (a failed or killed run) are left
    out.
    """
    stamp: datetime | None = None
    rule: str | None = None
    log: str | None = None
    pending: dict[int, tuple[str, datetime, str | None]] = {}
    done: list[JobTimes] = []
    for line in lines:
        line = line.rstrip("\n")
        if match := _STAMP.match(line):
            stamp = _stamp(match.group(1))
        elif match := _RULE.match(line):
            rule, log = match.group(1), None
        elif (match := _LOG.match(line)) and rule is not None:
            log = match.group(1).split(",")[0].strip()
        elif (match := _JOBID.match(line)) and rule is not None and stamp is not None:
            pending[int(match.group(1))] = (rule, stamp, log)
            rule = None
        elif (match := _FINISHED.match(line)) and stamp and int(match.group(1)) in pending:
            jobid = int(match.group(1))
            name, started, job_log = pending.pop(jobid)
            done.append(JobTimes(name, jobid, started, stamp, job_log))
    return done


def job_phases(log_file: str | Path) -> tuple[float, float]:
    """(start-up, step) seconds a job's log records; NaN for what it does not say."""
    startup = step = float("nan")
    try:
        text = Path(log_file).read_text(errors="replace")
    except OSError:
        return startup, step
    if match := STARTUP_LINE.search(text):
        startup = float(match.group(1))
    if found := STEP_LINE.findall(text):
        step = float(found[-1])
    return startup, step


def family(rule: str) -> str:
    """The rule a job counts under: a pack rule under ``adapt_direct``, others as they are."""
    return "adapt_direct" if is_pack_rule(rule) else rule


def finished_jobs(snakemake_log: str | Path) -> list[JobTimes]:
    """The finished jobs of a Snakemake log file; an error when it has none."""
    jobs = jobs_of_log(Path(snakemake_log).read_text(errors="replace").splitlines())
    if not jobs:
        raise ValueError(f"{snakemake_log}: no finished job in this Snakemake log")
    return jobs


def profile_run(snakemake_log: str | Path, root: str | Path = ".") -> pd.DataFrame:
    """One row per rule of a run (:data:`PROFILE_COLUMNS`), the costliest first.

    ``wall_s`` sums its jobs' wall times (Snakemake's stamps, to the second), ``longest_s`` is
    its longest job, ``startup_s`` and ``step_s`` sum what the jobs' logs record (``root`` is the
    folder the run ran in), ``share`` is ``wall_s`` over the run's total job time.
    """
    jobs = finished_jobs(snakemake_log)
    rows = []
    for job in jobs:
        startup, step = job_phases(Path(root) / job.log) if job.log else (float("nan"),) * 2
        rows.append(
            {"rule": family(job.rule), "wall": job.seconds, "startup": startup, "step": step}
        )
    table = pd.DataFrame(rows).groupby("rule", sort=False)
    out = pd.DataFrame(
        {
            "jobs": table.size(),
            "wall_s": table["wall"].sum(),
            "longest_s": table["wall"].max(),
            "startup_s": table["startup"].sum(min_count=1),
            "step_s": table["step"].sum(min_count=1),
        }
    ).reset_index()
    out["share"] = out["wall_s"] / out["wall_s"].sum()
    return out.sort_values(["wall_s", "rule"], ascending=[False, True], ignore_index=True)[
        list(PROFILE_COLUMNS)
    ]


def latest_log(root: str | Path = ".") -> Path:
    """The newest Snakemake log under ``root``/.snakemake/log that records a finished job.

    Logs of runs that did nothing (a dry run, "Nothing to be done", a run that failed before its
    first job) are passed over, so ``dpsim profile`` after such a run still shows the last run
    that worked.
    """
    folder = Path(root) / ".snakemake" / "log"
    logs = sorted(folder.glob("*.snakemake.log"), reverse=True)
    if not logs:
        raise FileNotFoundError(f"no Snakemake log under {folder}")
    for log in logs:
        if jobs_of_log(log.read_text(errors="replace").splitlines()):
            return log
    raise ValueError(
        f"none of the {len(logs)} Snakemake log(s) under {folder} records a finished job: "
        "run the workflow first, or name a log with --log"
    )


def run_span(snakemake_log: str | Path) -> float:
    """Seconds from the first job's start to the last job's end."""
    jobs = finished_jobs(snakemake_log)
    return (max(j.finished for j in jobs) - min(j.started for j in jobs)).total_seconds()


def markdown(table: pd.DataFrame) -> str:
    """The profile as a Markdown table (seconds to one decimal, shares in percent)."""
    header = "| rule | jobs | wall s | longest s | start-up s | step s | share |"
    lines = [header, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in table.itertuples(index=False):
        cells = [f"{value:.1f}" for value in (row.wall_s, row.longest_s, row.startup_s, row.step_s)]
        lines.append(
            f"| {row.rule} | {row.jobs} | " + " | ".join(cells) + f" | {100 * row.share:.0f}% |"
        )
    return "\n".join(lines)
