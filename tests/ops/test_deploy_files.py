"""The deploy files run the same CLI on the same daily schedule, take secrets only from the
environment, and the Kubernetes example configuration is a valid configuration."""

from __future__ import annotations

import configparser
import json
import re
import shlex
from pathlib import Path

import yaml

from models.onnx_engine import CACHE_ENV
from monitor.cli import build_parser
from monitor.config import load_config
from monitor.ops.schedule import ScheduleSettings, cron_trigger

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DEFAULT_CRON = ScheduleSettings().cron


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


def _cli_args(command: str) -> list[str]:
    """The arguments after the ``landslide-monitor`` executable, checked by the real parser."""
    words = shlex.split(command)
    index = next(i for i, w in enumerate(words) if w.endswith("landslide-monitor"))
    args = words[index + 1 :]
    build_parser().parse_args(args)  # raises SystemExit if the CLI would refuse them
    return args


def test_systemd_units_run_the_cli_with_secrets_from_an_environment_file() -> None:
    service = _unit("landslide-monitor.service")
    args = _cli_args(service["Service"]["ExecStart"])
    assert args[:1] == ["run"] and "--config" in args
    assert service["Service"]["EnvironmentFile"].startswith("/etc/landslide-monitor/")
    assert service["Service"]["SuccessExitStatus"] == "75"  # lock held: not a failure
    for unit in (service, _unit("landslide-monitor-scheduler.service")):
        # the ONNX graph cache must be writable under ProtectHome/ProtectSystem
        cache = unit["Service"]["Environment"].removeprefix(f"{CACHE_ENV}=")
        assert cache.startswith(unit["Service"]["ReadWritePaths"] + "/")
    timer = _unit("landslide-monitor.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 06:00:00 UTC"
    assert timer["Timer"]["Persistent"] == "true"
    scheduler = _unit("landslide-monitor-scheduler.service")
    assert _cli_args(scheduler["Service"]["ExecStart"])[:1] == ["schedule"]
    assert scheduler["Service"]["KillMode"] == "mixed"  # SIGTERM to the scheduler only
    stop_s = int(scheduler["Service"]["TimeoutStopSec"])
    assert stop_s > ScheduleSettings().stop_grace_s + 30


def test_crontab_and_cronjob_fire_on_the_default_schedule_and_run_the_cli() -> None:
    lines = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert " ".join(fields[:5]) == DEFAULT_CRON
    cron_trigger(" ".join(fields[:5]), "UTC")
    command = fields[5].split("&&")[-1].split(">>")[0]
    assert _cli_args(command)[-3:] == ["run", "--config", "/etc/landslide-monitor/config.yaml"]

    docs = {
        d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob.yaml").open())
    }
    cronjob = docs["CronJob"]["spec"]
    assert cronjob["schedule"] == DEFAULT_CRON
    assert cronjob["concurrencyPolicy"] == "Forbid"
    container = cronjob["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    build_parser().parse_args(container["args"])
    assert container["args"][0] == "run"
    assert container["envFrom"][0]["secretRef"]["name"] == "landslide-monitor-secrets"


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


def test_kubernetes_example_configuration_is_valid_and_holds_no_secret(
    tmp_path: Path, untrained_manifest: Path
) -> None:
    docs = {
        d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob.yaml").open())
    }
    text = docs["ConfigMap"]["data"]["config.yaml"]
    data = yaml.safe_load(text)
    data["model"] = {"manifest": str(untrained_manifest)}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    assert [r.name for r in config.regions] == ["emilia-hills"]
    # the source is Earth Engine, reached with the secret's project and the mounted key (the
    # archive it named was never filled on a cluster: every run failed)
    assert config.source.type == "gee"
    container = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    # no privilege to gain, no capability, the runtime's syscall filter; the key for the group
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    volumes = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
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
    import subprocess

    (line,) = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    steps = [step.strip() for step in line.split(None, 5)[5].split("&&")]
    env_file = tmp_path / "env"
    env_file.write_text("SMTP_PASSWORD=s3cret-value\nWEBHOOK_SECRET=abc\n")
    shell = [s.replace("/etc/landslide-monitor/env", str(env_file)) for s in steps[1:-1]]
    child = 'sh -c \'printf "%s|%s" "$SMTP_PASSWORD" "$WEBHOOK_SECRET"\''
    out = subprocess.run(
        ["sh", "-c", " && ".join([*shell, child])], capture_output=True, text=True, check=True
    )
    assert out.stdout == "s3cret-value|abc"


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
        unit = _unit(name)["Service"]["Environment"]
        assert unit == f"{CACHE_ENV}={crontab[CACHE_ENV]}"
