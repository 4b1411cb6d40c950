"""Retry with backoff (quota 429, transient errors), authentication and the settings block."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import ee
import pytest
from ee import _state as ee_state
from pydantic import ValidationError

from gee_scripts import auth
from gee_scripts.retry import Backoff, EarthEngineError, call_with_retry, classify, is_transient
from gee_scripts.settings import GeeSettings, RetrySettings


class _Resp:
    def __init__(self, status: int) -> None:
        self.status = status


class _HttpError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.resp = _Resp(status)


def _ee_error_from_http(status: int, message: str) -> ee.EEException:
    """As earthengine-api raises it: an EEException raised while handling the HttpError."""
    try:
        raise _HttpError(status)
    except _HttpError:
        try:
            raise ee.EEException(message)
        except ee.EEException as exc:
            return exc


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (_ee_error_from_http(429, "Too Many Requests: rate limit"), True),
        (_ee_error_from_http(503, "Service unavailable"), True),
        (_ee_error_from_http(400, "Image.select: band 'B99' not found"), False),
        (_ee_error_from_http(403, "Permission denied"), False),
        (ee.EEException("Too many concurrent aggregations."), True),
        (ee.EEException("Computation timed out."), True),
        (ee.EEException("User memory limit exceeded."), False),
        (ee.EEException("Collection.first: Error in map"), False),
        (TimeoutError("read timed out"), True),
        (ConnectionResetError("reset by peer"), True),
        (ValueError("bad"), False),
    ],
)
def test_classification(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


@pytest.mark.parametrize(
    ("exc", "treatment"),
    [
        # The service answers all three with the message deciding, not the status.
        (_ee_error_from_http(400, "Computation timed out."), "timeout"),
        (_ee_error_from_http(400, "User memory limit exceeded."), "permanent"),
        (_ee_error_from_http(429, "Too many concurrent aggregations."), "transient"),
        (_ee_error_from_http(400, "Too many concurrent aggregations."), "transient"),
        (_ee_error_from_http(400, "Image.load: Image asset 'users/x/dem' not found."), "permanent"),
        (_ee_error_from_http(403, "Quota exceeded for quota metric 'requests'"), "transient"),
        (_ee_error_from_http(500, "An internal error has occurred"), "transient"),
        (_ee_error_from_http(404, "Not found"), "permanent"),
    ],
)
def test_classification_by_message_and_status(exc: BaseException, treatment: str) -> None:
    assert classify(exc).treatment == treatment


def test_computation_timed_out_400_is_retried_once_a_bad_asset_400_never() -> None:
    timed_out = [_ee_error_from_http(400, "Computation timed out.")]
    calls: list[int] = []

    def heavy() -> str:
        calls.append(1)
        if timed_out:
            raise timed_out.pop()
        return "pixels"

    assert call_with_retry(heavy, what="tile", sleep=lambda s: None) == "pixels"
    assert len(calls) == 2

    calls.clear()

    def always_heavy() -> None:
        calls.append(1)
        raise _ee_error_from_http(400, "Computation timed out.")

    # One retry by default (the same computation rarely fits the second time), then the advice.
    with pytest.raises(EarthEngineError, match=r"tried 2 times; make the request smaller"):
        call_with_retry(always_heavy, what="tile", sleep=lambda s: None)
    assert len(calls) == 2

    calls.clear()

    def bad_asset() -> None:
        calls.append(1)
        raise _ee_error_from_http(400, "Image.load: Image asset 'users/x/dem' not found.")

    with pytest.raises(EarthEngineError, match=r"not retried: HTTP 400"):
        call_with_retry(bad_asset, what="tile", sleep=lambda s: None)
    assert len(calls) == 1


def test_the_deadline_holds_inside_an_attempt() -> None:
    """An attempt that hangs is given up at the deadline, not after it finishes."""
    release = threading.Event()

    def hangs() -> None:
        release.wait(10.0)  # a request the server is still computing

    started = time.monotonic()
    try:
        with pytest.raises(EarthEngineError, match=r"attempt 1 still running at the deadline"):
            call_with_retry(hangs, what="tile", policy=Backoff(total_timeout_s=0.3))
    finally:
        release.set()
    # 0.3 s deadline (measured 0.31 s); 1 s of slack for thread start-up on a loaded 2-core
    # machine. Without the deadline inside the attempt this waits the full 10 s.
    assert time.monotonic() - started < 1.3


def test_retries_quota_then_succeeds_with_growing_bounded_waits() -> None:
    failures = [_ee_error_from_http(429, "quota")] * 3
    waits: list[float] = []

    def call() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    policy = Backoff(attempts=5, initial_delay_s=2.0, max_delay_s=5.0)
    result = call_with_retry(call, what="probe", policy=policy, sleep=waits.append, rng=lambda: 1.0)
    assert result == "ok"
    assert waits == [2.0, 4.0, 5.0]  # 2·2^n, capped at 5 s (full jitter at its ceiling)


def test_permanent_error_is_not_retried_and_named() -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        raise ee.EEException("Image.load: Asset 'x/y' not found.")

    with pytest.raises(EarthEngineError, match=r"S1 availability, region r: EEException"):
        call_with_retry(call, what="S1 availability, region r", sleep=lambda s: None)
    assert len(calls) == 1


def test_attempts_and_deadline_are_bounded() -> None:
    def call() -> None:
        raise TimeoutError("slow")

    waits: list[float] = []
    with pytest.raises(EarthEngineError, match="still failing after 3 attempts"):
        call_with_retry(
            call, what="x", policy=Backoff(attempts=3), sleep=waits.append, rng=lambda: 0.5
        )
    assert waits == [0.5, 1.0]
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    with pytest.raises(EarthEngineError, match=r"gave up after 4.0 s \(limit 10 s\)"):
        call_with_retry(
            call,
            what="x",
            policy=Backoff(attempts=20, initial_delay_s=4.0, max_delay_s=8.0, total_timeout_s=10.0),
            sleep=sleep,
            clock=lambda: now[0],
            rng=lambda: 1.0,
        )
    assert now[0] <= 10.0


# -- auth ---------------------------------------------------------------------------------------
def _key_file(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    key = {
        "type": "service_account",
        "project_id": "landslide-project",
        "private_key_id": "abc",
        "private_key": pem,
        "client_email": "monitor@landslide-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key))
    return path


def test_service_account_from_env_variable(tmp_path: Path) -> None:
    path = _key_file(tmp_path)
    resolved = auth.resolve_credentials(
        GeeSettings(), environ={"EE_SERVICE_ACCOUNT_KEY": str(path)}
    )
    assert resolved.project == "landslide-project"
    assert resolved.credentials.service_account_email.startswith("monitor@")
    assert "BEGIN" not in resolved.description and str(path) in resolved.description
    # The configured project wins over the key's; the env project over the key's too.
    settings = GeeSettings(service_account_key=path, project="other-project")
    assert auth.resolve_credentials(settings, environ={}).project == "other-project"
    env = {"EE_SERVICE_ACCOUNT_KEY": str(path), "EE_PROJECT": "from-env"}
    assert auth.resolve_credentials(GeeSettings(), environ=env).project == "from-env"


def test_initialize_uses_the_standard_endpoint_a_deadline_and_no_client_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict] = []
    deadlines: list[float] = []
    max_retries: list[int] = []
    attempts = {"left": 1}
    state = ee_state.get_state()
    monkeypatch.setattr(state, "deadline_ms", 0)  # given back after the test

    def fake_initialize(
        credentials: object, url: str | None = None, project: str | None = None
    ) -> None:
        # the deadline holds the client's own start-up requests too (found in a walkthrough:
        # it was set after them, and a connection hung there held the whole retry budget)
        deadlines.append(state.deadline_ms)
        if attempts["left"]:
            attempts["left"] -= 1
            raise ee.EEException("Service unavailable")
        calls.append({"credentials": credentials, "url": url, "project": project})

    monkeypatch.setattr(ee, "Initialize", fake_initialize)
    monkeypatch.setattr(ee.data, "setMaxRetries", max_retries.append)
    settings = GeeSettings(service_account_key=_key_file(tmp_path), project="my-project")
    settings = settings.model_copy(update={"retry": RetrySettings(initial_delay_s=0.001)})
    resolved = auth.initialize(settings, environ={})
    # The standard endpoint (url None: the client's default) unless configured otherwise.
    assert calls == [{"credentials": resolved.credentials, "url": None, "project": "my-project"}]
    # a little over the service's 5-minute interactive limit, from the first attempt on
    assert deadlines == [320_000, 320_000]
    assert max_retries == [0]  # gee_scripts.retry is the only layer that retries
    high_volume = settings.model_copy(update={"high_volume_endpoint": True})
    auth.initialize(high_volume, environ={})
    assert calls[-1]["url"] == auth.HIGH_VOLUME_URL
    # an earthengine-api without its state module (before 1.6, which pyproject.toml allows):
    # the deadline is set once the client has started, as before
    set_deadlines: list[float] = []
    monkeypatch.setattr(ee.data, "setDeadline", set_deadlines.append)
    monkeypatch.delattr(ee, "_state")
    monkeypatch.setitem(sys.modules, "ee._state", None)  # import fails
    auth.initialize(settings, environ={})
    assert set_deadlines == [320_000]


def test_credentials_google_refuses_are_bad_input_naming_the_key_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a walkthrough: a deleted key's `invalid_grant`, and a project Earth Engine
    refuses (403), ended `gee check` and `run` with exit status 1 and the client's words,
    naming neither the key file nor what to do; neither is retried."""
    from google.auth.exceptions import RefreshError
    from googleapiclient.errors import HttpError
    from httplib2 import Response

    key = _key_file(tmp_path)
    settings = GeeSettings(service_account_key=key, project="my-project")
    settings = settings.model_copy(update={"retry": RetrySettings(initial_delay_s=0.001)})
    tries: list[int] = []

    def token_refused(*args: object, **kwargs: object) -> None:
        tries.append(1)
        raise RefreshError(
            "invalid_grant: Invalid JWT Signature.",
            {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
        )

    monkeypatch.setattr(ee.data, "setMaxRetries", lambda n: None)
    monkeypatch.setattr(ee_state.get_state(), "deadline_ms", 0)  # given back after the test
    monkeypatch.setattr(ee, "Initialize", token_refused)
    with pytest.raises(auth.AuthError) as refused:
        auth.initialize(settings, environ={})
    said = str(refused.value)
    assert said.startswith(
        "Google's token service refused service account "
        f"monitor@landslide-project.iam.gserviceaccount.com (key {key}): invalid_grant: "
        "Invalid JWT Signature. (a key deleted or disabled"
    )
    assert "download a new key" in said and "BEGIN" not in said
    assert tries == [1]

    def project_refused(*args: object, **kwargs: object) -> None:
        tries.append(1)
        try:
            raise HttpError(Response({"status": 403}), b'{"error": {"code": 403}}')
        except HttpError:  # as the client translates it (ee.data._execute_cloud_call)
            raise ee.EEException(  # noqa: B904
                "Earth Engine API has not been used in project 4321 before or it is disabled."
            )

    monkeypatch.setattr(ee, "Initialize", project_refused)
    with pytest.raises(auth.AuthError) as refused:
        auth.initialize(settings, environ={})
    said = str(refused.value)
    assert "for project 'my-project' (HTTP 403: Earth Engine API has not been used" in said
    assert "register the project for Earth Engine" in said
    assert "Service Usage Consumer" in said
    assert tries == [1, 1]  # not retried
    # an outage is none of these: retried, and told as it is (found in a review: a quota's
    # 403, a metadata server's blip and the token service's 5xx were told to renew the key)
    from google.auth.exceptions import TransportError

    def quota_403(*args: object, **kwargs: object) -> None:
        tries.append(1)
        try:
            raise HttpError(Response({"status": 403}), b'{"error": {"code": 403}}')
        except HttpError:
            raise ee.EEException("Quota exceeded for quota metric 'Requests'.")  # noqa: B904

    def metadata_blip(*args: object, **kwargs: object) -> None:
        tries.append(1)
        try:
            raise TransportError("Failed to retrieve http://metadata.google.internal/")
        except TransportError as exc:
            raise RefreshError(exc) from exc

    def token_5xx(*args: object, **kwargs: object) -> None:
        tries.append(1)
        raise RefreshError("Internal Failure", {"error": "internal"}, retryable=True)

    twice = settings.model_copy(update={"retry": RetrySettings(initial_delay_s=0.001, attempts=2)})
    for outage in (quota_403, metadata_blip, token_5xx):
        tries.clear()
        monkeypatch.setattr(ee, "Initialize", outage)
        with pytest.raises(EarthEngineError) as failed:
            auth.initialize(twice, environ={})
        assert not isinstance(failed.value, auth.AuthError), outage.__name__
        assert tries == [1, 1], outage.__name__  # retried
    # and a command says so with exit status 2, before any region
    from monitor.cli import _exit_status_of

    assert _exit_status_of(refused.value)[0] == 2


def test_bad_key_files_are_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(auth.AuthError, match=r"nope.json \(from source.service_account_key\)"):
        auth.resolve_credentials(GeeSettings(service_account_key=missing), environ={})
    user = tmp_path / "user.json"
    user.write_text(json.dumps({"type": "authorized_user"}))
    with pytest.raises(auth.AuthError, match=r"not a service-account key"):
        auth.resolve_credentials(GeeSettings(), environ={"EE_SERVICE_ACCOUNT_KEY": str(user)})


def test_a_malformed_key_file_is_named_with_what_is_wrong(tmp_path: Path) -> None:
    """Found by a new user: a key whose private_key is no PEM key (a truncated copy) failed with
    google-auth's 'ValueError: Unable to load PEM file', naming neither the file nor the field;
    a JSON file that is no object, with an AttributeError; a folder 'did not exist'."""
    info = {
        "type": "service_account",
        "client_email": "monitor@p.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
        "private_key": "garbage",
    }
    bad_pem = tmp_path / "truncated.json"
    bad_pem.write_text(json.dumps(info))
    env = {"EE_SERVICE_ACCOUNT_KEY": str(bad_pem)}
    named = r"truncated.json \(from \$EE_SERVICE_ACCOUNT_KEY\): its private_key is not a PEM"
    with pytest.raises(auth.AuthError, match=named) as err:
        auth.resolve_credentials(GeeSettings(), environ=env)
    assert "garbage" not in str(err.value)  # never the key material
    assert "download a new key" in str(err.value)
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(auth.AuthError, match=r"list.json .*is not a service-account key"):
        auth.resolve_credentials(GeeSettings(service_account_key=listed), environ={})
    with pytest.raises(auth.AuthError, match=r"is a folder, not a key file"):
        auth.resolve_credentials(GeeSettings(service_account_key=tmp_path), environ={})
    fifo = tmp_path / "key.json.pipe"
    os.mkfifo(fifo)  # reading it would wait for a writer
    with pytest.raises(auth.AuthError, match=r"key.json.pipe .*is not a regular file"):
        auth.resolve_credentials(GeeSettings(service_account_key=fifo), environ={})


def test_a_key_itself_in_the_key_s_variable_is_refused_without_repeating_it(
    tmp_path: Path,
) -> None:
    """Found by a security review: the variable named by service_account_key_env holds the
    key file's path, but CI systems and Kubernetes secrets often hand over the key's JSON
    itself; the error then said "service-account key file {...the private key...} does not
    exist", writing the key to the terminal, the journal and the run's log."""
    key = _key_file(tmp_path).read_text()
    pem = json.loads(key)["private_key"]
    for value in (key, f"  {key}\n", pem):
        with pytest.raises(
            auth.AuthError, match=r"\$EE_SERVICE_ACCOUNT_KEY holds key material"
        ) as err:
            auth.resolve_credentials(GeeSettings(), environ={"EE_SERVICE_ACCOUNT_KEY": value})
        assert "PRIVATE KEY" not in str(err.value) and pem[40:80] not in str(err.value)


def test_an_encoded_key_or_a_value_too_long_for_a_path_is_not_repeated(tmp_path: Path) -> None:
    """Found by a security review: a key handed over base64-encoded (no PEM marker in it) was
    quoted whole in "service-account key file ... does not exist", from the variable or from
    source.service_account_key; one longer than a path may be ended the command with the
    OSError of the file system (File name too long)."""
    import base64

    key = _key_file(tmp_path).read_text()
    encoded = base64.b64encode(key.encode()).decode()
    with pytest.raises(auth.AuthError, match=r"holds key material \(\d+ characters") as err:
        auth.resolve_credentials(GeeSettings(), environ={"EE_SERVICE_ACCOUNT_KEY": encoded})
    assert encoded[:32] not in str(err.value) and f"({len(encoded)} characters" in str(err.value)
    with pytest.raises(ValidationError, match=r"service_account_key looks like key material") as v:
        GeeSettings(service_account_key=encoded)
    # pydantic's own text repeats 24 characters of each end: a base64 key's standard start and
    # end ("eyJ0eXBlIjog..."), not its secret middle
    assert encoded[40:-40][:20] not in str(v.value)
    long_path = "/tmp/" + "key file " * 60  # spaces: not base64, and 545 bytes in one name
    with pytest.raises(auth.AuthError, match=r"named by \$EE_SERVICE_ACCOUNT_KEY cannot be") as err:
        auth.resolve_credentials(GeeSettings(), environ={"EE_SERVICE_ACCOUNT_KEY": long_path})
    assert "key file key file" not in str(err.value) and "File name too long" in str(err.value)
    # an ordinary path that does not exist is still named, for the operator to find the typo;
    # so is a long one without a dot, such as a secret mounted by Kubernetes (not refused as
    # an encoded key)
    absent = tmp_path / "ee-key.json"
    with pytest.raises(auth.AuthError, match=rf"key file {absent} \(from \$EE_SERVICE_ACCOUNT"):
        auth.resolve_credentials(GeeSettings(), environ={"EE_SERVICE_ACCOUNT_KEY": str(absent)})
    mounted = "/var/run/secrets/landslide-monitor/earth-engine/service-account-key"
    with pytest.raises(auth.AuthError, match=rf"key file {mounted} \(from"):
        auth.resolve_credentials(GeeSettings(), environ={"EE_SERVICE_ACCOUNT_KEY": mounted})


def test_no_credentials_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    with pytest.raises(auth.AuthError, match="no Earth Engine credentials: set the environment "
                                             "variable EE_SERVICE_ACCOUNT_KEY"):  # fmt: skip
        auth.resolve_credentials(GeeSettings(), environ={})


@pytest.mark.parametrize("kind", ["folder", "list", "absent"])
def test_application_default_credentials_that_cannot_be_read_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # a folder, or a JSON that is no object, ended in IsADirectoryError or AttributeError
    # (exit 1); a missing file read as "no credentials" (found by a user walkthrough)
    given = tmp_path / "adc"
    if kind == "folder":
        given.mkdir()
    elif kind == "list":
        given.write_text("[1, 2]")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(given))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    environ = {"GOOGLE_APPLICATION_CREDENTIALS": str(given)}
    with pytest.raises(auth.AuthError) as err:
        auth.resolve_credentials(GeeSettings(), environ=environ)
    message = str(err.value)
    assert f"application-default credentials of GOOGLE_APPLICATION_CREDENTIALS ({given})" in (
        message
    )
    assert "set EE_SERVICE_ACCOUNT_KEY to a service-account key file" in message


