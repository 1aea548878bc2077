"""Where a run's time went: Snakemake's log joined with the jobs' own start-up and step lines."""

from __future__ import annotations

import math

import pytest

from dpsim import run_profile

#: A Snakemake 9 log in the form it writes (two jobs in parallel, a pack rule, a failed job).
SNAKEMAKE_LOG = """\
Building DAG of jobs...
Select jobs to execute...
Execute 2 jobs...
[Wed Dec  2 15:18:04 2026]
localrule rankings:
    output: results/contexts/rankings.parquet
    log: logs/contexts/rankings.log
    jobid: 1
    reason: Missing output files: results/contexts/rankings.parquet
    resources: tmpdir=/tmp, runtime=5, mem_mb=1000, mem=1 GB, mem_mib=954
[Wed Dec  2 15:18:04 2026]
rule adapt_direct_c000_c002:
    input: results/pool/train/draw0
    output: results/metrics/alexnet/tune/c000/seed0/last.pt
    log: logs/adapt/alexnet_tune_c000_c002_seed0.log
    jobid: 12
    wildcards: network=alexnet, variant=tune, seed=0
[Wed Dec  2 15:18:06 2026]
Finished jobid: 1 (Rule: rankings)
1 of 4 steps (25%) done
[Wed Dec  2 15:18:06 2026]
rule adapt_direct_c003_c004:
    log: logs/adapt/alexnet_tune_c003_c004_seed0.log
    jobid: 13
[Wed Dec  2 15:18:30 2026]
Finished jobid: 12 (Rule: adapt_direct_c000_c002)
[Wed Dec  2 15:18:40 2026]
Finished jobid: 13 (Rule: adapt_direct_c003_c004)
[Wed Dec  2 15:18:41 2026]
rule report:
    log: logs/report.log
    jobid: 20
[Wed Dec  2 15:18:45 2026]
Error in rule report:
"""


def test_jobs_carry_their_rule_log_and_stamped_times():
    jobs = run_profile.jobs_of_log(SNAKEMAKE_LOG.splitlines())
    assert [(j.rule, j.jobid, j.log, j.seconds) for j in jobs] == [
        ("rankings", 1, "logs/contexts/rankings.log", 2.0),
        ("adapt_direct_c000_c002", 12, "logs/adapt/alexnet_tune_c000_c002_seed0.log", 26.0),
        ("adapt_direct_c003_c004", 13, "logs/adapt/alexnet_tune_c003_c004_seed0.log", 34.0),
    ]  # the failed report job never finished, so it is not counted


def test_the_profile_sums_wall_start_up_and_step_per_rule_family(tmp_path):
    (tmp_path / ".snakemake" / "log").mkdir(parents=True)
    log = tmp_path / ".snakemake" / "log" / "2026-12-02T151801.snakemake.log"
    log.write_text(SNAKEMAKE_LOG)
    for name, startup, step in (("c000_c002", 3.5, 21.25), ("c003_c004", 4.0, 29.5)):
        job_log = tmp_path / f"logs/adapt/alexnet_tune_{name}_seed0.log"
        job_log.parent.mkdir(parents=True, exist_ok=True)
        job_log.write_text(
            f"2026-12-02 15:18:08,000 INFO dpsim.runtime: job started: pid 7, 1 thread(s), "
            f"{startup} s after the process started\n"
            f"2026-12-02 15:18:29,000 INFO dpsim.steps.job: step finished in {step} s\n"
        )
    assert run_profile.latest_log(tmp_path) == log
    table = run_profile.profile_run(log, root=tmp_path)
    assert list(table.columns) == list(run_profile.PROFILE_COLUMNS)
    first, second = table.to_dict("records")
    assert first["rule"] == "adapt_direct" and first["jobs"] == 2
    assert (first["wall_s"], first["longest_s"]) == (60.0, 34.0)
    assert (first["startup_s"], first["step_s"]) == (7.5, 50.75)
    assert second["rule"] == "rankings" and math.isnan(second["startup_s"])  # no log on disk
    assert first["share"] == pytest.approx(60 / 62)
    assert run_profile.run_span(log) == 36.0
    text = run_profile.markdown(table)
    assert "| adapt_direct | 2 | 60.0 | 34.0 | 7.5 | 50.8 | 97% |" in text


def test_a_log_without_finished_jobs_is_refused(tmp_path):
    empty = tmp_path / "x.snakemake.log"
    empty.write_text("Building DAG of jobs...\n")
    with pytest.raises(ValueError, match="no finished job"):
        run_profile.profile_run(empty)
    with pytest.raises(FileNotFoundError, match="no Snakemake log"):
        run_profile.latest_log(tmp_path)
    (tmp_path / ".snakemake" / "log").mkdir(parents=True)
    empty.rename(tmp_path / ".snakemake" / "log" / empty.name)
    with pytest.raises(ValueError, match="none of the 1 Snakemake log"):
        run_profile.latest_log(tmp_path)


def test_the_newest_log_that_ran_a_job_is_profiled_not_a_later_idle_one(tmp_path):
    folder = tmp_path / ".snakemake" / "log"
    folder.mkdir(parents=True)
    worked = folder / "2026-12-02T151801.snakemake.log"
    worked.write_text(SNAKEMAKE_LOG)
    (folder / "2026-12-02T160000.snakemake.log").write_text(
        "Building DAG of jobs...\nNothing to be done (all requested files are present).\n"
    )
    assert run_profile.latest_log(tmp_path) == worked


def test_dpsim_profile_prints_the_table_of_the_newest_log(tmp_path, capsys):
    from dpsim import cli

    (tmp_path / ".snakemake" / "log").mkdir(parents=True)
    (tmp_path / ".snakemake" / "log" / "2026-12-01T100000.snakemake.log").write_text("old\n")
    (tmp_path / ".snakemake" / "log" / "2026-12-02T151801.snakemake.log").write_text(SNAKEMAKE_LOG)
    assert cli.main(["profile", "--workdir", str(tmp_path), "--top", "1"]) == 0
    printed = capsys.readouterr().out
    assert "log: 3 jobs, 36 s from the first start to the last end" in printed  # the newest
    assert "| adapt_direct | 2 | 60.0 | 34.0 |" in printed
    assert "| rankings |" not in printed  # --top 1: the costliest rule only
