"""The ``schedule:`` and ``dask:`` sections: when the daily run fires and where regions run.

The settings are validated here, with the file; what acts on them lives in :mod:`monitor.ops`
(:mod:`monitor.ops.schedule` fires the runs, :mod:`monitor.ops.distributed` starts or reaches
the Dask cluster), which imports this module and never the other way round.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, ValidationInfo, field_validator, model_validator

from monitor.alerts.settings import AlertConfigError, check_env_name, read_secret
from monitor.config._base import StrictModel, resolve_path
from monitor.errors import BadInput

__all__ = [
    "DaskSettings",
    "ScheduleSettings",
    "cron_trigger",
    "default_jobstore_url",
    "fires_from",
    "last_fire_before",
    "sqlite_file",
    "today_in",
]

_CRONTAB_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MIN_WORKER_MEMORY = 2**20  # dask.memory_limit's least size (bytes)


# --------------------------------------------------------------------------- schedule


# zoneinfo's names that are no place's zone: the host's own, and tzdata's placeholders
_NOT_A_PLACE = frozenset({"localtime", "posixrules", "factory"})


class LocalDayCronTrigger(CronTrigger):
    """APScheduler 3's cron trigger, which skipped a day after a spring-forward for a fire in
    the hour after midnight (found in a walkthrough: `30 0 * * *` in Europe/Rome fired on 31
    March 2024, then on 2 April; in America/Santiago, where the change day has no midnight, it
    skipped that day): its increments are worked out on the wall clock and added in UTC. Where
    the offset changes between a fire and the next it finds, each local day between them is
    searched from its own start."""

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        found: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        if found is None:
            return found
        if previous_fire_time is None:
            # a first fire, asked from ``now`` (a job's first, `fires_from`'s): ``now`` stands
            # for the fire before, a fire at ``now`` itself counting (found in a review: from
            # 7 September 2024 in America/Santiago the first fire came out as the 9th)
            previous_fire_time = now - timedelta(microseconds=1)
        zone = self.timezone
        before, after = previous_fire_time.astimezone(zone), found.astimezone(zone)
        if before.utcoffset() == after.utcoffset():
            return found
        day = before.date() + timedelta(days=1)
        while day < after.date():
            # the day's midnight on its wall clock, as APScheduler reads one that does not exist
            # (a change at midnight): its fires then keep their date, an hour later
            start = datetime.combine(day, time(0), tzinfo=zone)
            after_previous = previous_fire_time.astimezone(UTC) + timedelta(microseconds=1)
            if start.astimezone(UTC) < after_previous:  # instants: one zone compares wall times
                start = after_previous.astimezone(zone)
            candidate: datetime | None = super().get_next_fire_time(None, start)
            if candidate is not None and (
                previous_fire_time.astimezone(UTC)
                < candidate.astimezone(UTC)
                < found.astimezone(UTC)
            ):
                return candidate
            day += timedelta(days=1)
        return found


def fires_from(trigger: BaseTrigger, start: datetime) -> Iterator[datetime]:
    """``trigger``'s fires from ``start`` on, in time order, each next one asked from a second
    after the last in time, not on the wall clock (which repeated the fall-back's hour: found in
    a time-zone walkthrough); the schedule's dry run lists them, ``status`` finds its stored one
    among them."""
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None:
        yield fire
        fire = trigger.get_next_fire_time(fire, fire.astimezone(UTC) + timedelta(seconds=1))


#: How far back :func:`last_fire_before` looks (a leap day's schedule fires every four years).
_MOST_LOOKBACK = timedelta(days=1500)


def last_fire_before(trigger: BaseTrigger, moment: datetime) -> datetime | None:
    """``trigger``'s last fire at or before ``moment``; None where none is found in
    :data:`_MOST_LOOKBACK`. The window searched doubles from an hour, so a schedule every
    second costs no year of fires."""
    lookback = timedelta(hours=1)
    while True:
        last = None
        for fire in fires_from(trigger, moment - lookback):
            if fire.astimezone(UTC) > moment.astimezone(UTC):
                break
            last = fire
        if last is not None or lookback >= _MOST_LOOKBACK:
            return last
        lookback *= 2


def cron_trigger(expr: str, timezone: str) -> CronTrigger:
    """An APScheduler trigger for a crontab expression in ``timezone``.

    Five fields (``minute hour day month weekday``) as in crontab(5), or six with a leading
    ``second`` field. Weekday numbers follow crontab (0 or 7 = Sunday, 1 = Monday); APScheduler 3
    counts 0 = Monday, so numbers are translated to names here. Names (``mon-fri``) pass through.
    """
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"cron expression {expr!r} has {len(fields)} fields; expected 5 "
            "(minute hour day month weekday) or 6 (second minute hour day month weekday)"
        )
    second = fields[0] if len(fields) == 6 else "0"
    minute, hour, day, month, weekday = fields[-5:]
    # (APScheduler's name, crontab's name, the field as written, as APScheduler reads it)
    parts = [
        ("second", "second", second, second),
        ("minute", "minute", minute, minute),
        ("hour", "hour", hour, hour),
        ("day", "day of the month", day, day),
        ("month", "month", month, month),
        ("day_of_week", "weekday", weekday, _crontab_weekdays(weekday)),
    ]
    try:
        return LocalDayCronTrigger(**{name: read for name, _, _, read in parts}, timezone=timezone)
    except ValueError as err:
        # APScheduler names the value, not its field (found by a walkthrough: '0 25 * * *'
        # said "Error validating expression '25'", not that 25 is the hour)
        for name, shown, written, read in parts:
            try:
                CronTrigger(**{name: read}, timezone=timezone)
            except ValueError:
                raise ValueError(f"the {shown} field {written!r} of {expr!r}: {err}") from None
        raise


def _crontab_weekdays(field: str) -> str:
    """A crontab weekday field with numbers replaced by APScheduler's weekday names."""
    out: list[str] = []
    for token in field.split(","):
        span, _, step_text = token.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            if not step_text:
                out.append("*")
                continue
            lo, hi = 0, 6
        elif span.replace("-", "").isdigit():
            lo_text, _, hi_text = span.partition("-")
            lo = int(lo_text)
            hi = int(hi_text) if hi_text else (6 if step_text else lo)
            if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi):
                raise ValueError(f"weekday {token!r} is outside 0-7 (0 and 7 are Sunday)")
        else:
            out.append(token)  # names, e.g. mon-fri; APScheduler checks them
            continue
        out.extend(_CRONTAB_WEEKDAYS[d % 7] for d in range(lo, hi + 1, step))
    return ",".join(dict.fromkeys(out))