# -- settings ------------------------------------------------------------------------------------
def test_settings_defaults_and_yaml_shape() -> None:
    s = GeeSettings.model_validate(
        {
            "type": "gee",
            "project": "my-project",
            "dem": {"overrides": {"iceland": "projects/p/assets/d"}},
        }
    )
    assert s.cloud_mask.method == "cloud_score_plus" and s.cloud_mask.cs_cdf_threshold == 0.60
    assert s.dem.source == "auto" and s.s1.terrain_model == "landcover"
    assert s.assets.worldcover == "ESA/WorldCover/v200"
    assert s.assets.s1 == "COPERNICUS/S1_GRD_FLOAT"
    assert s.assets.copernicus_dem == "COPERNICUS/DEM/GLO30_2024_1"
    assert s.high_volume_endpoint is False


def test_settings_refuse_key_material_and_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="looks like key material"):
        GeeSettings(project="-----BEGIN PRIVATE KEY-----\nMII")
    with pytest.raises(ValidationError, match="private_key"):
        GeeSettings.model_validate({"private_key": "x"})
    with pytest.raises(ValidationError, match="max_incidence_deg"):
        GeeSettings.model_validate({"s1": {"min_incidence_deg": 40, "max_incidence_deg": 35}})


def test_a_retry_cap_below_the_first_delay_is_refused_by_name() -> None:
    assert RetrySettings(initial_delay_s=2.0, max_delay_s=2.0).max_delay_s == 2.0
    with pytest.raises(ValidationError, match=r"max_delay_s \(0\.5 s\) is below initial_delay_s"):
        GeeSettings.model_validate({"retry": {"initial_delay_s": 2, "max_delay_s": 0.5}})


