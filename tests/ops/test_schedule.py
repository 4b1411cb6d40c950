"""The scheduler fires the configured cron, catches missed days up in order, persists its job,
and stops at the first day that does not complete."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from pydantic import ValidationError

from monitor.config import MonitorConfig, load_config
from monitor.errors import DatabaseFileError
from monitor.ops.schedule import (
    DAILY_JOB_ID,
    CompletedRuns,
    DailyScheduler,
    RunOutcome,
    ScheduleSettings,
    cron_trigger,
    default_jobstore_url,
    due_run_dates,
    next_scheduled_run,
)

ROME = ZoneInfo("Europe/Rome")


def test_crontab_weekday_numbers_mean_what_crontab_means() -> None:
    # 2024-09-15 is a Sunday; crontab 0 = Sunday, 1-5 = Monday..Friday
    start = datetime(2024, 9, 14, 12, 0, tzinfo=UTC)  # Saturday noon
    sunday = cron_trigger("0 6 * * 0", "UTC").get_next_fire_time(None, start)
    assert sunday == datetime(2024, 9, 15, 6, 0, tzinfo=UTC)
    assert cron_trigger("0 6 * * 7", "UTC").get_next_fire_time(None, start) == sunday
    weekday = cron_trigger("0 6 * * 1-5", "UTC").get_next_fire_time(None, start)
    assert weekday == datetime(2024, 9, 16, 6, 0, tzinfo=UTC)  # Monday
    every_other = cron_trigger("0 6 * * */2", "UTC")  # crontab: Sun, Tue, Thu, Sat
    fires = []
    t = every_other.get_next_fire_time(None, datetime(2024, 9, 15, 0, 0, tzinfo=UTC))
    for _ in range(4):
        fires.append(t.strftime("%a"))
        t = every_other.get_next_fire_time(t, t + timedelta(seconds=1))
    assert fires == ["Sun", "Tue", "Thu", "Sat"]


def test_six_field_cron_has_seconds_and_timezone_applies() -> None:
    trigger = cron_trigger("*/10 * * * * *", "UTC")
    start = datetime(2024, 9, 15, 6, 0, 3, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, start) == datetime(2024, 9, 15, 6, 0, 10, tzinfo=UTC)
    rome = cron_trigger("0 6 * * *", "Europe/Rome").get_next_fire_time(None, start)
    assert rome.astimezone(UTC) == datetime(2024, 9, 16, 4, 0, tzinfo=UTC)  # CEST = UTC+2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cron", "0 6 * *", "4 fields"),
        # the field named (found by a walkthrough: APScheduler names only the value)
        ("cron", "0 25 * * *", "the hour field '25' of '0 25 \\* \\* \\*': Error validating"),
        ("cron", "0 6 32 * *", "the day of the month field '32'"),
        ("cron", "0 6 * * 9", "outside 0-7"),
        ("timezone", "Mars/Olympus", "unknown time zone"),
        ("catch_up_days", -1, "catch_up_days"),
        ("jobstore_url_env", "postgresql://m:pw@db/jobs", "is not an environment variable name"),
    ],
)
def test_bad_settings_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScheduleSettings(**{field: value})


def test_the_job_store_s_url_comes_from_the_environment_where_named(
    tmp_path: Path,
    untrained_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by an SRE's review: a job store on a database server needs its password in its
    URL, which could only be written in the YAML, whereas every other secret is read from an
    environment variable that the configuration names (docs/operations.md, Secrets)."""
    from monitor.cli import main
    from tests.ops.ops_fixtures import write_archive_regions, write_config

    with pytest.raises(ValidationError, match="set jobstore_url or jobstore_url_env, not both"):
        ScheduleSettings(jobstore_url="sqlite:////tmp/jobs.sqlite", jobstore_url_env="JOBS")
    extra = "schedule: {jobstore_url_env: LANDSLIDE_JOBSTORE_URL}\n"
    path = str(write_config(tmp_path, untrained_manifest, extra))
    write_archive_regions(tmp_path)
    monkeypatch.delenv("LANDSLIDE_JOBSTORE_URL", raising=False)
    for command in ("schedule", "status"):
        assert main([command, "--config", path]) == 2
        assert (
            "schedule.jobstore_url_env: environment variable LANDSLIDE_JOBSTORE_URL is not set"
        ) in capsys.readouterr().err
    monkeypatch.setenv("LANDSLIDE_JOBSTORE_URL", "postgresql://monitor:s3cret@db.example.org/jobs")
    # the store's driver checked apart (test_the_dry_run_checks_the_job_store)
    monkeypatch.setattr("monitor.ops.schedule.job_store_problem", lambda url, inventory: None)
    assert main(["schedule", "--config", path, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "job store postgresql://monitor:***@db.example.org/jobs" in out
    assert "s3cret" not in out
    # no configuration folder to read a relative SQLite file from: refused, not opened in
    # whatever the working directory is
    monkeypatch.setenv("LANDSLIDE_JOBSTORE_URL", "sqlite:///jobs.sqlite")
    assert main(["schedule", "--config", path, "--dry-run"]) == 2
    assert "LANDSLIDE_JOBSTORE_URL holds a relative SQLite file" in capsys.readouterr().err
    monkeypatch.setenv("LANDSLIDE_JOBSTORE_URL", f"sqlite:///{tmp_path / 'jobs.sqlite'}")
    assert main(["status", "--config", path]) == 0  # no job store there yet: the cron's fire
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("LANDSLIDE_JOBSTORE_URL", "sqlite:///~/jobs.sqlite?timeout=20")
    settings = ScheduleSettings(jobstore_url_env="LANDSLIDE_JOBSTORE_URL")
    assert settings.jobstore_for("inventory.gpkg") == f"sqlite:///{tmp_path}/jobs.sqlite?timeout=20"


def test_a_cron_of_no_day_that_exists_is_refused_and_a_leap_day_one_kept() -> None:
    """Found walking through dates: ``30 2 30 2 *`` (30 February) was taken, and the scheduler
    started with "next run None" and never ran. 29 February comes every four years."""
    with pytest.raises(ValidationError) as refused:
        ScheduleSettings(cron="30 2 30 2 *", timezone="Pacific/Auckland")
    assert (
        "cron: '30 2 30 2 *' never fires: no day of any year matches its day, month and "
        "weekday fields"
    ) in str(refused.value)
    with pytest.raises(ValidationError, match="never fires"):
        ScheduleSettings(cron="0 0 31 4,6,9,11 *")
    leap = ScheduleSettings(cron="0 6 29 2 *", timezone="Pacific/Auckland").trigger()
    start = datetime(2024, 3, 1, tzinfo=UTC)
    assert leap.get_next_fire_time(None, start).date() == date(2028, 2, 29)


def test_due_dates_catch_up_missed_days_in_order_with_a_controlled_clock() -> None:
    trigger = cron_trigger("0 6 * * *", "Europe/Rome")
    after_fire = datetime(2024, 9, 15, 7, 0, tzinfo=ROME)
    before_fire = datetime(2024, 9, 15, 5, 0, tzinfo=ROME)
    done = {date(2024, 9, 1), date(2024, 9, 10)}
    assert due_run_dates(trigger, after_fire, done, 7) == [date(2024, 9, d) for d in range(11, 16)]
    assert due_run_dates(trigger, before_fire, done, 7) == [date(2024, 9, d) for d in range(11, 15)]
    # the catch-up horizon bounds how far back a long outage is replayed
    assert due_run_dates(trigger, after_fire, done, 2) == [date(2024, 9, d) for d in (13, 14, 15)]
    # nothing ever ran: a new installation runs only the latest fire day
    assert due_run_dates(trigger, after_fire, set(), 7) == [date(2024, 9, 15)]
    assert due_run_dates(trigger, after_fire, {date(2024, 9, 15)}, 7) == []
    # a clock given in UTC is read in the trigger's zone: 04:30 UTC is 06:30 in Rome
    assert due_run_dates(trigger, datetime(2024, 9, 15, 4, 30, tzinfo=UTC), done, 0) == [
        date(2024, 9, 15)
    ]
    weekly = cron_trigger("0 6 * * 1", "Europe/Rome")  # Mondays: 2024-09-02, 09, 16
    assert due_run_dates(
        weekly, datetime(2024, 9, 17, 7, 0, tzinfo=ROME), {date(2024, 9, 2)}, 14
    ) == [
        date(2024, 9, 9),
        date(2024, 9, 16),
    ]


def test_the_catch_up_anchors_on_each_region_s_last_completed_run() -> None:
    """Found by a new user: a region added to the configuration had completed no day, so no day
    counted as done and the scheduler restarted after downtime ran the latest day alone, as a
    new installation: the days missed were lost for every region."""
    trigger = cron_trigger("0 6 * * *", "Europe/Rome")
    now = datetime(2024, 9, 15, 7, 0, tzinfo=ROME)
    up_to_10 = frozenset(date(2024, 9, d) for d in range(1, 11))

    def due(by_region: dict[str, frozenset[date]], regions: tuple[str, ...]) -> list[date]:
        return due_run_dates(trigger, now, CompletedRuns(by_region, regions), 7)

    missed = [date(2024, 9, d) for d in range(11, 16)]
    assert due({"north": up_to_10, "south": up_to_10}, ("north", "south", "east")) == missed
    # a region behind the others: its days, run for every region (the others' idempotently)
    behind = frozenset(date(2024, 9, d) for d in range(1, 13))
    assert due({"north": behind, "south": up_to_10}, ("north", "south")) == missed
    # every region renamed: the days after the inventory's last completed run, of any region
    assert due({"north": up_to_10}, ("north-hills",)) == missed
    # a day run for one region alone is still due for the other, which never ran
    assert due({"north": frozenset({date(2024, 9, 15)})}, ("north", "south")) == [date(2024, 9, 15)]
    # a region removed from the configuration holds nothing back
    assert due({"north": behind, "gone": frozenset({date(2024, 9, 1)})}, ("north",)) == missed[2:]
    assert due({}, ("north", "south")) == [date(2024, 9, 15)]  # a new installation
    ledger = CompletedRuns({"north": behind, "south": up_to_10}, ("north", "south"))
    assert ledger.done() == set(up_to_10)
    assert ledger.last(date(2024, 9, 15)) == {
        "north": date(2024, 9, 12),
        "south": date(2024, 9, 10),
    }


class _Ledger:
    """Completed run dates, as the inventory would record them."""

    def __init__(self, done: set[date] | None = None, record: bool = True) -> None:
        self.done = set(done or ())
        self.record = record
        self.calls: list[tuple[date, float]] = []
        self.outcomes: dict[date, RunOutcome] = {}

    def completed(self) -> set[date]:
        return set(self.done)

    def run(self, run_date: date) -> RunOutcome:
        self.calls.append((run_date, time.time()))
        outcome = self.outcomes.get(run_date, RunOutcome.OK)
        if outcome is RunOutcome.OK and self.record:
            self.done.add(run_date)
        return outcome


def _recording_serve(served: list[object], mark: object) -> Callable[..., int]:
    """A stand-in for ``monitor.ops.schedule.serve`` that appends ``mark`` to ``served`` and
    returns 0 (the scheduler's start, not serving)."""

    def serve(*args: object, **kwargs: object) -> int:
        served.append(mark)
        return 0

    return serve


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_seconds_level_cron_fires_on_the_configured_seconds(tmp_path: Path) -> None:
    settings = ScheduleSettings(cron="* * * * * *", timezone="UTC", stop_grace_s=5)
    ledger = _Ledger(record=False)  # never completes: every fire runs today's date again
    daily = DailyScheduler(
        settings, f"sqlite:///{tmp_path / 'jobs.sqlite'}", ledger.completed, ledger.run
    )
    fired: list[datetime] = []

    def on_executed(event: JobExecutionEvent) -> None:
        if event.job_id == DAILY_JOB_ID:
            fired.extend(
                event.scheduled_run_time
                if isinstance(event.scheduled_run_time, list)
                else [event.scheduled_run_time]
            )

    daily.scheduler.add_listener(on_executed, EVENT_JOB_EXECUTED)
    daily.start()
    try:
        _wait_for(lambda: len(fired) >= 3, timeout=8)
    finally:
        daily.stop()
    assert all(t.microsecond == 0 for t in fired)  # on whole seconds, as the cron says
    # one fire per second; on a loaded machine a late fire coalesces, so a gap may be 2 s or more
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fired)]
    assert all(g >= 1.0 and g.is_integer() for g in gaps), gaps
    today = datetime.now(UTC).date()
    # start-up catch-up pass + one pass per fire, each running today's date
    assert len(ledger.calls) >= 4
    assert {d for d, _ in ledger.calls} == {today}