def default_jobstore_url(inventory: str | os.PathLike[str]) -> str:
    """SQLite job store next to the inventory: ``<inventory>.schedule.sqlite``."""
    inventory = Path(inventory).resolve()
    return f"sqlite:///{inventory.with_name(inventory.name + '.schedule.sqlite')}"


def today_in(timezone: str, now: datetime | None = None) -> date:
    """The calendar date of ``now`` (default: this moment) in ``timezone`` (an IANA name)."""
    moment = now if now is not None else datetime.now(UTC)
    return moment.astimezone(ZoneInfo(timezone)).date()


# An SQLAlchemy URL of an SQLite file: sqlite:///relative.db, sqlite:////absolute.db,
# sqlite+pysqlite:///x.db?timeout=20
_SQLITE_FILE = re.compile(r"(?P<scheme>sqlite(\+\w+)?:///)(?P<file>[^?]*)(?P<query>\?.*)?", re.S)


def _sqlite_parts(url: str) -> tuple[str, Path, str] | None:
    """An SQLAlchemy URL of an SQLite file as (scheme, file, query); None for another database
    or an in-memory one."""
    found = _SQLITE_FILE.fullmatch(url)
    if found is None or found["file"] in ("", ":memory:"):
        return None
    return found["scheme"], Path(found["file"]), found["query"] or ""


def sqlite_file(url: str) -> Path | None:
    """The SQLite file of an SQLAlchemy URL (None for another database or an in-memory one)."""
    parts = _sqlite_parts(url)
    return None if parts is None else parts[1]


# The most a duration of this section may be: a larger one is a mistake, and an infinite or
# astronomical one overflowed a time span or a lock's timeout (found in a config audit).
_DAY_S = 86400
_WEEK_S = 7 * _DAY_S