def test_network_blips_are_retried_and_local_file_errors_are_not() -> None:
    import socket
    import ssl

    from gee_scripts.retry import classify

    class ServerNotFoundError(Exception):  # httplib2's, which is no OSError
        pass

    for blip in (
        socket.gaierror(-3, "Temporary failure in name resolution"),
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
        ConnectionResetError(104, "Connection reset by peer"),
        ServerNotFoundError("Unable to find the server at earthengine.googleapis.com"),
    ):
        assert classify(blip).treatment == "transient", blip
    missing_key = FileNotFoundError(2, "No such file or directory", "/etc/ee/key.json")
    assert classify(missing_key).treatment == "permanent"


def test_a_speckle_filter_is_warned_as_miscalibrating_the_statistics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by a user who knows Earth Engine: the filter raises the looks of a scene, and the
    change statistics kept the 4.4 looks of unfiltered IW GRD."""
    from monitor.sources.gee import GeeSource

    GeeSource(GeeSettings(), initialize=False)
    assert "speckle_filter" not in caplog.text
    GeeSource(GeeSettings.model_validate({"s1": {"speckle_filter": "lee"}}), initialize=False)
    assert "s1.speckle_filter lee: the radar change statistics" in caplog.text
    assert "assume unfiltered scenes of 4.4 looks" in caplog.text


def test_a_relative_key_path_is_read_from_base_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the Earth Engine walk: ``service_account_key: keys/ee.json`` was read from the
    working directory, unlike every other relative path of the configuration (read from
    ``base_dir``), so ``gee check`` run from elsewhere said the key 'does not exist'."""
    import yaml
    from shapely.geometry import box, mapping

    from monitor.config import load_config

    (tmp_path / "keys").mkdir()
    key = _key_file(tmp_path / "keys")
    (tmp_path / "manifest.json").write_text("{}")
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "source": {"type": "gee", "service_account_key": "keys/key.json"},
                "regions": [
                    {
                        "name": "alps",
                        "geometry": mapping(box(9.930, 46.220, 9.936, 46.224)),
                    }
                ],
                "model": {"manifest": "manifest.json"},
            }
        )
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_config(config_path).source
    assert isinstance(settings, GeeSettings)
    assert settings.service_account_key == key
    resolved = auth.resolve_credentials(settings, environ={})
    assert resolved.project == "landslide-project"