def test_start_catches_up_missed_days_oldest_first_then_idles(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    ledger = _Ledger({today - timedelta(days=10), today - timedelta(days=3)})
    settings = ScheduleSettings(cron="0 0 * * *", timezone="UTC", catch_up_days=7, stop_grace_s=5)
    daily = DailyScheduler(
        settings, f"sqlite:///{tmp_path / 'jobs.sqlite'}", ledger.completed, ledger.run
    )
    daily.start()
    try:
        _wait_for(lambda: len(daily.passes) >= 1)
        assert daily.next_run_time() == datetime.combine(
            today + timedelta(days=1), datetime.min.time(), tzinfo=ZoneInfo("UTC")
        )
        # a second pass (the next fire) finds nothing left to do
        assert daily.run_pass().runs == ()
    finally:
        daily.stop()
    assert [d for d, _ in ledger.calls] == [today - timedelta(days=k) for k in (2, 1, 0)]
    assert daily.passes[0].complete


def test_a_locked_or_failed_day_ends_the_pass_and_is_retried_in_order(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    ledger = _Ledger({today - timedelta(days=4)})
    ledger.outcomes[today - timedelta(days=2)] = RunOutcome.LOCKED
    settings = ScheduleSettings(cron="0 0 * * *", timezone="UTC", retry_after_s=1, stop_grace_s=5)
    daily = DailyScheduler(
        settings, f"sqlite:///{tmp_path / 'jobs.sqlite'}", ledger.completed, ledger.run
    )
    daily.start()
    try:
        _wait_for(lambda: len(daily.passes) >= 1)
        first = daily.passes[0]
        assert [d for d, _ in first.runs] == [today - timedelta(days=3), today - timedelta(days=2)]
        assert first.runs[-1][1] is RunOutcome.LOCKED
        assert daily.scheduler.get_job("retry") is not None
        ledger.outcomes.clear()  # the other run finished
        _wait_for(lambda: len(daily.passes) >= 2, timeout=5)  # the retry, ~1 s later
    finally:
        daily.stop()
    assert [d for d, _ in ledger.calls] == [today - timedelta(days=k) for k in (3, 2, 2, 1, 0)]
    assert daily.passes[1].complete


@pytest.mark.parametrize("where", ["ledger", "runner"])
def test_a_pass_that_raises_is_logged_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    """Found by an SRE's review: a ledger read that found the inventory locked (a QGIS edit
    session) or a run that could not be started raised out of the pass into APScheduler, which
    logged a traceback; no retry was scheduled, so the day waited for the next day's fire."""
    today = datetime.now(UTC).date()
    ledger = _Ledger({today - timedelta(days=2)})
    failures: list[Exception] = [
        DatabaseFileError(
            "inventory inv.gpkg is locked by another program writing it (SQLite: database is "
            "locked)"
        )
        if where == "ledger"
        else OSError(12, "Cannot allocate memory")
    ]

    def completed() -> set[date]:
        if where == "ledger" and failures:
            raise failures.pop()
        return ledger.completed()

    def run(run_date: date) -> RunOutcome:
        if where == "runner" and failures:
            raise failures.pop()
        return ledger.run(run_date)

    settings = ScheduleSettings(cron="0 0 * * *", timezone="UTC", retry_after_s=1, stop_grace_s=5)
    daily = DailyScheduler(settings, f"sqlite:///{tmp_path / 'jobs.sqlite'}", completed, run)
    daily.start()
    try:
        _wait_for(lambda: len(daily.passes) >= 2, timeout=8)  # the retry, ~1 s later
    finally:
        daily.stop()
    first = daily.passes[0]
    assert not first.complete and first.runs == ()
    assert daily.passes[1].complete
    assert [d for d, _ in ledger.calls] == [today - timedelta(days=1), today]
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info is None  # no traceback without --debug
    # the date it was at: today's pass before its ledger was read, else the day being run
    day = today if where == "ledger" else today - timedelta(days=1)
    cause = "database is locked" if where == "ledger" else "Cannot allocate memory"
    assert str(day) in errors[0].getMessage() and cause in errors[0].getMessage()
    assert "retrying at" in caplog.text

    caplog.clear()

    def bug() -> set[date]:
        raise RuntimeError("a bug")

    debugging = DailyScheduler(
        settings, f"sqlite:///{tmp_path / 'other.sqlite'}", bug, run, debug=True
    )
    assert not debugging.run_pass().complete
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert error.exc_info is not None  # --debug: the traceback too


class _Planted:
    """What a planted job state runs when it is unpickled: it leaves a file behind."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (Path.write_text, (Path(self.marker), "ran"))  # type: ignore[return-value]


def test_status_reads_the_next_run_without_unpickling_the_stored_job(tmp_path: Path) -> None:
    """Found in a security walkthrough: `status` (and `status --check`, every half hour from
    cron) unpickled the job store's job, so whoever could write that file beside the inventory
    ran code as the monitor's user. The next fire time is read from its column alone."""
    import pickle
    import sqlite3

    url = default_jobstore_url(tmp_path / "inventory.gpkg")
    ledger = _Ledger({datetime.now(UTC).date()})
    settings = ScheduleSettings(cron="30 5 * * *", timezone="Europe/Rome", stop_grace_s=5)
    daily = DailyScheduler(settings, url, ledger.completed, ledger.run)
    daily.start()
    daily.stop()
    expected = next_scheduled_run(url)
    assert expected is not None
    marker = tmp_path / "ran.txt"
    store = tmp_path / "inventory.gpkg.schedule.sqlite"
    with closing(sqlite3.connect(store)) as conn, conn:
        conn.execute(
            "UPDATE apscheduler_jobs SET job_state = ?", (pickle.dumps(_Planted(str(marker))),)
        )
    assert next_scheduled_run(url) == expected
    assert not marker.exists()


def test_job_is_persisted_kept_on_restart_and_replaced_when_the_cron_changes(
    tmp_path: Path,
) -> None:
    url = default_jobstore_url(tmp_path / "inventory.gpkg")
    assert url.endswith("inventory.gpkg.schedule.sqlite")
    assert next_scheduled_run(url) is None
    ledger = _Ledger({datetime.now(UTC).date()})
    settings = ScheduleSettings(cron="30 5 * * *", timezone="Europe/Rome", stop_grace_s=5)
    expected = settings.trigger().get_next_fire_time(None, datetime.now(ROME))
    for _ in range(2):  # the second start finds the job in the store and keeps it
        daily = DailyScheduler(settings, url, ledger.completed, ledger.run)
        daily.start()
        daily.stop()
        assert next_scheduled_run(url) == expected
    changed = ScheduleSettings(cron="0 7 * * *", timezone="Europe/Rome", stop_grace_s=5)
    daily = DailyScheduler(changed, url, ledger.completed, ledger.run)
    daily.start()
    daily.stop()
    assert next_scheduled_run(url) == changed.trigger().get_next_fire_time(None, datetime.now(ROME))
    assert ledger.calls == []  # today was already done


def test_a_job_kept_from_a_store_reached_by_another_url_fires_this_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: the daily job carries its store's URL, by which a fire finds its
    scheduler. A store kept under another URL (sqlite:///jobs.sqlite, now read from the
    configuration's folder as an absolute URL) kept the old one, and every fire found no
    scheduler: the daily runs stopped until a restart."""
    monkeypatch.chdir(tmp_path)
    ledger = _Ledger({datetime.now(UTC).date()})
    settings = ScheduleSettings(cron="30 5 * * *", timezone="Europe/Rome", stop_grace_s=5)
    relative, absolute = "sqlite:///jobs.sqlite", f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    for url in (relative, absolute):
        daily = DailyScheduler(settings, url, ledger.completed, ledger.run)
        daily.start()
        try:
            job = daily.scheduler.get_job(DAILY_JOB_ID, jobstore="default")
            assert job is not None and tuple(job.args) == (url,)
        finally:
            daily.stop()
    assert next_scheduled_run(absolute) is not None
    assert next_scheduled_run(f"{absolute}?timeout=20") is not None
    assert next_scheduled_run(f"sqlite+pysqlite:///{tmp_path / 'none.sqlite'}") is None
    assert not (tmp_path / "none.sqlite").exists()


def test_the_job_store_s_password_is_neither_stored_in_its_jobs_nor_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by an SRE's review: the daily job carried the job store's URL, password included,
    as its argument, so the password sat in the job store's table (and in its backups), and a
    fire that found no scheduler logged it. The jobs carry the URL with its password hidden."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    import monitor.ops.schedule as schedule_module

    url = "postgresql://monitor:s3cret@db.example.org/jobs"
    shown = "postgresql://monitor:***@db.example.org/jobs"
    store = tmp_path / "jobs.sqlite"  # the database server, played by an SQLite file

    def job_store(url: str) -> SQLAlchemyJobStore:
        return SQLAlchemyJobStore(url=f"sqlite:///{store}")

    monkeypatch.setattr(schedule_module, "SQLAlchemyJobStore", job_store)
    ledger = _Ledger({datetime.now(UTC).date()})
    settings = ScheduleSettings(cron="30 5 * * *", timezone="UTC", stop_grace_s=5)
    daily = DailyScheduler(settings, url, ledger.completed, ledger.run)
    daily.start()
    try:
        _wait_for(lambda: len(daily.passes) >= 1)  # the catch-up's fire found its scheduler
        job = daily.scheduler.get_job(DAILY_JOB_ID, jobstore="default")
        assert job is not None and tuple(job.args) == (shown,)
        assert b"s3cret" not in store.read_bytes()
        daily.scheduler.modify_job(DAILY_JOB_ID, jobstore="default", args=[url])  # as before
    finally:
        daily.stop()
    assert b"s3cret" in store.read_bytes()  # the store as an earlier release left it
    again = DailyScheduler(settings, url, ledger.completed, ledger.run)
    again.start()  # takes the job over, without the password
    try:
        job = again.scheduler.get_job(DAILY_JOB_ID, jobstore="default")
        assert job is not None and tuple(job.args) == (shown,)
        # a job of an earlier release, fired before its start rewrote it, finds it too
        schedule_module._fire(url)
        assert "but no scheduler" not in caplog.text  # served (catch-up passes may run too)
        assert len(again.passes) >= 1
    finally:
        again.stop()
    schedule_module._fire(url)  # no scheduler serves it now: logged, without the password
    assert f"fire for job store {shown} but no scheduler" in caplog.text
    assert "s3cret" not in caplog.text


def test_schedule_dry_run_hides_the_job_store_s_password(
    tmp_path: Path,
    untrained_manifest: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by an SRE's review: `schedule --dry-run` printed the job store's URL, password
    included, to a terminal or a CI log."""
    from monitor.cli import main
    from tests.ops.ops_fixtures import write_archive_regions, write_config

    # the store's driver checked apart (test_the_dry_run_checks_the_job_store)
    monkeypatch.setattr("monitor.ops.schedule.job_store_problem", lambda url, inventory: None)
    url = "postgresql://monitor:s3cret@db.example.org/jobs"
    path = write_config(tmp_path, untrained_manifest, f'schedule: {{jobstore_url: "{url}"}}\n')
    write_archive_regions(tmp_path)
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "job store postgresql://monitor:***@db.example.org/jobs" in out
    assert "s3cret" not in out


def test_the_dry_run_checks_the_job_store(
    tmp_path: Path, untrained_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a walkthrough: a job store in a folder that does not exist passed `schedule
    --dry-run` (exit 0), and the real start stopped on it with exit 2."""
    import importlib.util

    from monitor.cli import main
    from monitor.ops.schedule import job_store_problem
    from tests.ops.ops_fixtures import write_archive_regions, write_config

    nowhere = f"sqlite:///{tmp_path / 'nope' / 'jobs.sqlite'}"
    path = write_config(tmp_path, untrained_manifest, f'schedule: {{jobstore_url: "{nowhere}"}}\n')
    write_archive_regions(tmp_path)
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"error: schedule.jobstore_url: the folder of the job store {nowhere}, " in err
    assert f"{tmp_path / 'nope'}, does not exist; create it" in err
    assert not (tmp_path / "nope").exists()  # nothing created
    (tmp_path / "nope").mkdir()
    assert job_store_problem(nowhere) is None
    assert not (tmp_path / "nope" / "jobs.sqlite").exists()  # still nothing created
    # another database: its driver, not a connection; the password never shown
    if importlib.util.find_spec("psycopg") is None:
        problem = job_store_problem("postgresql+psycopg://monitor:s3cret@db.example.org/jobs")
        assert problem is not None and "No module named 'psycopg'" in problem
        assert "monitor:***@db.example.org" in problem and "s3cret" not in problem


def test_a_damaged_job_store_is_named_so_by_the_dry_run_status_and_the_start(
    tmp_path: Path, untrained_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a crash walkthrough: a job store file holding text passed `schedule --dry-run`
    (exit 0) and `status`, and the start stopped with exit 2 and advice about the URL, its
    folder and its driver."""
    from sqlalchemy import create_engine, text

    from monitor.cli import main
    from monitor.errors import BadInput
    from monitor.ops.schedule import job_store_errors, job_store_problem
    from tests.ops.ops_fixtures import write_archive_regions, write_config

    store = tmp_path / "jobs.sqlite"
    store.write_text("not sqlite at all\n")
    url = f"sqlite:///{store}"
    path = write_config(tmp_path, untrained_manifest, f'schedule: {{jobstore_url: "{url}"}}\n')
    write_archive_regions(tmp_path)
    said = (
        f"the scheduler's job store {url} is damaged or not an SQLite file (SQLite: file is not "
        "a database); move it aside: the scheduler makes a new one and catches the missed days "
        "up from the inventory, which records every run"
    )
    assert job_store_problem(url) == said
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 2
    assert said in capsys.readouterr().err
    # the start, which opens it under job_store_errors to stamp its schema version
    engine = create_engine(url)
    with pytest.raises(BadInput) as refused, job_store_errors(url), engine.connect() as conn:
        conn.execute(text("SELECT name FROM sqlite_master"))
    engine.dispose()
    assert str(refused.value) == f"schedule.jobstore_url: {said}"
    assert store.read_text() == "not sqlite at all\n"


def test_the_dry_run_of_a_new_set_up_passes_the_folder_its_start_makes(
    tmp_path: Path, untrained_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a walkthrough: on a new set-up whose inventory's folder did not exist yet, the
    default job store beside it failed `schedule --dry-run` (exit 2, "does not exist"), while
    the start makes that folder (its lock lives beside the inventory) and served."""
    from monitor.cli import main
    from monitor.ops.schedule import job_store_problem
    from tests.ops.ops_fixtures import write_archive_regions, write_config

    path = write_config(tmp_path, untrained_manifest)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("{path: inventory.gpkg}", "{path: out/new/inventory.gpkg}"))
    write_archive_regions(tmp_path)
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 0
    assert f"job store sqlite:///{tmp_path / 'out' / 'new'}" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()  # nothing made
    inventory = tmp_path / "out" / "new" / "inventory.gpkg"
    # a store in a folder above the inventory's is made with it; one beside it is not
    assert job_store_problem(f"sqlite:///{tmp_path / 'out' / 'jobs.sqlite'}", inventory) is None
    elsewhere = f"sqlite:///{tmp_path / 'other' / 'jobs.sqlite'}"
    problem = job_store_problem(elsewhere, inventory)
    assert problem is not None and f"{tmp_path / 'other'}, does not exist; create it" in problem
    # under a file, the folder cannot be made
    (tmp_path / "file").write_text("x")
    under_file = tmp_path / "file" / "inventory.gpkg"
    problem = job_store_problem(f"sqlite:///{tmp_path / 'file' / 'j.sqlite'}", under_file)
    assert problem is not None and f"{tmp_path / 'file'}, cannot be made here" in problem


def test_stop_waits_for_the_run_in_progress_within_the_grace_period(tmp_path: Path) -> None:
    release = threading.Event()
    started = threading.Event()
    outcome: list[str] = []

    def slow_run(run_date: date) -> RunOutcome:
        started.set()
        release.wait(5)
        outcome.append("finished")
        return RunOutcome.OK

    settings = ScheduleSettings(cron="0 0 * * *", timezone="UTC", stop_grace_s=0.3)
    daily = DailyScheduler(settings, f"sqlite:///{tmp_path / 'jobs.sqlite'}", set, slow_run)
    daily.start()
    assert started.wait(5)
    terminated: list[float] = []
    t0 = time.monotonic()

    def terminate() -> None:
        terminated.append(time.monotonic() - t0)
        release.set()

    daily.stop(terminate=terminate)
    assert len(terminated) == 1 and 0.25 < terminated[0] < 2.0  # after the grace period
    assert outcome == ["finished"]
    assert not daily.scheduler.running


def test_one_scheduler_per_inventory(tmp_path: Path) -> None:
    from monitor.ops.schedule import SchedulerRunning, scheduler_lock

    inventory = tmp_path / "inventory.gpkg"
    refused = pytest.raises(SchedulerRunning, match="a scheduler already serves inventory")
    with scheduler_lock(inventory), refused, scheduler_lock(inventory):
        pass
    with scheduler_lock(inventory):  # released on exit
        pass
    # the command exits 75, as for a held run lock (not 1, "unexpected")
    from monitor.cli import _exit_status_of

    with (
        scheduler_lock(inventory),
        pytest.raises(SchedulerRunning) as second,
        scheduler_lock(inventory),
    ):
        pass
    status, message = _exit_status_of(second.value)
    assert status == 75 and message.startswith("a scheduler already serves inventory")


@pytest.mark.parametrize(
    ("scheduler_argv", "passed"),
    [
        (["schedule", "--config", "c.yaml"], []),
        (["-q", "schedule", "--config", "c.yaml"], ["-q"]),
        (["schedule", "--config", "c.yaml", "-v", "--debug"], ["-v", "--debug"]),
    ],
)
def test_the_runs_log_as_the_scheduler_was_asked_to(
    scheduler_argv: list[str], passed: list[str]
) -> None:
    """`schedule -q` used to print every child run's INFO lines: the flags reach the child's
    command line, after its action, where the CLI reads them as its own."""
    from monitor.cli import build_parser
    from monitor.ops.schedule import CliRunner, log_flags

    args = build_parser(scheduler_argv).parse_args(scheduler_argv)
    assert log_flags(args) == passed
    child = CliRunner("c.yaml", extra_args=log_flags(args)).command(date(2024, 8, 20))
    child_argv = child[child.index("run") :]
    run_args = build_parser(child_argv).parse_args(child_argv)
    assert (run_args.quiet, run_args.verbose, run_args.debug) == (
        "-q" in passed,
        "-v" in passed,
        "--debug" in passed,
    )
    # a delivery every 5 minutes holds the lock for seconds: the run waits for it, as the
    # deploy units' runs do, instead of exiting 75 and waiting retry_after_s (15 minutes)
    assert run_args.wait == 900


@pytest.mark.parametrize("stopped", [RunOutcome.STOPPED, RunOutcome.TIMED_OUT])
def test_a_run_stopped_after_it_completed_is_logged_ok(tmp_path: Path, stopped: RunOutcome) -> None:
    """Stopped during its alert delivery (by a shutdown, or past run_timeout_s), a run has
    completed (the inventory records it): the scheduler said "stopped" and that the inventory
    kept its state before it."""
    today = datetime.now(UTC).date()

    class StoppedLate(_Ledger):
        def run(self, run_date: date) -> RunOutcome:
            super().run(run_date)
            self.done.add(run_date)  # the run committed, then SIGTERM came
            return stopped

    ledger = StoppedLate({today - timedelta(days=1)})
    settings = ScheduleSettings(cron="0 0 * * *", timezone="UTC", stop_grace_s=5)
    daily = DailyScheduler(
        settings, f"sqlite:///{tmp_path / 'jobs.sqlite'}", ledger.completed, ledger.run
    )
    assert daily.run_pass().runs == ((today, RunOutcome.OK),)


def test_a_run_starts_in_a_process_group_of_its_own(tmp_path: Path) -> None:
    """A Ctrl-C at the terminal goes to the foreground process group: the run stopped at once
    and the scheduler logged it failed, instead of giving it stop_grace_s."""
    import os
    import sys

    from monitor.ops.schedule import CliRunner

    marker = tmp_path / "pgid"
    runner = CliRunner("c.yaml")
    script = f"import os; open({str(marker)!r}, 'w').write(str(os.getpgid(0)))"
    runner.command = lambda run_date: [sys.executable, "-c", script]  # type: ignore[method-assign]
    assert runner(date(2024, 8, 20)) is RunOutcome.OK
    assert int(marker.read_text()) != os.getpgid(0)


def test_stopping_a_run_reaches_what_the_run_started(tmp_path: Path) -> None:
    """Found in review: in its own process group the run no longer got the terminal's signals,
    and terminate() signalled the run alone, not the processes it started (a Dask worker)."""
    import os
    import sys

    from monitor.ops.schedule import CliRunner

    pid_file = tmp_path / "grandchild"
    # the process the run starts ignores SIGTERM (and says so once it does): it takes the
    # group's SIGKILL after the run has ended
    child = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    )
    script = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {child!r}])\n"
        "time.sleep(60)\n"
    )
    runner = CliRunner("c.yaml")
    runner.command = lambda run_date: [sys.executable, "-c", script]  # type: ignore[method-assign]
    outcome: list[RunOutcome] = []
    thread = threading.Thread(target=lambda: outcome.append(runner(date(2024, 8, 20))))
    thread.start()
    _wait_for(lambda: pid_file.exists() and pid_file.read_text() != "")
    grandchild = int(pid_file.read_text())
    runner.terminate(kill_after_s=5)
    thread.join(10)
    assert outcome == [RunOutcome.STOPPED]

    def gone() -> bool:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return True
        # a zombie until its parent (init) reaps it counts as gone
        with open(f"/proc/{grandchild}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")

    _wait_for(gone, timeout=5)


@pytest.mark.parametrize("ignores_sigterm", [False, True])
def test_a_run_past_its_timeout_is_stopped_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, ignores_sigterm: bool
) -> None:
    """Found by an SRE's review: the scheduler waited for its run without a limit. A hung run
    held the scheduler's one worker, so every later fire was skipped while the job store's next
    fire moved on (`status` never showed OVERDUE), and no day ran again until a restart."""
    import sys

    from monitor.ops.schedule import CliRunner

    marker = tmp_path / "interrupted"
    # a hung run: SIGTERM makes it record itself interrupted and exit 143, as `run` does; one
    # that ignores SIGTERM is killed kill_after_s later
    script = (
        "import signal, sys, time\n"
        "def stop(signum, frame):\n"
        f"    open({str(marker)!r}, 'w').write('interrupted')\n"
        "    sys.exit(128 + signum)\n"
        f"signal.signal(signal.SIGTERM, {'signal.SIG_IGN' if ignores_sigterm else 'stop'})\n"
        "time.sleep(60)\n"
    )
    today = datetime.now(UTC).date()
    settings = ScheduleSettings(
        cron="0 0 * * *", timezone="UTC", retry_after_s=60, stop_grace_s=5, run_timeout_s=2
    )
    runner = CliRunner("c.yaml", timeout_s=settings.run_timeout_s, kill_after_s=1.0)
    runner.command = lambda run_date: [sys.executable, "-c", script]  # type: ignore[method-assign]
    done = {today - timedelta(days=1)}
    daily = DailyScheduler(settings, f"sqlite:///{tmp_path / 'jobs.sqlite'}", done.copy, runner)
    daily.start()
    try:
        _wait_for(lambda: len(daily.passes) >= 1, timeout=15)
        assert daily.scheduler.get_job("retry") is not None  # the day is retried
    finally:
        daily.stop(terminate=runner.terminate)
    assert daily.passes[0].runs == ((today, RunOutcome.TIMED_OUT),)
    assert marker.exists() is not ignores_sigterm
    assert f"run of {today} still running after 2 s (schedule.run_timeout_s)" in caplog.text
    assert ("ignored SIGTERM for 1 s; killing it" in caplog.text) is ignores_sigterm
    assert "it ran past schedule.run_timeout_s and was stopped); retrying at" in caplog.text


def test_the_scheduler_s_runs_get_their_timeout_from_the_configuration(
    tmp_path: Path, untrained_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.ops.schedule as schedule_module
    from monitor.cli import main
    from monitor.ops.schedule import CliRunner
    from tests.ops.ops_fixtures import write_config

    runners: list[CliRunner] = []

    def serve(settings: object, url: str, completed: object, runner: CliRunner, debug: bool) -> int:
        runners.append(runner)
        return 0

    monkeypatch.setattr(schedule_module, "serve", serve)
    default = write_config(tmp_path, untrained_manifest)
    assert main(["schedule", "--config", str(default)]) == 0
    assert runners[-1].timeout_s == 6 * 3600  # the systemd timer's and Kubernetes job's limit
    path = write_config(tmp_path, untrained_manifest, "schedule: {run_timeout_s: 7200}\n")
    assert main(["schedule", "--config", str(path)]) == 0
    assert runners[-1].timeout_s == 7200


def test_a_start_on_an_inventory_another_program_is_writing_serves_and_retries(
    tmp_path: Path,
    untrained_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by an SRE's walk: a start while another program held the inventory's write lock
    exited 2, which the systemd unit never restarts; the passes retry such a lock (and check
    the file then). A damaged file still stops the start."""
    import sqlite3

    import monitor.ops.schedule as schedule_module
    from monitor.cli import main
    from monitor.store.inventory import Inventory
    from tests.ops.ops_fixtures import write_config

    served: list[object] = []
    monkeypatch.setattr(schedule_module, "serve", _recording_serve(served, "x"))
    path = write_config(tmp_path, untrained_manifest)
    with Inventory(tmp_path / "inventory.gpkg"):
        pass

    def locked(path: Path, timeout_s: float = 5.0) -> sqlite3.Connection:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(schedule_module, "connect_read_only", locked)
    assert main(["schedule", "--config", str(path)]) == 0
    assert served == ["x"]
    assert (
        f"inventory {tmp_path / 'inventory.gpkg'} is locked by another program writing it "
        "(SQLite: database is locked): the scheduler starts, and its passes retry until it is "
        "free"
    ) in caplog.text
    assert "run again" not in caplog.text

    def damaged(path: Path, timeout_s: float = 5.0) -> sqlite3.Connection:
        raise sqlite3.DatabaseError("file is not a database")

    monkeypatch.setattr(schedule_module, "connect_read_only", damaged)
    assert main(["schedule", "--config", str(path)]) == 2 and served == ["x"]


def test_the_dry_run_names_an_inventory_the_runs_cannot_write(
    tmp_path: Path,
    untrained_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by an SRE's walk: on a read-only volume the dry run passed (exit 0) and every run
    then exited 2. (Permissions are simulated: the tests may run as root, whom they do not
    stop.)"""
    import os

    import monitor.ops.schedule as schedule_module
    from monitor.cli import main
    from monitor.store.inventory import Inventory
    from tests.ops.ops_fixtures import write_archive_regions, write_config

    path = write_config(tmp_path, untrained_manifest)
    write_archive_regions(tmp_path)
    inventory = tmp_path / "inventory.gpkg"
    with Inventory(inventory):
        pass
    access = os.access
    for read_only, said in (
        (inventory, f"inventory.path: {inventory} cannot be written (its permissions, or"),
        (tmp_path, f"inventory.path: its folder {tmp_path} cannot be written or made"),
    ):
        monkeypatch.setattr(
            schedule_module.os,
            "access",
            lambda p, mode, ro=read_only: False if Path(p) == ro else access(p, mode),
        )
        assert main(["schedule", "--config", str(path), "--dry-run"]) == 2
        assert said in capsys.readouterr().err


def test_each_pass_reads_the_regions_the_configuration_has_then(
    ops_config: MonitorConfig,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by a new user: the scheduler counted the regions of its start. One removed from the
    file while it ran was never run again (the runs read the file), so no later day counted as
    done and every pass ran all the days since the removal (up to catch_up_days) once more."""
    import yaml

    import monitor.ops.schedule as schedule_module
    from monitor.cli import main
    from monitor.store.inventory import Inventory, RegionDetections

    path = ops_config.path
    assert path is not None
    ledgers: list[Callable[[], Any]] = []

    def serve(
        settings: object, url: str, completed: Callable[[], Any], runner: object, debug: bool
    ) -> int:
        ledgers.append(completed)  # what a pass of the real scheduler reads
        return 0

    monkeypatch.setattr(schedule_module, "serve", serve)
    assert main(["schedule", "--config", str(path)]) == 0
    (ledger,) = ledgers

    def run(day: date, regions: list[str]) -> None:  # what the run of a pass writes
        with Inventory(ops_config.inventory.path) as inventory:
            run_id = inventory.start_run(day, regions, "archive")
            inventory.apply(run_id, [RegionDetections(r, status="no-data") for r in regions])

    both = ["wayanad-hills", "emilia-hills"]
    for day in range(1, 11):
        run(date(2024, 9, day), both)
    trigger = cron_trigger("0 6 * * *", "UTC")
    morning = datetime(2024, 9, 11, 7, 0, tzinfo=UTC)
    assert due_run_dates(trigger, morning, ledger(), 7) == [date(2024, 9, 11)]

    data = yaml.safe_load(path.read_text())
    data["regions"] = data["regions"][:1]  # emilia-hills removed while the scheduler runs
    path.write_text(yaml.safe_dump(data))
    run(date(2024, 9, 11), both[:1])
    assert due_run_dates(trigger, morning + timedelta(days=1), ledger(), 7) == [date(2024, 9, 12)]
    assert ledger().regions == ("wayanad-hills",)

    path.write_text("regions: [")  # an edit half saved: the regions read before, and a warning
    assert ledger().regions == ("wayanad-hills",)
    assert f"{path.resolve()} cannot be read now; this pass counts the regions read before" in (
        caplog.text
    )
    data["regions"].append({**data["regions"][0], "name": "wayanad-south"})
    path.write_text(yaml.safe_dump(data))  # a region added: counted at the next pass
    assert ledger().regions == ("wayanad-hills", "wayanad-south")


_UNREAD = "(not shown: it does not parse, and may hold a password)"


@pytest.mark.parametrize(
    ("url", "shown", "reason"),
    [
        (
            "sqlite:///no-such-folder/jobs.sqlite",
            "sqlite:///{tmp}/no-such-folder/jobs.sqlite",
            "unable to open database file",
        ),
        ("not-a-url", f"... {_UNREAD}", "Could not parse SQLAlchemy URL"),
        ("nosuchdialect://host/db", "nosuchdialect://host/db", "Can't load plugin"),
        # a driver not installed; the password stays out of the message (and the journal)
        (
            "mssql+pymssql://monitor:s3cret@db.example.org/jobs",
            "mssql+pymssql://monitor:***@db.example.org/jobs",
            "No module named 'pymssql'",
        ),
        # URLs SQLAlchemy cannot read are shown by their scheme alone, as where a password
        # lies in them cannot be told: the scheme left out, a port that is no number (this one
        # ended the command with a bare ValueError, exit 1), the host left out (the password
        # read as the port, and quoted by SQLAlchemy's message)
        ("monitor:s3cret@db.example.org/jobs", f"... {_UNREAD}", "Could not parse SQLAlchemy"),
        (
            "postgresql://monitor:s3cret@db.example.org:5o32/jobs",
            f"postgresql://... {_UNREAD}",
            "a port that is not a number",
        ),
        ("postgresql://monitor:s3cret/jobs", f"postgresql://... {_UNREAD}", "a port that is not"),
        # a driver named in the scheme is shown with it (RFC 3986's scheme characters)
        (
            "postgresql+psycopg2://monitor:s3cret/jobs",
            f"postgresql+psycopg2://... {_UNREAD}",
            "a port that is not a number",
        ),
        # a password with an '@' not written %40: SQLAlchemy cuts it at the first and shows
        # the rest as the host; the driver's message (naming that host) is not shown either
        (
            "postgresql+psycopg2://monitor:pa@s3cret@db.example.org/jobs",
            "postgresql+psycopg2://... (not shown: more than one at-sign before its host; "
            "write one in a password as %40)",
            "ModuleNotFoundError, not shown",
        ),
        # a password as a query value (libpq takes ?password=)
        (
            "mssql+pymssql://monitor@db.example.org/jobs?password=s3cret&timeout=5",
            "mssql+pymssql://monitor@db.example.org/jobs?password=***&timeout=5",
            "No module named 'pymssql'",
        ),
        # a query value the driver cannot read is no port
        (
            "sqlite:///jobs.sqlite?timeout=abc",
            "sqlite:///{tmp}/jobs.sqlite?timeout=abc",
            "ValueError: a value in the URL that the database driver cannot read",
        ),
    ],
)
def test_a_job_store_that_cannot_be_opened_is_named_with_its_field(
    tmp_path: Path,
    untrained_manifest: Path,
    capsys: pytest.CaptureFixture[str],
    url: str,
    shown: str,
    reason: str,
) -> None:
    """Found by an ops walk: a `schedule.jobstore_url` the scheduler could not open (a folder
    that does not exist, a typo in the URL) ended `schedule` and `status` with exit 1 and
    SQLAlchemy's bare message ("OperationalError: unable to open database file"), naming
    neither the setting nor the file."""
    from monitor.cli import main
    from tests.ops.ops_fixtures import write_config

    path = write_config(tmp_path, untrained_manifest, f'schedule: {{jobstore_url: "{url}"}}\n')
    shown = shown.format(tmp=tmp_path)
    assert main(["schedule", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err
    assert f"schedule.jobstore_url: cannot open the scheduler's job store {shown}" in err
    assert reason in err
    if "sqlite" in url:  # status finds no job store there: the next run from the cron
        assert main(["status", "--config", str(path)]) == 0
    else:
        assert main(["status", "--config", str(path)]) == 2
        assert f"schedule.jobstore_url: cannot open the scheduler's job store {shown}" in (
            capsys.readouterr().err
        )


def test_a_job_store_url_s_password_stays_out_of_the_traceback_too() -> None:
    """Found by a review: the error hid the password SQLAlchemy quoted ("invalid literal for
    int() with base 10: 's3cret'", the password read as the port where the host was left out),
    but kept its ValueError as the cause, which --debug and the scheduler's log print."""
    import traceback

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    from monitor.errors import BadInput
    from monitor.ops.schedule import job_store_errors

    url = "postgresql://monitor:s3cret/jobs"
    with pytest.raises(BadInput) as info, job_store_errors(url, driver=True):
        SQLAlchemyJobStore(url=url)
    printed = "".join(traceback.format_exception(info.value))
    assert "a port that is not a number" in printed and "s3cret" not in printed


def test_dry_run_names_what_would_fail_every_run_and_the_start_refuses_the_model_s(
    tmp_path: Path,
    untrained_manifest: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by a new user's walk through the docs: `schedule --dry-run` passed a
    `model.setting` the ensemble lacks, a device this machine lacks, an archive folder that
    was not there and a region the archive did not hold; every scheduled run then exited 2 (or
    recorded failed regions) and was retried every 15 minutes."""
    from monitor.cli import main
    from monitor.ops import schedule as schedule_module
    from tests.ops.ops_fixtures import write_archive_regions, write_config

    # the ensemble has S1 and S1+S2 members (tests/ops/conftest.py); no machine has 99 GPUs
    bad_model = f"model: {{manifest: {untrained_manifest}, setting: S2, device: 'cuda:99'}}\n"
    path = write_config(tmp_path, untrained_manifest, "")
    text = path.read_text(encoding="utf-8").replace(
        f"model: {{manifest: {untrained_manifest}}}\n", bad_model
    )
    path.write_text(text, encoding="utf-8")
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert "error: model.setting is 'S2' but the ensemble" in err
    # where each region lies is printed whatever else fails (an adopter's walk found it left
    # out, and a polygon written latitude first with it)
    assert "region wayanad-hills: centre 11.4" in out and "region emilia-hills: centre" in out
    assert "has only S1, S1+S2: set one of those, or auto" in err
    assert "error: model.device: 'cuda:99': this machine has" in err
    assert f"error: source.path: the archive folder {tmp_path / 'archive'} does not exist" in err
    assert "3 problem(s): the scheduler or its runs would fail" in err
    # the start refuses the model's problems before it serves or writes a job store
    monkeypatch.setattr(schedule_module, "serve", lambda *a, **k: pytest.fail("served"))
    assert main(["schedule", "--config", str(path)]) == 2
    assert "model.setting is 'S2'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.sqlite"))

    # a good model section; the archive holds one of the two regions
    path = write_config(tmp_path, untrained_manifest, "")
    write_archive_regions(tmp_path)
    (tmp_path / "archive" / "regions" / "emilia-hills" / "region.json").unlink()
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert (
        f"error: region 'emilia-hills' is not in the archive {tmp_path / 'archive'} (regions "
        "there, 1: wayanad-hills)"
    ) in err
    assert "1 problem(s)" in err
    # the start only warns of the archive (a volume mounted late): its runs fail and are retried
    served: list[object] = []
    monkeypatch.setattr(schedule_module, "serve", _recording_serve(served, True))
    with caplog.at_level("WARNING", logger="monitor.ops.schedule"):
        assert main(["schedule", "--config", str(path)]) == 0
    assert served == [True]
    assert "'emilia-hills' is not in the archive" in caplog.text
    write_archive_regions(tmp_path)
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "a start now would run:" in out
    assert "warning: region" not in err  # markers without scenes: nothing to say of them
    # an archive whose scenes ended long before today is said (a rail operator's walk: the
    # dry run listed this week's dates against an archive of 2024 without a word)
    from monitor.sources.archive import ArchiveSource

    config = load_config(path)
    today = datetime.now(ZoneInfo(config.schedule.timezone)).date()
    newest = {"wayanad-hills": date(2024, 10, 13), "emilia-hills": today - timedelta(days=14)}
    monkeypatch.setattr(ArchiveSource, "last_acquisition", lambda self, area: newest[area.name])
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert (
        f"warning: region wayanad-hills: the archive's newest acquisition is 2024-10-13, "
        f"{(today - date(2024, 10, 13)).days} days before today: runs now would find no new "
        'scene (is the source still fed? docs/archive.md, "Daily updates")'
    ) in err
    assert "region emilia-hills: the archive" not in err  # 14 days: within a revisit or two

    # found by a later walk: a polygon written latitude first lies in another UTM zone than
    # the archived region; the dry run passed it, and every run then failed the region
    text = path.read_text(encoding="utf-8")
    swapped = text.replace("[76.16017, 11.48779], [76.14403, 11.48976]", "[11.48779, 76.16017], "
                           "[11.48976, 76.14403]")  # fmt: skip
    for corner in ("[76.12185, 11.48581]", "[76.11983, 11.45617]", "[76.13798, 11.45024]",
                   "[76.15916, 11.4532]", "[76.16017, 11.48779]]]"):  # fmt: skip
        lon, lat = corner.strip("[]").split(", ")
        swapped = swapped.replace(corner, corner.replace(f"{lon}, {lat}", f"{lat}, {lon}"))
    assert swapped.count("[11.4") == 7  # every corner of wayanad-hills swapped
    path.write_text(swapped, encoding="utf-8")
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert (  # read as longitude 11.5, latitude 76.1: UTM zone 32, not Wayanad's 43
        "error: region 'wayanad-hills': the polygon's grid is in EPSG:32632 but the archive "
        "holds EPSG:32643"
    ) in err
    assert "check its coordinates (longitude first, then latitude, in degrees)" in err
    assert "1 problem(s)" in err


def test_a_run_without_its_archive_folder_is_refused_before_anything_is_recorded(
    tmp_path: Path, untrained_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by the same walk: a run whose `source.path` was not there created the inventory,
    recorded a failed run with every region failed, and exited 1, for a mistake of the file."""
    from monitor.cli import main
    from tests.ops.ops_fixtures import write_config

    path = write_config(tmp_path, untrained_manifest, "")
    assert main(["run", "--config", str(path), "--date", "2024-08-20", "--no-alerts"]) == 2
    assert (
        f"source.path: the archive folder {tmp_path / 'archive'} does not exist"
    ) in capsys.readouterr().err
    assert not (tmp_path / "inventory.gpkg").exists()


def test_the_start_s_model_check_leaves_torch_unloaded_on_the_cpu() -> None:
    """The scheduler checks its model section at its start (above): with the default device
    and engine nothing there can be refused, and torch, held for the scheduler's life, would
    cost some 300 MB of memory (measured 202 -> 496 MB) and seconds for nothing."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from monitor.config import ModelSettings\n"
        "from monitor.run_inputs import model_problems\n"
        "assert model_problems(ModelSettings()) == []\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"


def test_the_checks_leave_earth_engine_and_a_remote_cluster_s_devices_alone(
    tmp_path: Path,
    untrained_manifest: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found in review: the dry-run opened the configured source, and Earth Engine's
    initialises its client (credentials, a network call), so a dry-run without credentials
    failed; and `model.device: cuda` was checked on the scheduler's host where a remote Dask
    cluster's workers hold the GPUs (the run itself leaves that to the workers)."""
    import monitor.sources.gee as gee
    from monitor.cli import main
    from monitor.ops import schedule as schedule_module
    from tests.ops.ops_fixtures import write_config

    monkeypatch.setattr(gee.GeeSource, "__init__", lambda *a, **k: pytest.fail("opened EE"))
    extra = "dask: {scheduler_address: 'tcp://gpu-cluster:8786'}\n"
    path = write_config(tmp_path, untrained_manifest, extra)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "source: {type: archive, path: archive}", "source: {type: gee, project: my-project}"
    )
    text = text.replace(
        f"model: {{manifest: {untrained_manifest}}}",
        f"model: {{manifest: {untrained_manifest}, device: 'cuda:99'}}",
    )
    path.write_text(text, encoding="utf-8")
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 0
    assert "a start now would run:" in capsys.readouterr().out
    served: list[object] = []
    monkeypatch.setattr(schedule_module, "serve", _recording_serve(served, True))
    assert main(["schedule", "--config", str(path)]) == 0 and served == [True]
    # without the cluster, the device is this machine's: refused
    path.write_text(text.replace(extra, ""), encoding="utf-8")
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 2
    assert "error: model.device: 'cuda:99'" in capsys.readouterr().err


def test_the_dry_run_names_earth_engine_credentials_every_run_would_refuse(
    tmp_path: Path,
    untrained_manifest: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a user walkthrough (2026-12-06): with a key file that does not exist, the dry
    run printed the schedule and exited 0, and every scheduled run then failed with exit 2
    and was retried for ever. Checked without a request: Earth Engine is never opened."""
    import monitor.sources.gee as gee
    from monitor.cli import main
    from tests.ops.ops_fixtures import write_config

    monkeypatch.setattr(gee.GeeSource, "__init__", lambda *a, **k: pytest.fail("opened EE"))
    missing = tmp_path / "nowhere" / "key.json"
    monkeypatch.setenv("EE_SERVICE_ACCOUNT_KEY", str(missing))
    path = write_config(tmp_path, untrained_manifest)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(
            "source: {type: archive, path: archive}", "source: {type: gee, project: my-project}"
        ),
        encoding="utf-8",
    )
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert (
        f"error: source: service-account key file {missing} (from $EE_SERVICE_ACCOUNT_KEY) "
        "does not exist"
    ) in err
    assert "1 problem(s): the scheduler or its runs would fail" in err


def test_a_job_store_others_may_write_is_removed_unread_and_another_user_s_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a security walkthrough: the scheduler unpickles the jobs of its store, which
    lay beside the inventory as writable as the umask made it. One of this user's that others
    may write is removed unread before it is opened (two reviews: a job planted while it was
    open ran at the next start; a purge that failed after a chmod left the mode saying none was
    due), and the daily job added again; another user's is refused, by the dry run too."""
    import os
    import pickle
    import sqlite3

    from monitor.errors import BadInput
    from monitor.ops.schedule import _keep_job_store_private, job_store_problem

    url = default_jobstore_url(tmp_path / "inventory.gpkg")
    store = tmp_path / "inventory.gpkg.schedule.sqlite"
    ledger = _Ledger({datetime.now(UTC).date()})
    settings = ScheduleSettings(cron="30 5 * * *", timezone="Europe/Rome", stop_grace_s=5)
    daily = DailyScheduler(settings, url, ledger.completed, ledger.run)
    daily.start()
    daily.stop()
    store.chmod(0o666)
    marker = tmp_path / "ran.txt"
    with closing(sqlite3.connect(store)) as conn, conn:
        conn.execute(
            "UPDATE apscheduler_jobs SET job_state = ?", (pickle.dumps(_Planted(str(marker))),)
        )
    daily = DailyScheduler(settings, url, ledger.completed, ledger.run)
    daily.start()
    daily.stop()
    assert not marker.exists()  # removed unread
    assert store.is_file() and not store.stat().st_mode & 0o022  # a new one
    assert next_scheduled_run(url) == settings.trigger().get_next_fire_time(
        None, datetime.now(ROME)
    )  # the daily job, added again from the configuration
    me = store.stat().st_uid
    if me == 0:  # as root (this project's CI): give it to another user
        os.chown(store, 4243, -1)
    monkeypatch.setattr(os, "getuid", lambda: 4242 if me == 0 else me + 1)
    with pytest.raises(BadInput, match=r"belongs to another user \(uid \d+\)"):
        _keep_job_store_private(url)  # another user's, whatever its mode (0644 here)
    problem = job_store_problem(url, tmp_path / "inventory.gpkg")
    assert problem is not None and "remove it (the daily job is added again" in problem
    if me == 0:
        os.chown(store, 0, -1)  # root's: trusted
        _keep_job_store_private(url)


@pytest.mark.parametrize(
    "zone",
    ["Europe/Rome", "America/New_York", "Pacific/Auckland", "America/Santiago",
     "Australia/Lord_Howe", "Asia/Beirut"],
)  # fmt: skip
def test_the_daily_cron_fires_on_every_local_day_across_clock_changes(zone: str) -> None:
    """Found in a time-zone walkthrough: APScheduler 3's cron trigger skipped the day after a
    spring-forward for a fire in the hour after midnight (`30 0 * * *` in Europe/Rome: 31 March
    2024, then 2 April; in zones whose change falls at midnight, the change day itself). Every
    local day of the weeks around each of the zone's changes of 2024 and 2025 gets a fire, at
    every half hour of the night."""
    from zoneinfo import ZoneInfo

    from monitor.config.operations import cron_trigger

    tz = ZoneInfo(zone)
    changes = [
        day
        for day in (date(2024, 1, 1) + timedelta(days=i) for i in range(731))
        if datetime.combine(day, datetime.min.time(), tz).utcoffset()
        != datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).utcoffset()
    ]
    assert len(changes) >= 2, zone
    for change in changes:
        for hour, minute in itertools.product(range(4), (0, 30)):
            trigger = cron_trigger(f"{minute} {hour} * * *", zone)
            now = datetime.combine(change - timedelta(days=3), datetime.min.time(), tz)
            previous = None
            days = []
            for _ in range(8):
                fire = trigger.get_next_fire_time(previous, now)
                assert fire is not None
                days.append(fire.astimezone(tz).date())
                previous = now = fire
            distinct = sorted(set(days))
            assert distinct == [distinct[0] + timedelta(days=i) for i in range(len(distinct))], (
                zone, change, hour, minute, days)  # fmt: skip
            # a first fire asked from each moment of the days before the change (a job's first,
            # fires_from's) is on the next local day that has the time, not one after (found
            # in a review: from 7 September 2024 in America/Santiago, the 9th)
            for back in range(1, 4):
                now = datetime.combine(change - timedelta(days=back), datetime.min.time(), tz)
                now += timedelta(hours=12)
                first = trigger.get_next_fire_time(None, now)
                assert first is not None
                assert first.astimezone(tz).date() - now.date() == timedelta(days=1), (
                    zone, change, hour, minute, now, first)  # fmt: skip


def test_clock_changes_neither_repeat_a_fire_nor_call_the_stored_one_another_cron() -> None:
    """Found in a time-zone walkthrough: the dry run's next fires, counted on the wall clock,
    printed the fall-back's repeated 02:30 five times; `status`, asking the cron from a second
    before the stored run on the wall clock, found tomorrow's inside a spring-forward's shifted
    hour and said to restart the scheduler; `schedule.timezone: Europe` (a folder of zones)
    ended every command with an IsADirectoryError."""
    from zoneinfo import ZoneInfo

    from pydantic import ValidationError

    from monitor.config.operations import cron_trigger, fires_from
    from monitor.ops.status import _fires_at

    rome = ZoneInfo("Europe/Rome")
    trigger = cron_trigger("30 2 * * *", "Europe/Rome")
    start = datetime(2024, 10, 26, 3, 0, tzinfo=rome)
    listed = itertools.islice(fires_from(trigger, start), 4)  # as the dry run lists them
    assert [t.astimezone(UTC).isoformat() for t in listed] == [
        "2024-10-27T00:30:00+00:00", "2024-10-27T01:30:00+00:00",  # 02:30 twice, an hour apart
        "2024-10-28T01:30:00+00:00", "2024-10-29T01:30:00+00:00",
    ]  # fmt: skip
    before = datetime(2024, 3, 30, 2, 30, tzinfo=rome)
    stored = trigger.get_next_fire_time(before, before.astimezone(UTC) + timedelta(seconds=1))
    assert stored is not None and stored.astimezone(UTC).isoformat() == "2024-03-31T01:30:00+00:00"
    assert _fires_at(trigger, stored.astimezone(rome))  # 03:30 CEST: the same cron
    assert not _fires_at(cron_trigger("0 7 * * *", "Europe/Rome"), stored)
    with pytest.raises(ValidationError, match="unknown time zone 'Europe'"):
        ScheduleSettings(timezone="Europe")
    # the host's zone by another name, and tzdata's placeholders: no place's
    for name in ("localtime", "Factory", "posixrules"):
        with pytest.raises(ValidationError, match=f"time zone '{name}' names no place"):
            ScheduleSettings(timezone=name)


def test_the_dry_run_and_the_start_warn_of_the_alert_variables_this_environment_lacks(
    tmp_path: Path,
    untrained_manifest: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found in an adopter's walk: with SMTP_USERNAME and SMTP_PASSWORD unset the dry run
    passed without a word, and only `alerts test` said what the first alerts would meet. Each
    unset variable of a channel in use is now named (a warning: the service's environment may
    set it where the dry run's shell does not); a set one, or a login no channel uses, is not."""
    from monitor.cli import main
    from monitor.ops import schedule as schedule_module
    from tests.ops.ops_fixtures import write_archive_regions, write_config

    alerts = """
    alerts:
      smtp: {host: smtp.example.org, from_address: monitor@example.org,
             username_env: LM_TEST_SMTP_USER, password_env: LM_TEST_SMTP_PASSWORD}
      email: [duty@example.org]
      webhooks:
        - {name: ops, url_env: LM_TEST_HOOK_URL, secret_env: LM_TEST_HOOK_SECRET}
    """
    path = write_config(tmp_path, untrained_manifest, alerts)
    write_archive_regions(tmp_path)
    for variable in ("LM_TEST_SMTP_USER", "LM_TEST_SMTP_PASSWORD", "LM_TEST_HOOK_URL",
                     "LM_TEST_HOOK_SECRET"):  # fmt: skip
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LM_TEST_SMTP_PASSWORD", "")  # set, but empty
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning: alerts:")]
    assert len(warnings) == 4, err
    assert "SMTP username: environment variable LM_TEST_SMTP_USER is not set" in warnings[0]
    assert "SMTP password: environment variable LM_TEST_SMTP_PASSWORD is empty" in warnings[1]
    assert "webhook 'ops' secret: environment variable LM_TEST_HOOK_SECRET is not set" in err
    assert "webhook 'ops' url: environment variable LM_TEST_HOOK_URL is not set" in err
    assert all("wait in the outbox" in line for line in warnings)
    assert "a start now would run:" in out

    # every variable set, the url one to no URL: that alone is named, its value not shown
    monkeypatch.setenv("LM_TEST_SMTP_USER", "monitor")
    monkeypatch.setenv("LM_TEST_SMTP_PASSWORD", "s3cret-pass")
    monkeypatch.setenv("LM_TEST_HOOK_SECRET", "s3cret-hook")
    monkeypatch.setenv("LM_TEST_HOOK_URL", "hooks.example.org/T0K3N")
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: alerts:") == 1, err
    assert "environment variable LM_TEST_HOOK_URL holds no http(s) URL" in err
    assert "T0K3N" not in err and "s3cret" not in err

    # the start logs the same and serves
    monkeypatch.setattr(schedule_module, "serve", lambda *a, **k: 0)
    monkeypatch.delenv("LM_TEST_SMTP_USER")
    with caplog.at_level("WARNING", logger="monitor.ops.schedule"):
        assert main(["schedule", "--config", str(path)]) == 0
    assert "alerts: SMTP username: environment variable LM_TEST_SMTP_USER is not set" in (
        caplog.text
    )

    # all of it right: no warning; without a recipient the SMTP login is read by no channel
    monkeypatch.setenv("LM_TEST_SMTP_USER", "monitor")
    monkeypatch.setenv("LM_TEST_HOOK_URL", "https://hooks.example.org/T0K3N")
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 0
    assert "warning" not in capsys.readouterr().err
    monkeypatch.delenv("LM_TEST_SMTP_USER")
    path.write_text(path.read_text(encoding="utf-8").replace(
        "  email: [duty@example.org]\n", ""), encoding="utf-8")  # fmt: skip
    assert main(["schedule", "--config", str(path), "--dry-run"]) == 0
    assert "warning" not in capsys.readouterr().err