class ScheduleSettings(StrictModel):
    """The ``schedule:`` section of the configuration."""

    cron: str = Field(
        "0 6 * * *",
        description="crontab expression of the daily run (5 fields, or 6 with leading seconds)",
    )
    timezone: str = Field("UTC", description="IANA time zone the cron expression is read in")
    jobstore_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the job store; default: an SQLite file next to the "
        "inventory (<inventory>.schedule.sqlite); a relative SQLite file is read from base_dir "
        "(the configuration's folder by default), as every path of the configuration",
    )
    jobstore_url_env: str | None = Field(
        None,
        description="instead of jobstore_url: the environment variable holding the job store's "
        "URL, for one with a password (a database server's), which then stays out of the file",
    )
    # the bounds: a week, a year, a day; found in a config audit: catch_up_days 1000000 was an
    # OverflowError of the scheduler's dates, and APScheduler's timedelta of a misfire_grace_s
    # of 1e14 one at every fire, so the job never ran
    misfire_grace_s: int = Field(
        6 * 3600, gt=0, le=_WEEK_S, description="how late a missed fire may still run (seconds)"
    )
    catch_up_days: int = Field(
        7, ge=0, le=366, description="how many days back missed runs are caught up at start"
    )
    retry_after_s: int = Field(
        900, gt=0, le=_DAY_S, description="retry delay when a run fails or the inventory is locked"
    )
    stop_grace_s: float = Field(
        60.0,
        ge=0,
        le=_DAY_S,
        description="on SIGTERM, how long a run in progress may take to finish",
    )
    run_timeout_s: float = Field(
        6 * 3600.0,
        gt=0,
        le=_WEEK_S,
        description="how long one day's run may take: a run still going then is stopped as at "
        "a shutdown (SIGTERM, SIGKILL 30 s later) and retried after retry_after_s; 6 h, the "
        "limit the systemd timer and the Kubernetes job set on a run",
    )

    @field_validator("jobstore_url")
    @classmethod
    def _sqlite_file_from_the_config_folder(
        cls, value: str | None, info: ValidationInfo
    ) -> str | None:
        # sqlite:///jobs.sqlite is relative: SQLAlchemy reads it from the working directory,
        # which differs between a shell, cron and systemd; every other path of the file is
        # read from its folder
        parts = _sqlite_parts(value or "")
        if parts is None:
            return value
        scheme, file, query = parts
        return f"{scheme}{resolve_path(file, info)}{query}"  # ~ expanded, as SQLAlchemy does not

    @field_validator("jobstore_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name(value)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # the host's zone (`localtime` is a link to /etc/localtime), or none: the host's own
        # zone plays no part in the schedule (found in a time-zone walkthrough)
        if value.strip().lower() in _NOT_A_PLACE:
            raise ValueError(
                f"time zone {value!r} names no place (the host's zone, or none): use an IANA "
                "name such as Europe/Rome"
            )
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe": a folder of zones
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Rome)"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_jobstore_url(self) -> ScheduleSettings:
        if self.jobstore_url is not None and self.jobstore_url_env is not None:
            raise ValueError("set jobstore_url or jobstore_url_env, not both")
        return self

    @model_validator(mode="after")
    def _valid_cron(self) -> ScheduleSettings:
        try:
            trigger = cron_trigger(self.cron, self.timezone)
        except ValueError as exc:
            raise ValueError(f"cron: {exc}") from None
        # 30 February: the scheduler would start and never run (a leap day's cron does fire)
        if trigger.get_next_fire_time(None, datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise ValueError(
                f"cron: {self.cron!r} never fires: no day of any year matches its day, month "
                "and weekday fields"
            )
        return self

    def jobstore_for(self, inventory: str | os.PathLike[str]) -> str:
        """The job store's URL: the configured one (from the environment variable
        ``jobstore_url_env`` names, read now), else :func:`default_jobstore_url`;
        :class:`BadInput` naming the field where that variable is unset or empty, or holds a
        relative SQLite file (the URL has no configuration folder to be read from)."""
        variable = self.jobstore_url_env
        if variable is None:
            return self.jobstore_url or default_jobstore_url(inventory)
        try:
            url = read_secret(variable, "schedule.jobstore_url_env")
        except AlertConfigError as exc:
            raise BadInput(str(exc)) from None
        parts = _sqlite_parts(url)
        if parts is None:
            return url
        scheme, file, query = parts
        if not file.expanduser().is_absolute():
            raise BadInput(
                f"schedule.jobstore_url_env: {variable} holds a relative SQLite file ({file}); "
                "give its absolute path (sqlite:////var/lib/landslide-monitor/jobs.sqlite)"
            )
        return f"{scheme}{file.expanduser()}{query}"  # ~ expanded, as SQLAlchemy does not

    def trigger(self) -> CronTrigger:
        return cron_trigger(self.cron, self.timezone)

    def today(self) -> date:
        """Today in ``timezone``: the calendar the daily runs are dated by (the scheduler, a
        `run` without --date, the future-date check, `gee check` and the review map)."""
        return today_in(self.timezone)


# --------------------------------------------------------------------------- dask


def _memory_share(value: object) -> bool:
    """Whether ``value`` is what Dask reads as a share of the machine's memory: a number
    between 0 and 1 (``0.5``, ``"0.5"``) or a percentage (``"60%"``)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.strip().endswith("%"):
        return True
    try:
        number = float(value) if isinstance(value, str | int | float) else None
    except ValueError:
        return False
    return number is not None and 0.0 < number < 1.0


def _address_problem(address: str) -> str | None:
    """What a scheduler address lacks that Dask's network protocols need: a host and a port
    (Dask's TCP connector takes no default port), or None. Found in a walkthrough: ``tcp://``
    and ``tcp://host:notaport`` passed the configuration and failed each run with "did not
    answer as a Dask scheduler"."""
    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "tls", "ws", "wss", "ucx"):
        return None  # inproc:// and others: Dask's to judge
    try:
        port = parts.port
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    if not parts.hostname:
        return "names no host"
    if port is None:
        return "names no port (a Dask scheduler listens on 8786 by default: give it)"
    return None


class DaskSettings(StrictModel):
    """The ``dask:`` section of the configuration."""

    enabled: bool = Field(
        False, description="run regions in parallel on Dask (implied by scheduler_address)"
    )
    scheduler_address: str | None = Field(
        None, description="address of an existing Dask scheduler, e.g. tcp://10.0.0.5:8786"
    )
    n_workers: int | None = Field(
        None, ge=1, description="local cluster: worker processes (default: one per core)"
    )
    threads_per_worker: int = Field(1, ge=1, description="local cluster: threads per worker")
    memory_limit: str | int | None = Field(
        "auto",
        description=(
            "local cluster: memory limit per worker: 'auto' (Dask's share of this machine's "
            "memory), a size Dask's parse_bytes reads ('4GiB', '500MB', a number of bytes; at "
            "least 1 MiB), or 0 or null for no limit"
        ),
    )
    dashboard: bool = Field(
        False, description="local cluster: serve the dashboard on 127.0.0.1:8787 (loopback only)"
    )
    connect_timeout_s: float = Field(
        30.0,
        gt=0,
        le=_DAY_S,
        description="seconds that connecting to scheduler_address may take in all, Dask's "
        "handshake included",
    )
    retries: int = Field(
        0,
        ge=0,
        description=(
            "times a region that raised on a worker is run again (Dask's task retries); a "
            "region whose worker died is run again by the Dask scheduler whatever this says, up "
            "to its distributed.scheduler.allowed-failures (3 by default)"
        ),
    )
    no_workers_timeout_s: float = Field(
        600.0,
        gt=0,
        le=_DAY_S,
        description=(
            "how long regions wait while the cluster has no worker at all (every worker died, "
            "or a remote scheduler's were stopped) before they are recorded failed"
        ),
    )

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _memory_size(cls, value: object) -> str | int | None:
        # checked with the file, not once the run has started its cluster (a ValueError that
        # named nothing); a size becomes bytes, which Dask takes as they are
        if value == "auto":
            return "auto"
        if value is None:  # Dask's own meaning of None, and of a zero size below: no limit
            return None
        usage = "give auto, a size such as 4GiB or 500MB, or 0 or null for no limit"
        if isinstance(value, float) and value.is_integer():  # YAML reads 4.0e+9 as a float
            value = int(value)
        if _memory_share(value):  # found in an upgrade walk: "under 1 MiB" misread it
            raise ValueError(
                f"{value!r} is a share of the machine's memory to Dask, which this setting "
                f"does not take; {usage}"
            )
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"{value!r} is not a size; {usage}")
        from dask.utils import parse_bytes  # here: a size is rare, the CLI's start is not

        try:
            size = parse_bytes(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a size Dask reads; {usage}") from None
        if size == 0 and re.fullmatch(r"\s*0+(\.0*)?\s*[A-Za-z]*\s*", str(value)):
            return None  # "0 B", "0GiB": no limit, as 0 ("0.5", a share to Dask, is refused)
        # a worker under 1 MiB is paused at once; and parse_bytes reads "0.5" as 0 bytes and
        # "" as 1, which Dask would take for a share of the memory
        if size < _MIN_WORKER_MEMORY:
            raise ValueError(f"{value!r} is under 1 MiB, too little for a worker; {usage}")
        return size

    @model_validator(mode="after")
    def _address_enables(self) -> DaskSettings:
        if self.scheduler_address is not None:
            if "://" not in self.scheduler_address:
                raise ValueError(
                    f"scheduler_address: {self.scheduler_address!r} needs a protocol, "
                    "e.g. tcp://host:8786"
                )
            if problem := _address_problem(self.scheduler_address):
                raise ValueError(
                    f"scheduler_address: {self.scheduler_address!r} {problem}, e.g. tcp://host:8786"
                )
            self.enabled = True
        return self

    def local_workers(self, n_tasks: int | None = None) -> int:
        """Worker processes of a local cluster: ``n_workers``, else one per core, never more
        than there are tasks."""
        n = self.n_workers or os.cpu_count() or 1
        return max(1, min(n, n_tasks)) if n_tasks else n
