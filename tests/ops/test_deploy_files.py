"""The deploy files run the same CLI on the same daily schedule, take secrets only from the
environment, and the Kubernetes example configuration is a valid configuration."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.onnx_engine import CACHE_ENV
from monitor.cli import build_parser
from monitor.config import load_config
from monitor.errors import EXIT_BAD_INPUT, EXIT_FAILED
from monitor.ops.schedule import ScheduleSettings, cron_trigger
from monitor.ops.schedule_runner import LOCK_WAIT_S
from monitor.store.lock import EXIT_LOCKED

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DEFAULT_CRON = ScheduleSettings().cron


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


def _environment(unit: configparser.ConfigParser) -> dict[str, str]:
    """The variables a unit's ``Environment=`` line sets (space-separated assignments)."""
    return dict(word.split("=", 1) for word in shlex.split(unit["Service"]["Environment"]))


def _cli_args(command: str) -> list[str]:
    """The arguments after the ``landslide-monitor`` executable, checked by the real parser."""
    words = shlex.split(command)
    index = next(i for i, w in enumerate(words) if w.endswith("landslide-monitor"))
    args = words[index + 1 :]
    build_parser().parse_args(args)  # raises SystemExit if the CLI would refuse them
    return args


def _kubernetes() -> dict[str, dict[str, Any]]:
    """The objects of deploy/kubernetes/cronjob.yaml by name."""
    with (DEPLOY / "kubernetes" / "cronjob.yaml").open() as file:
        return {d["metadata"]["name"]: d for d in yaml.safe_load_all(file)}


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    return dict(cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def _cron_jobs() -> list[tuple[str, str]]:
    """The crontab's jobs as (schedule, shell command), variable assignments left out."""
    jobs = []
    for line in (DEPLOY / "crontab").read_text().splitlines():
        if line and not line.startswith("#") and "=" not in line.split()[0]:
            fields = line.split(None, 5)
            jobs.append((" ".join(fields[:5]), fields[5]))
    return jobs


def _cron_cli_args(command: str) -> list[str]:
    """The CLI arguments of a cron job: what its subshell ``exec``s, checked by the parser."""
    found = re.search(r"&& exec (\S+landslide-monitor [^)]*)\)", command)
    assert found is not None, f"no `exec .../landslide-monitor ...` in the subshell of {command}"
    return _cli_args(found[1])


def _run_cron_job(command: str, root: Path, exit_status: int) -> tuple[str, str]:
    """Run a cron job's command with ``sh`` as cron would, its paths moved under ``root``, the
    CLI replaced by a stand-in that prints the variables of the environment file and exits with
    ``exit_status``, and ``logger`` by one that records its arguments; returns (what the CLI
    printed into the job's log, what was sent to syslog)."""
    import subprocess

    bin_dir, data, log_dir = root / "bin", root / "data", root / "log"
    for folder in (bin_dir, data):
        folder.mkdir(exist_ok=True)
    cli, logger = bin_dir / "landslide-monitor", bin_dir / "logger"
    cli.write_text(
        '#!/bin/sh\necho "args: $*"\necho "secrets: $SMTP_PASSWORD|$WEBHOOK_SECRET"\n'
        f"exit {exit_status}\n"
    )
    logger.write_text(f'#!/bin/sh\necho "$*" >> {root}/syslog\n')
    for stub in (cli, logger):
        stub.chmod(0o755)
    moved = (
        command.replace("/opt/landslide-monitor/.venv/bin/landslide-monitor", str(cli))
        .replace("/var/lib/landslide-monitor", str(data))
        .replace("/etc/landslide-monitor/env", str(root / "env"))
        .replace("/var/log/landslide-monitor", str(log_dir))
    )
    subprocess.run(
        ["/bin/sh", "-c", moved],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"},
        check=False,  # the job's own status is nobody's to read: cron drops it
        timeout=30,
    )
    logs = "".join(f.read_text() for f in sorted(log_dir.glob("*.log"))) if log_dir.is_dir() else ""
    syslog = root / "syslog"
    return logs, syslog.read_text() if syslog.exists() else ""


def test_systemd_units_run_the_cli_with_secrets_from_an_environment_file() -> None:
    service = _unit("landslide-monitor.service")
    args = _cli_args(service["Service"]["ExecStart"])
    assert args[:1] == ["run"] and "--config" in args
    for name in ("landslide-monitor.timer", "landslide-monitor-deliver.timer"):
        assert (DEPLOY / "systemd" / _unit(name)["Timer"]["Unit"]).is_file()
    assert service["Service"]["EnvironmentFile"].startswith("/etc/landslide-monitor/")
    assert service["Service"]["SuccessExitStatus"] == "75"  # lock held: not a failure
    for unit in (service, _unit("landslide-monitor-scheduler.service")):
        # the ONNX graph cache, and matplotlib's (it warned of an unwritable home in every
        # run), must be writable under ProtectHome/ProtectSystem
        for name in (CACHE_ENV, "MPLCONFIGDIR"):
            assert _environment(unit)[name].startswith(unit["Service"]["ReadWritePaths"] + "/")
    # the timer alone starts the run: enabled, the service ran at every boot, which waited
    assert not service.has_section("Install")
    timer = _unit("landslide-monitor.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 06:00:00 UTC"
    assert timer["Timer"]["Persistent"] == "true"
    scheduler = _unit("landslide-monitor-scheduler.service")
    assert _cli_args(scheduler["Service"]["ExecStart"])[:1] == ["schedule"]
    assert scheduler["Service"]["KillMode"] == "mixed"  # SIGTERM to the scheduler only
    # a start refused for its configuration (exit 2) is not restarted every minute for ever
    assert scheduler["Service"]["Restart"] == "on-failure"
    assert scheduler["Service"]["RestartPreventExitStatus"] == "2"
    stop_s = int(scheduler["Service"]["TimeoutStopSec"])
    assert stop_s > ScheduleSettings().stop_grace_s + 30


def test_crontab_and_cronjob_fire_on_the_default_schedule_and_run_the_cli() -> None:
    jobs = {tuple(_cron_cli_args(command)[1:2]): (when, command) for when, command in _cron_jobs()}
    when, command = jobs[("run",)]
    assert when == DEFAULT_CRON
    for schedule, line in _cron_jobs():
        cron_trigger(schedule, "UTC")
        assert "%" not in line  # cron turns % into a newline
        assert len(line) < 1000  # cronie's longest command
    assert _cron_cli_args(command)[1:4] == ["run", "--config", "/etc/landslide-monitor/config.yaml"]

    cronjob = _kubernetes()["landslide-monitor"]["spec"]
    assert cronjob["schedule"] == DEFAULT_CRON
    assert cronjob["concurrencyPolicy"] == "Forbid"
    container = cronjob["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    build_parser().parse_args(container["args"])
    assert container["args"][0] == "run"
    assert container["envFrom"][0]["secretRef"]["name"] == "landslide-monitor-secrets"


def _seconds(systemd_time: str) -> float:
    """A systemd time span of one unit (``15min``, ``6h``, ``90s``, ``90``) in seconds."""
    found = re.fullmatch(r"(\d+)(s|min|h)?", systemd_time)
    assert found is not None, f"not a one-unit systemd time span: {systemd_time!r}"
    return int(found[1]) * {None: 1, "s": 1, "min": 60, "h": 3600}[found[2]]


def _wait_s(args: list[str]) -> float:
    return float(args[args.index("--wait") + 1]) if "--wait" in args else 0.0


def test_every_deployment_delivers_the_waiting_alerts_every_5_minutes_beside_its_runs() -> None:
    """Found by an SRE's review: an alert a run could not deliver waited for the next day's run,
    as nothing deployed ran `alerts deliver` between runs and the retry delays (60 s to 6 h)
    acted only when something delivered. Each deployment now delivers every 5 minutes; a
    delivery that finds a run at work exits 75, which is no failure, and the run waits for a
    delivery (--wait) instead of losing its day to it (cron and the timer do not start it again)."""
    config = "/etc/landslide-monitor/config.yaml"
    deliver = ["alerts", "deliver", "--config", config]
    every_5_minutes = [datetime(2024, 9, 15, 6, m, tzinfo=UTC) for m in range(0, 30, 5)]

    def fires(schedule: str) -> list[datetime]:
        trigger, fired = cron_trigger(schedule, "UTC"), []
        moment = datetime(2024, 9, 15, 5, 59, 59, tzinfo=UTC)
        for _ in every_5_minutes:
            moment = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
            fired.append(moment)
        return fired

    # systemd: a timer every 5 minutes, the run's environment, 75 a success
    run = _unit("landslide-monitor.service")["Service"]
    service = _unit("landslide-monitor-deliver.service")["Service"]
    assert _cli_args(service["ExecStart"]) == deliver
    for key in ("User", "EnvironmentFile", "WorkingDirectory", "ReadWritePaths"):
        assert service[key] == run[key], key
    assert service["SuccessExitStatus"] == "75"
    timer = _unit("landslide-monitor-deliver.timer")["Timer"]
    assert timer["OnCalendar"] == "*:0/5"  # minutes 0, 5, ... 55 of every hour
    assert (DEPLOY / "systemd" / timer["Unit"]).is_file()
    # the run outwaits the longest delivery systemd lets run
    assert _wait_s(_cli_args(run["ExecStart"])) >= _seconds(service["TimeoutStartSec"])
    # and as long as the built-in scheduler's runs wait (the Docker image's default command)
    assert _wait_s(_cli_args(run["ExecStart"])) == LOCK_WAIT_S

    # cron: the same, 75 not reported (test_a_cron_job_that_fails_says_so_in_syslog_...)
    jobs = {tuple(_cron_cli_args(c)[1:3]): (when, c) for when, c in _cron_jobs()}
    when, command = jobs[("alerts", "deliver")]
    assert fires(when) == every_5_minutes
    assert _cron_cli_args(command)[1:] == deliver
    assert _wait_s(_cron_cli_args(jobs[("run", "--config")][1])) == LOCK_WAIT_S

    # Kubernetes: a CronJob of its own, one job at a time, on the run's volume and secrets
    objects = _kubernetes()
    alerts, daily = objects["landslide-monitor-alerts"], objects["landslide-monitor"]
    assert fires(alerts["spec"]["schedule"]) == every_5_minutes
    assert alerts["spec"]["concurrencyPolicy"] == "Forbid"
    container = _pod(alerts)["containers"][0]
    build_parser().parse_args(container["args"])
    assert container["args"][:4] == deliver
    run_container = _pod(daily)["containers"][0]
    assert container["envFrom"] == run_container["envFrom"]
    claims = [
        {
            v["persistentVolumeClaim"]["claimName"]
            for v in _pod(job)["volumes"]
            if "persistentVolumeClaim" in v
        }
        for job in (alerts, daily)
    ]
    assert claims[0] == claims[1] == {"landslide-monitor-data"}
    job = alerts["spec"]["jobTemplate"]["spec"]
    assert _pod_failure_action(job, EXIT_LOCKED) == "Ignore"  # the run delivers when it ends
    assert job["backoffLimit"] == 0  # 1 and 2: the outbox retries, not a new pod
    assert _pod_failure_action(job, EXIT_FAILED) == "Count"
    assert _wait_s(run_container["args"]) == LOCK_WAIT_S

    # Docker: the host's crontab delivers in the scheduler's container
    text = (DEPLOY / "Dockerfile").read_text()
    line = re.search(
        r"^#   (\S+ \* \* \* \*) docker exec (\S+) landslide-monitor ([^>]*)>(.*)$", text, re.M
    )
    assert line is not None, "the Dockerfile gives no crontab line that delivers the alerts"
    assert fires(line[1]) == every_5_minutes
    assert f"--name {line[2]} " in text  # the container the scheduler runs in
    assert _cli_args(f"landslide-monitor {line[3]}") == deliver
    assert "[ $s -eq 75 ] ||" in line[4]


def test_dockerfile_runs_the_cli_and_pins_the_torch_of_the_constraints() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["landslide-monitor"]' in text
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd is not None, "the Dockerfile has no exec-form CMD"
    args = json.loads(cmd[1])
    build_parser().parse_args(args)  # the CLI accepts what the image runs
    assert args[0] == "schedule"
    constraints = (DEPLOY.parent / "constraints.txt").read_text()
    pinned = re.search(r"^torch==([\d.]+)", constraints, re.M)
    assert pinned is not None and f"ARG TORCH_VERSION={pinned[1]}" in text
    # the configuration's folder is mounted, not the file, whose mount would keep the version
    # of the day it was mounted (editors save by renaming; found in a deployment review)
    mounts = re.findall(r"-v (\S+):/etc/landslide-monitor(\S*)", text)
    assert mounts and all(m == ("/etc/landslide-monitor", ":ro") for m in mounts), mounts


def test_kubernetes_pods_set_the_volume_s_group_once_not_at_every_mount() -> None:
    """Found in a deployment review: fsGroup without a change policy walks the whole data
    volume at every pod start (the deliveries: every 5 minutes) over its growing files."""
    for obj in _kubernetes().values():
        if obj["kind"] == "CronJob":
            context = _pod(obj)["securityContext"]
            assert context["fsGroup"] == 999
            assert context["fsGroupChangePolicy"] == "OnRootMismatch"


def _pod_failure_action(
    job: dict[str, Any], exit_code: int, conditions: tuple[str, ...] = ()
) -> str:
    """What a Job's ``podFailurePolicy`` does with a pod whose container exited ``exit_code``:
    the first rule that matches decides (Kubernetes' order), else ``Count``."""
    containers = {c["name"] for c in job["template"]["spec"]["containers"]}
    for rule in job.get("podFailurePolicy", {}).get("rules", []):
        assert rule["action"] in {"FailJob", "Ignore", "Count"}, rule
        assert ("onExitCodes" in rule) != ("onPodConditions" in rule), rule  # one, not both
        if "onExitCodes" in rule:
            codes = rule["onExitCodes"]
            assert codes.get("containerName", next(iter(containers))) in containers, rule
            values = codes["values"]
            # the API refuses unsorted or repeated values, and 0 with In
            assert values == sorted(set(values)) and 0 not in values, rule
            inside = exit_code in values
            if inside == (codes["operator"] == "In"):
                return str(rule["action"])
        elif any(p["type"] in conditions for p in rule["onPodConditions"]):
            return str(rule["action"])
    return "Count"


def test_the_run_s_job_fails_at_once_on_bad_input_and_tries_again_when_the_lock_is_held() -> None:
    """Found by an SRE's review: `backoffLimit: 2` without a podFailurePolicy started the run
    twice more after a bad configuration (2), counted a lock held by a delivery (75) as one of
    those failures, and ran a partial day (1) again, every region's requests once more."""
    job = _kubernetes()["landslide-monitor"]["spec"]["jobTemplate"]["spec"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # what podFailurePolicy needs
    assert _pod_failure_action(job, EXIT_BAD_INPUT) == "FailJob"
    assert _pod_failure_action(job, EXIT_FAILED) == "FailJob"  # as the scheduler: not rerun
    assert _pod_failure_action(job, EXIT_LOCKED) == "Ignore"
    assert _pod_failure_action(job, 143, ("DisruptionTarget",)) == "Ignore"  # a node drained
    assert _pod_failure_action(job, 137) == "Count"  # killed for memory: tried again
    assert job["backoffLimit"] == 2


def test_kubernetes_example_configuration_is_valid_and_holds_no_secret(
    tmp_path: Path, untrained_manifest: Path
) -> None:
    docs = _kubernetes()
    text = docs["landslide-monitor-config"]["data"]["config.yaml"]
    data = yaml.safe_load(text)
    data["model"] = {"manifest": str(untrained_manifest)}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    assert [r.name for r in config.regions] == ["emilia-hills"]
    # the source is Earth Engine, reached with the secret's project and the mounted key (the
    # archive it named was never filled on a cluster: every run failed)
    assert config.source.type == "gee"
    container = _pod(docs["landslide-monitor"])["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    # no privilege to gain, no capability, the runtime's syscall filter; the key for the group
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    volumes = _pod(docs["landslide-monitor"])["volumes"]
    key_volume = next(v for v in volumes if v["name"] == "ee-key")
    assert key_volume["secret"]["defaultMode"] == 0o440
    key_env = config.source.service_account_key_env
    assert env[key_env].startswith(mounts["ee-key"] + "/")
    raw = (DEPLOY / "kubernetes" / "cronjob.yaml").read_text()
    assert f"--from-literal={config.source.project_env}=" in raw  # in the secret it creates
    smtp = config.alerts.smtp
    assert smtp is not None and (smtp.username_env, smtp.password_env) == (
        "SMTP_USERNAME",
        "SMTP_PASSWORD",
    )
    for deploy_file in DEPLOY.rglob("*"):
        if deploy_file.is_file():
            body = deploy_file.read_text()
            assert not re.search(r"(?i)(password|secret)\s*[:=]\s*['\"]?\w{6,}", body), deploy_file


def test_parsing_a_run_imports_no_other_command_module() -> None:
    """`landslide-monitor run` builds only its own arguments: the scheduler, the review map and
    Earth Engine (`gee check`) are not imported to parse it (before: 1.4-1.6 s of imports)."""
    import subprocess
    import sys

    code = (
        "import sys; from monitor.cli import build_parser; "
        "build_parser(['run', '--config', 'x.yaml']).parse_args(['run', '--config', 'x.yaml']); "
        "print(sorted(m for m in sys.modules if m.startswith(('monitor.ops', 'gee_scripts'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "['monitor.ops', 'monitor.ops._args']"  # the shared arguments


def test_the_crontab_exports_the_plain_env_file_that_systemd_and_docker_read(
    tmp_path: Path,
) -> None:
    """Found by a new user: the crontab asked for `export NAME=value` lines, which
    `docker run --env-file` refuses, and plain lines (systemd's format) never reached the run."""
    (tmp_path / "env").write_text("SMTP_PASSWORD=s3cret-value\nWEBHOOK_SECRET=abc\n")
    (tmp_path / "log").mkdir()
    exporting = [c for _, c in _cron_jobs() if ". /etc/landslide-monitor/env" in c]
    # the run and the delivery send alerts; the health check needs no secret
    assert [_cron_cli_args(c)[1] for c in exporting] == ["run", "alerts"]
    for command in exporting:
        logs, _ = _run_cron_job(command, tmp_path, 0)
        assert "secrets: s3cret-value|abc" in logs


@pytest.mark.parametrize(
    ("exit_status", "logged"), [(0, False), (75, False), (1, True), (2, True), (143, True)]
)
def test_a_cron_job_that_fails_says_so_in_syslog_and_75_is_not_a_failure(
    tmp_path: Path, exit_status: int, logged: bool
) -> None:
    """Found by an SRE's review: the crontab appended the run's output to run.log and dropped its
    exit status, so a run that failed day after day showed nowhere but in that file."""
    (tmp_path / "env").write_text("SMTP_PASSWORD=x\n")
    (tmp_path / "log").mkdir()
    appending = [c for _, c in _cron_jobs() if ">> " in c]  # the health check's: below
    assert [_cron_cli_args(c)[1] for c in appending] == ["run", "alerts"]
    for command in appending:
        log_file = re.search(r">> /var/log/landslide-monitor/(\S+\.log) 2>&1", command)
        assert log_file is not None, command
        logs, syslog = _run_cron_job(command, tmp_path, exit_status)
        assert f"args: {' '.join(_cron_cli_args(command))}" in logs  # its output: in its log
        if logged:
            assert syslog.startswith("-t landslide-monitor -p user.err "), syslog
            assert f"exit status {exit_status}: see {tmp_path}/log/{log_file[1]}" in syslog
        else:
            assert syslog == ""
        (tmp_path / "syslog").unlink(missing_ok=True)


@pytest.mark.parametrize("exit_status", [0, 1, 2])
def test_the_hourly_health_check_sends_its_report_to_syslog_when_it_fails(
    tmp_path: Path, exit_status: int
) -> None:
    (_, command), *_ = [(w, c) for w, c in _cron_jobs() if _cron_cli_args(c)[1] == "status"]
    assert _cron_cli_args(command)[1:] == [
        "status",
        "--config",
        "/etc/landslide-monitor/config.yaml",
        "--check",
    ]
    (tmp_path / "log").mkdir()
    report, syslog = _run_cron_job(command, tmp_path, exit_status)
    assert report.startswith("args: --quiet status")  # check.log: the last report
    if exit_status:  # each line of the report, as a syslog message of its own
        assert syslog == f"-t landslide-monitor -p user.err -f {tmp_path}/log/check.log\n"
    else:
        assert syslog == ""


def _health_checks() -> dict[str, list[str]]:
    """The health-check commands of the deployments (the CLI's arguments, parsed)."""
    checks = {}
    unit = _unit("landslide-monitor-check.service")["Service"]
    checks["systemd"] = _cli_args(unit["ExecStart"])
    checks["cron"] = next(
        _cron_cli_args(c)[1:] for _, c in _cron_jobs() if _cron_cli_args(c)[1] == "status"
    )
    container = _pod(_kubernetes()["landslide-monitor-check"])["containers"][0]
    build_parser().parse_args(container["args"])
    checks["kubernetes"] = container["args"]
    text = (DEPLOY / "Dockerfile").read_text()
    found = re.search(r"^HEALTHCHECK (.*?) \\\n\s+CMD (.*)$", text, re.M)
    assert found is not None, "the Dockerfile has no HEALTHCHECK ... CMD"
    # docker reads statuses other than 0 and 1 as reserved: every failure must read as 1
    assert found[2].endswith(" || exit 1")
    assert "--start-period=" in found[1]  # a new installation's first run
    checks["docker"] = _cli_args(found[2].removesuffix(" || exit 1"))
    return checks


def test_every_deployment_runs_the_health_check_on_the_run_s_configuration() -> None:
    """Found by an SRE's review: `status` always exited 0 and no deployment checked anything;
    each now runs `status --check` (systemd and cron hourly, Kubernetes as a CronJob, Docker as
    its HEALTHCHECK) on the configuration its run reads."""
    config = _cli_args(_unit("landslide-monitor.service")["Service"]["ExecStart"])
    config_path = config[config.index("--config") + 1]
    for where, args in _health_checks().items():
        assert args == ["status", "--config", config_path, "--check"], where
    timer = _unit("landslide-monitor-check.timer")["Timer"]
    assert (DEPLOY / "systemd" / timer["Unit"]).is_file()
    check_job = _kubernetes()["landslide-monitor-check"]["spec"]
    assert check_job["concurrencyPolicy"] == "Forbid"
    assert check_job["jobTemplate"]["spec"]["backoffLimit"] == 0  # a failed check fails the Job
    cron_trigger(check_job["schedule"], "UTC")
    # read-only: the check needs no secret and writes nothing
    pod = _pod(_kubernetes()["landslide-monitor-check"])
    assert "envFrom" not in pod["containers"][0]
    assert all(m.get("readOnly") for m in pod["containers"][0]["volumeMounts"])
    assert "ReadWritePaths" not in _unit("landslide-monitor-check.service")["Service"]


def test_a_cron_job_whose_environment_file_or_log_folder_is_missing_says_so_in_syslog(
    tmp_path: Path,
) -> None:
    import shutil

    (_, command), *_ = _cron_jobs()
    (tmp_path / "log").mkdir()
    logs, syslog = _run_cron_job(command, tmp_path, 0)  # no environment file
    assert "args:" not in logs and f"{tmp_path}/env" in logs  # the shell's message
    # dash exits 2 where `.` or a redirection fails, bash as /bin/sh 1: any failure is reported
    assert re.search(r"exit status [1-9]", syslog), syslog
    (tmp_path / "syslog").unlink()
    (tmp_path / "env").write_text("SMTP_PASSWORD=x\n")
    shutil.rmtree(tmp_path / "log")
    _, syslog = _run_cron_job(command, tmp_path, 0)  # no log folder: the job cannot start
    assert re.search(r"exit status [1-9]", syslog), syslog


def test_logrotate_rotates_every_log_the_crontab_writes_as_the_crontab_user() -> None:
    """Found by an SRE's review: nothing rotated run.log, which grew by every run's output."""
    import fnmatch

    text = (DEPLOY / "logrotate").read_text()
    found = re.search(r"^(\S+) \{\n(.*?)^\}", text, re.S | re.M)
    assert found is not None, "deploy/logrotate holds no `PATTERN { ... }` block"
    pattern = found[1]
    directives = [line.split() for line in found[2].splitlines() if line.strip()]
    logs = [re.search(r">>? (\S+\.log)", command) for _, command in _cron_jobs()]
    assert logs and all(log is not None and fnmatch.fnmatch(log[1], pattern) for log in logs)
    installed = re.search(r"install -d -o (\w+) -g (\w+) (\S+)", (DEPLOY / "crontab").read_text())
    assert installed is not None and fnmatch.fnmatch(f"{installed[3]}/x.log", pattern)
    owner = [installed[1], installed[2]]
    assert ["su", *owner] in directives  # the folder is not root's: logrotate refuses it else
    assert ["create", "0640", *owner] in directives
    assert ["delaycompress"] in directives  # a run still writing keeps its file uncompressed
    assert not any(d[0] == "copytruncate" for d in directives)


def test_the_image_holds_the_license_files_the_package_declares() -> None:
    """Found by a new user: the image copied no LICENSE, so its package was built without the
    `license-files` of pyproject.toml (setuptools warns, and will refuse from 2027-02-18) and
    the image carried no licence."""
    import tomllib

    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]
    text = (DEPLOY / "Dockerfile").read_text()
    copied = {name for line in re.findall(r"^COPY (.+) \S+$", text, re.M) for name in line.split()}
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for name in [*project["license-files"], project["readme"]]:
        assert (DEPLOY.parent / name).is_file()
        assert name in copied, f"the Dockerfile does not copy {name}"
        assert name not in ignored


def test_the_crontab_caches_the_onnx_graphs_where_the_systemd_units_do() -> None:
    """Found by a new user: the systemd units set LANDSLIDE_MONITOR_CACHE and the crontab did
    not, so cron runs exported every member again into the landslide user's ~/.cache (or, where
    that home cannot be written, at every run)."""
    crontab = dict(
        line.split("=", 1)
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line.split()[0]
    )
    for name in ("landslide-monitor.service", "landslide-monitor-scheduler.service"):
        unit = _environment(_unit(name))
        assert {k: unit[k] for k in (CACHE_ENV, "MPLCONFIGDIR")} == {
            k: crontab[k] for k in (CACHE_ENV, "MPLCONFIGDIR")
        }


def test_the_documented_deployment_configuration_keeps_its_data_where_the_units_may_write(
    tmp_path: Path,
) -> None:
    """Found reading the deployment as an operator: operations.md put the configuration in
    /etc/landslide-monitor and the data in /var/lib/landslide-monitor, but relative paths are
    read from the configuration's folder, so the default inventory was
    /etc/landslide-monitor/runs/inventory.gpkg, which systemd's ProtectSystem=strict and the
    image's user cannot write: every run failed. The docs now give the configuration's start,
    and everything it writes lies in the one folder each deployment lets it write."""
    docs = (DEPLOY.parent / "docs" / "operations.md").read_text()
    section = docs.split("### Where a deployment keeps its data", 1)[1].split("\n### ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "operations.md gives no configuration for the deployments"
    config_file = tmp_path / "etc" / "config.yaml"  # where it lies matters no more
    config_file.parent.mkdir()
    config_file.write_text(block[1])
    config = load_config(config_file)
    data = Path("/var/lib/landslide-monitor")
    assert config.base_dir == data
    written = {
        "inventory": config.inventory.path,
        "quicklooks": config.quicklooks.dir,
        "job store": Path(config.schedule.jobstore_for(config.inventory.path).split(":///")[1]),
    }
    for what, path in written.items():
        assert path.is_relative_to(data), (what, path)
    # the folder each deployment writes
    assert _unit("landslide-monitor.service")["Service"]["ReadWritePaths"] == str(data)
    assert f'VOLUME ["{data}"]' in (DEPLOY / "Dockerfile").read_text()
    k8s = _kubernetes()["landslide-monitor-config"]["data"]["config.yaml"]
    assert yaml.safe_load(k8s)["inventory"]["path"].startswith(f"{data}/")


def test_everything_the_image_copies_exists() -> None:
    """Found in review: the demo's configuration moved into the package (monitor/examples/)
    and the Dockerfile still copied the config/ folder, which a build refuses."""
    text = (DEPLOY / "Dockerfile").read_text()
    sources = [name for line in re.findall(r"^COPY (.+) \S+$", text, re.M) for name in line.split()]
    assert "monitor" in sources and len(sources) >= 8
    missing = [name for name in sources if not (DEPLOY.parent / name).exists()]
    assert missing == [], f"the Dockerfile copies what the repository lacks: {missing}"