def test_a_project_that_is_no_cloud_project_id_is_refused_naming_where_it_came_from(
    tmp_path: Path,
) -> None:
    """Found in a walkthrough: a key file's path given as source.project passed `schedule
    --dry-run` and failed at the first request, with exit status 1."""
    with pytest.raises(ValidationError) as err:
        GeeSettings(project="/etc/landslide-monitor/ee-key.json")
    assert (
        "'/etc/landslide-monitor/ee-key.json' is not a Cloud project ID (a file's path: the key "
        "goes in service_account_key): 6-30 lowercase letters" in str(err.value)
    )
    for bad in ("My Project", "proj", "my_project", "my-project-", "9abcdef"):
        with pytest.raises(ValidationError, match="is not a Cloud project ID"):
            GeeSettings(project=bad)
    for good in ("my-cloud-project", "example.com:my-project", "123456789012"):
        assert GeeSettings(project=good).project == good
    # a project's number written unquoted in YAML is an integer
    assert GeeSettings.model_validate({"project": 123456789012}).project == "123456789012"
    key = _key_file(tmp_path)
    env = {"EE_SERVICE_ACCOUNT_KEY": str(key), "EE_PROJECT": "Landslide Monitor"}
    with pytest.raises(auth.AuthError, match=r"^\$EE_PROJECT: 'Landslide Monitor' is not a Cloud"):
        auth.resolve_credentials(GeeSettings(), environ=env)
    # the configured project wins, and the variable is then not read
    assert auth.resolve_credentials(GeeSettings(project="my-project"), environ=env).project == (
        "my-project"
    )


def test_gcloud_s_own_credentials_named_as_a_key_say_to_leave_the_variable_unset(
    tmp_path: Path,
) -> None:
    """Found in a walkthrough: `application_default_credentials.json` named in
    $EE_SERVICE_ACCOUNT_KEY was refused as no service-account key, with no word of what to do."""
    user = tmp_path / "application_default_credentials.json"
    user.write_text(json.dumps({"type": "authorized_user", "refresh_token": "x"}))
    with pytest.raises(auth.AuthError) as err:
        auth.resolve_credentials(GeeSettings(), environ={"EE_SERVICE_ACCOUNT_KEY": str(user)})
    said = str(err.value)
    assert "is not a service-account key (type='authorized_user'" in said
    assert (
        "leave $EE_SERVICE_ACCOUNT_KEY unset and run `gcloud auth application-default login`"
        in said
    )
    assert '"x"' not in said and "refresh_token" not in said
