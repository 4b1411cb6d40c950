"""Alert settings validation, channel routing, the published schema and the signature."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import shapely
from pydantic import ValidationError
from shapely.geometry import MultiPolygon, box
from shapely.geometry.base import BaseGeometry

from monitor.alerts.payload import (
    SCHEMA_PATH,
    SCHEMA_VERSION,
    QuicklookLinks,
    alert_schema,
    build_payload,
    encode_body,
    uri_problem,
    validate_payload,
)
from monitor.alerts.settings import (
    AlertConfigError,
    AlertRouting,
    AlertSettings,
    AlertTargets,
    RetryPolicy,
    SmtpSettings,
    WebhookSettings,
)
from monitor.alerts.webhook import sign, verify

HOOK = {"name": "ops", "url": "https://hooks.example.org/ls", "secret_env": "LM_HOOK_SECRET"}
SMTP = {"host": "smtp.example.org", "from_address": "monitor@example.org"}


def test_secrets_are_named_never_given():
    with pytest.raises(ValidationError, match="is not an environment variable name"):
        SmtpSettings(**SMTP, username_env="monitor", password_env="hunter2 !")
    with pytest.raises(ValidationError, match="set both username_env and password_env"):
        SmtpSettings(**SMTP, username_env="LM_SMTP_USER")
    with pytest.raises(ValidationError, match="secret_env"):
        AlertSettings(webhooks=[{**HOOK, "secret_env": "s3cr3t-value!"}])
    with pytest.raises(ValidationError, match="would send the password in clear"):
        SmtpSettings(**SMTP, starttls=False, username_env="U", password_env="P")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        AlertSettings(smtp={**SMTP, "password": "hunter2"})


def test_a_variable_name_is_checked_whole():
    """Found in an audit: the pattern's '$' let a name end in a newline (`secret_env: |` in
    YAML), and the set variable was then reported "not set"."""
    for name in ("LM_HOOK_SECRET\n", "LM_HOOK_SECRET\n\n", "\nLM_HOOK_SECRET"):
        with pytest.raises(ValidationError, match="is not an environment variable name"):
            AlertSettings(webhooks=[{**HOOK, "secret_env": name}])
        with pytest.raises(ValidationError, match="is not an environment variable name"):
            SmtpSettings(**SMTP, username_env="LM_SMTP_USER", password_env=name)
    assert AlertSettings(webhooks=[HOOK]).webhooks[0].secret_env == "LM_HOOK_SECRET"


def test_port_465_is_refused_with_the_port_that_works():
    """Found in a config audit: docs/alerts.md says implicit TLS cannot work, and port 465
    loaded; every alert then waited for retries until it was dead."""
    with pytest.raises(ValidationError, match=r"465 is implicit TLS .* submission port 587"):
        SmtpSettings(**SMTP, port=465)
    assert SmtpSettings(**SMTP, port=25).port == 25


def test_a_login_without_starttls_is_allowed_on_loopback_addresses_only():
    # found by a new user: 127.0.0.2 (a local relay's second address) was refused as clear text
    # over the network, while only localhost, 127.0.0.1 and ::1 were exempt
    for host in ("localhost", "LOCALHOST.", "127.0.0.1", "127.0.0.2", "::1", "[::1]"):
        smtp = SmtpSettings(
            **{**SMTP, "host": host}, starttls=False, username_env="U", password_env="P"
        )
        assert smtp.host == host
    for host in ("10.0.0.1", "::2", "localhost.example.org", "128.0.0.1"):
        with pytest.raises(ValidationError, match="would send the password in clear"):
            SmtpSettings(
                **{**SMTP, "host": host}, starttls=False, username_env="U", password_env="P"
            )


def test_credentials_come_from_the_environment(monkeypatch):
    smtp = SmtpSettings(**SMTP, username_env="LM_SMTP_USER", password_env="LM_SMTP_PASSWORD")
    monkeypatch.setenv("LM_SMTP_USER", "monitor")
    monkeypatch.delenv("LM_SMTP_PASSWORD", raising=False)
    with pytest.raises(AlertConfigError) as missing:
        smtp.credentials()
    # where to set it, not only that it is unset (found by a new user)
    assert str(missing.value) == (
        "SMTP password: environment variable LM_SMTP_PASSWORD is not set; set it in the "
        "environment the monitor runs in (the service's environment file, or the container's "
        "secret: docs/operations.md, Secrets)"
    )
    monkeypatch.setenv("LM_SMTP_PASSWORD", "pw")
    assert smtp.credentials() == ("monitor", "pw")
    assert SmtpSettings(**SMTP).credentials() is None
    assert SmtpSettings(**SMTP).port == 587 and SmtpSettings(**SMTP).starttls


def test_addresses_and_smtp_are_checked():
    with pytest.raises(ValidationError, match=r"not e-mail addresses: 'ops\.example\.org'"):
        AlertSettings(smtp=SMTP, email=["ops.example.org"])
    with pytest.raises(ValidationError, match="no smtp server section"):
        AlertSettings(email=["ops@example.org"])


def test_routing_global_and_per_region():
    settings = AlertSettings(smtp=SMTP, email=["Ops@Example.org"], webhooks=[HOOK])
    routing = AlertRouting.from_settings(
        settings,
        {
            "alps": AlertTargets(email=["alps@example.org"]),
            "hills": AlertTargets(
                webhooks=[{**HOOK, "name": "roads", "url": "https://roads.example.org/h"}],
                inherit=False,
            ),
            "plain": None,
        },
    )
    assert routing.channels_for("alps") == (
        "email:ops@example.org",
        "webhook:ops",
        "email:alps@example.org",
    )
    assert routing.channels_for("hills") == ("webhook:roads",)
    assert routing.channels_for("plain") == ("email:ops@example.org", "webhook:ops")
    assert routing.channels_for("unlisted") == routing.default
    assert set(routing.webhooks) == {"ops", "roads"}


def test_routing_errors_name_the_region():
    with pytest.raises(AlertConfigError, match=r"region 'alps': e-mail recipients are set but"):
        AlertRouting.from_settings(AlertSettings(), {"alps": AlertTargets(email=["a@b.org"])})
    clash = AlertTargets(webhooks=[{**HOOK, "url": "https://other.example.org/"}])
    with pytest.raises(AlertConfigError, match="region 'alps': webhook name 'ops' is used by"):
        AlertRouting.from_settings(AlertSettings(webhooks=[HOOK]), {"alps": clash})


def test_a_webhook_url_without_its_scheme_says_so():
    with pytest.raises(ValidationError, match=r"has no scheme: write it in full, https://ops.ex"):
        WebhookSettings(**{**HOOK, "url": "ops.example.org/hooks"})
    with pytest.raises(ValidationError, match=r"write it in full, https://host/path"):
        WebhookSettings(**{**HOOK, "url": "https:/ops.example.org/hooks"})


def test_a_webhook_url_comes_from_the_file_or_the_environment_never_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Slack- or Teams-style url carries its token in its path: `url_env` names the
    environment variable that holds it, as `secret_env` does the secret, so that it need not
    sit in the YAML. Exactly one of url and url_env; the variable is read when alerts are sent,
    and its value is never shown."""
    from_env = {"name": "ops", "url_env": "LM_HOOK_URL", "secret_env": "LM_HOOK_SECRET"}
    with pytest.raises(ValidationError, match=r"webhook 'ops': give url or url_env, one of "
                                              r"them \(both given\)"):  # fmt: skip
        WebhookSettings(**{**HOOK, "url_env": "LM_HOOK_URL"})
    with pytest.raises(ValidationError, match=r"one of them \(neither given\)"):
        WebhookSettings(name="ops", secret_env="LM_HOOK_SECRET")
    with pytest.raises(ValidationError, match="is not an environment variable name"):
        WebhookSettings(**{**from_env, "url_env": "https://hooks.slack.com/services/T0/B0/X"})
    assert WebhookSettings(**HOOK).target() == "https://hooks.example.org/ls"
    hook = WebhookSettings(**from_env)
    monkeypatch.delenv("LM_HOOK_URL", raising=False)
    with pytest.raises(AlertConfigError, match="webhook 'ops' url: environment variable "
                                               "LM_HOOK_URL is not set"):  # fmt: skip
        hook.target()
    monkeypatch.setenv("LM_HOOK_URL", "hooks.slack.com/services/T0/B0/TOKEN")
    with pytest.raises(AlertConfigError) as bad:
        hook.target()
    assert "environment variable LM_HOOK_URL holds no http(s) URL" in str(bad.value)
    assert "TOKEN" not in str(bad.value)
    monkeypatch.setenv("LM_HOOK_URL", "https://hooks.slack.com/services/T0/B0/TOKEN")
    assert hook.target() == "https://hooks.slack.com/services/T0/B0/TOKEN"


def test_backoff_is_exponential_and_capped():
    policy = RetryPolicy(base_delay_s=60, factor=2, max_delay_s=600)
    assert [policy.delay_s(n) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]
    # 2 ** 1100 is past a float's range: it raised OverflowError out of the delivery
    assert RetryPolicy(max_attempts=5000).delay_s(1101) == 6 * 3600.0
    with pytest.raises(ValidationError, match="less than or equal to 2592000"):
        RetryPolicy(max_delay_s=1e12)  # past the dates a retry time can hold
    with pytest.raises(ValidationError, match=r"max_delay_s \(30 s\) is below base_delay_s"):
        AlertSettings.model_validate({"retry": {"base_delay_s": 60, "max_delay_s": 30}})


def _payload(geometry: BaseGeometry | None = None, **landslide_overrides):
    landslide = {
        "uid": "0b0c6a4e-5d4e-4f5e-9a51-2f2d2a0f9c11",
        "fid": 3,
        "region": "valtellina-alps",
        "status": "candidate",
        "revision": 1,
        "first_seen": "2024-09-15",
        "last_seen": "2024-09-15",
        "times_seen": 1,
        "setting": "S1",
        "pre_date": "2024-08-20",
        "post_date": "2024-08-27",
        "local_epsg": 32632,
        "area_m2": 5400.0,
        "previous_area_m2": None,
        "prob_mean": 0.71,
        "prob_max": 0.93,
        "agreement": 0.8,
        "dNDVI_mean": float("nan"),  # S1 setting: no optical -> null
        "dVV_mean": -2.1,
        "dVH_mean": -2.9,
        "slope_mean": 33.0,
    }
    landslide.update(landslide_overrides)
    return build_payload(
        idempotency_key="0b0c6a4e-5d4e-4f5e-9a51-2f2d2a0f9c11.r1.abcdef012345",
        event="landslide.new",
        created_at=datetime(2024, 9, 15, 6, tzinfo=UTC),
        run={"id": 7, "date": "2024-09-15", "source": "archive"},
        landslide=landslide,
        geometry_wgs84=box(9.93, 46.22, 9.931, 46.2205) if geometry is None else geometry,
        quicklook=None,
    )


def test_published_schema_is_valid_and_accepts_payloads():
    jsonschema.Draft202012Validator.check_schema(alert_schema())
    assert json.loads(SCHEMA_PATH.read_text())["$id"] == alert_schema()["$id"]
    payload = _payload()
    validate_payload(payload)
    assert payload["landslide"]["dNDVI_mean"] is None
    assert payload["landslide"]["geometry"]["type"] == "Polygon"
    assert payload["landslide"]["bbox"] == [9.93, 46.22, 9.931, 46.2205]


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("event",), "landslide.moved", "is not one of"),
        (("landslide", "prob_mean"), 1.7, "greater than the maximum"),
        (("landslide", "status"), "maybe", "is not one of"),
        (("landslide", "area_m2"), 0, "less than or equal to the minimum"),
        (("idempotency_key",), "short", "does not match"),
    ],
)
def test_schema_rejects_bad_payloads(path, value, message):
    payload = copy.deepcopy(_payload())
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError, match=message):
        validate_payload(payload)
    del payload["run"]
    with pytest.raises(jsonschema.ValidationError, match="'run' is a required property"):
        validate_payload(payload)


def _grown(payload: dict[str, Any]) -> None:
    payload["event"] = "landslide.grown"


def _dismissed_status(payload: dict[str, Any]) -> None:
    _reinstated(payload)
    payload["landslide"]["status"] = "dismissed"


def _reinstated(payload: dict[str, Any], **review: Any) -> None:
    """A landslide.reinstated as the outbox builds it, then ``review``'s changes to it."""
    payload.update(
        event="landslide.reinstated",
        withdraws=["0b7c4c1e-3f5a-4a59-9d1e-2f0f3f7f8e11.r1.dismissed1.5a1f2b3c4d5e"],
        review={"decided_at": "2024-09-16T07:30:00Z", "note": None},
    )
    payload["landslide"]["previous_area_m2"] = 900.0
    payload.update(review)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(created_at="2024-09-15T06:00:00"), "created_at"),  # no time zone
        (lambda p: p.update(created_at="2024-09-15T08:00:00+02:00"), "created_at"),  # not UTC
        (lambda p: p.update(created_at="yesterday"), "created_at"),
        (lambda p: p["run"].update(date="15/09/2024"), "date"),
        (lambda p: p["landslide"].update(first_seen="2024-9-15"), "first_seen"),
        (lambda p: p["landslide"]["event_dating"]["s1"].update(after="Sept 2"), "after"),
        (lambda p: p["landslide"].update(id="landslide-3"), "id"),
        (lambda p: p["landslide"].update(previous_area_m2=900.0), "previous_area_m2"),  # new
        (_grown, "previous_area_m2"),  # a growth that says from what is missing
        (lambda p: p["landslide"].update(bbox=[9.93, 46.22, 191.0, 46.2205]), "bbox"),
        (lambda p: p["landslide"]["geometry"].update(coordinates=[[9.93, 46.22]]), "geometry"),
        (lambda p: p["landslide"]["geometry"].update(coordinates=[]), "geometry"),
        (lambda p: _reinstated(p, withdraws=[]), "withdraws"),  # taking back nothing
        (lambda p: _reinstated(p, review=None), "review"),  # no decision
        (_dismissed_status, "status"),  # a reinstatement of a landslide still dismissed
        (lambda p: p.update(withdraws=["0b7c4c1e.r1.dismissed1.5a1f"]), "withdraws"),  # a new
    ],
)
def test_the_published_schema_refuses_what_no_alert_holds(change, message):
    """The schema receivers are told to validate with accepted a creation time without a time
    zone, dates in any form, any text as the landslide's UUID, a growth without the area it
    grew from, a bbox off the globe and any array as coordinates: the date and date-time
    formats are annotations in draft 2020-12 (and jsonschema checks date-time only with an
    extra package), so the schema states them as patterns, checked by every validator."""
    payload = copy.deepcopy(_payload())
    change(payload)
    plain = jsonschema.Draft202012Validator(alert_schema())  # a receiver's default
    errors = list(plain.iter_errors(payload))
    assert errors and any(message in "/".join(map(str, e.absolute_path)) for e in errors)
    with pytest.raises(jsonschema.ValidationError):
        validate_payload(payload)


def test_a_reinstatement_as_the_outbox_builds_it_is_valid_and_1_4_refuses_it() -> None:
    payload = copy.deepcopy(_payload())
    _reinstated(payload)
    validate_payload(payload)
    older = {**payload, "schema_version": "1.4"}
    older["schema"] = "https://landslide-monitor.example.org/schemas/alert-1.4.json"
    with pytest.raises(jsonschema.ValidationError, match=r"'landslide\.reinstated' is not one of"):
        validate_payload(older)
    validate_payload({**older, "event": "landslide.grown", "withdraws": [], "review": None})


def test_a_growth_with_its_previous_area_is_valid():
    payload = _payload(previous_area_m2=4000.0)
    payload["event"] = "landslide.grown"
    validate_payload(payload)


def _ring_is_counter_clockwise(ring: list[list[float]]) -> bool:
    return shapely.LinearRing(ring).is_ccw


@pytest.mark.parametrize("kind", ["Polygon", "MultiPolygon"])
def test_geometry_follows_the_right_hand_rule_of_rfc_7946(kind):
    """The payload's geometry is RFC 7946 GeoJSON, whose rings must be counterclockwise
    around the area they bound (holes clockwise). A footprint the inventory unions comes out
    of GEOS the other way round, and was sent so: a receiver that reads the winding (d3-geo,
    for one) drew the whole globe but the landslide."""
    # two detections unioned, as the inventory makes a footprint (GEOS: clockwise), with a hole
    halves = [box(9.93, 46.22, 9.9305, 46.2205), box(9.9305, 46.22, 9.931, 46.2205)]
    footprint = shapely.union_all(halves).difference(box(9.9303, 46.2201, 9.9307, 46.2204))
    assert not footprint.exterior.is_ccw and footprint.interiors[0].is_ccw
    geometry: BaseGeometry = footprint
    if kind == "MultiPolygon":
        geometry = MultiPolygon([footprint, box(9.932, 46.22, 9.933, 46.2205)])
    payload = _payload(geometry=geometry)
    validate_payload(payload)
    sent = payload["landslide"]["geometry"]
    assert sent["type"] == kind
    polygons = sent["coordinates"] if kind == "MultiPolygon" else [sent["coordinates"]]
    assert sum(len(p) for p in polygons) == (3 if kind == "MultiPolygon" else 2)
    for exterior, *holes in polygons:
        assert _ring_is_counter_clockwise(exterior)
        assert not any(_ring_is_counter_clockwise(h) for h in holes)
    assert shapely.geometry.shape(sent).equals(geometry)


def test_signature_is_hmac_sha256_of_the_raw_body():
    body = b'{"a":1}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert sign(b"k", body) == f"sha256={expected}"
    assert verify(b"k", body, f"sha256={expected}")
    assert not verify(b"k", b'{"a": 1}', f"sha256={expected}")
    assert not verify(b"k", body, None)


def _docs_receiver_check() -> Callable[[bytes, bytes, str | None], bool]:
    """The ``verified`` function of docs/alerts.md, "Verifying the signature", as written."""
    text = (Path(__file__).parents[2] / "docs" / "alerts.md").read_text(encoding="utf-8")
    section = text.split("### Verifying the signature (receiver side)", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/alerts.md", "exec"), namespace)
    return namespace["verified"]


@pytest.mark.parametrize("check", [verify, _docs_receiver_check()], ids=["verify", "docs"])
def test_a_forged_or_missing_signature_is_refused_not_an_error(check):
    """A header with a character outside ASCII made hmac.compare_digest raise TypeError (in
    verify and in the receiver code of docs/alerts.md), so a forged request failed the
    receiver (a 500, a dropped connection) instead of being answered 401."""
    body = b'{"idempotency_key":"k.r1.0","event":"landslide.new"}'
    genuine = sign(b"k", body)
    assert check(b"k", body, genuine)
    assert not check(b"k", body + b" ", genuine)
    assert not check(b"k", body, None)
    assert not check(b"k", body, "sha256=\u00e9" + genuine[8:])
    assert not check(b"k", body, "sha256=\ud800")


_NODE_HARNESS = """
const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const answers = cases.map((c) => {
  try {
    return verified(c.secret, Buffer.from(c.body, "base64"), c.header ?? undefined);
  } catch (error) {
    return "threw " + error.code;
  }
});
console.log(JSON.stringify(answers));
"""


def test_the_node_receiver_of_the_docs_verifies_real_signatures(tmp_path: Path) -> None:
    """The Node.js ``verified`` of docs/alerts.md, run by node on a payload as the monitor
    signs it (UTF-8 body with a region outside ASCII, a secret outside ASCII): the genuine
    signature passes; a changed body, another secret, a header outside ASCII, a short header
    (timingSafeEqual throws on unequal lengths) and none are refused without an error."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    text = (Path(__file__).parents[2] / "docs" / "alerts.md").read_text(encoding="utf-8")
    section = text.split("### Verifying the signature (receiver side)", 1)[1]
    snippet = section.split("```js\n", 1)[1].split("```", 1)[0]
    payload = _payload(region="sankt-p\u00f6lten")
    body = encode_body(payload)
    assert "\u00f6".encode() in body and b"5400.0" in body  # what re-serialising JSON loses
    secret = "s3cr\u00e9t"
    genuine = sign(secret.encode(), body)
    cases = [
        (secret, body, genuine),
        (secret, body + b" ", genuine),
        ("another", body, genuine),
        (secret, body, "sha256=\u00e9" + genuine[8:]),
        (secret, body, "sha256=ab"),
        (secret, body, None),
    ]
    script = tmp_path / "verify.js"
    script.write_text(snippet + _NODE_HARNESS, encoding="utf-8")
    stdin = json.dumps(
        [{"secret": k, "body": base64.b64encode(b).decode(), "header": h} for k, b, h in cases]
    )
    done = subprocess.run(
        [node, str(script)], input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, False, False, False, False, False]


def test_a_quicklook_is_named_under_its_folder_and_linked_under_the_base_url(tmp_path):
    """The payload carried the host's own path (/srv/.../quicklooks/...png), which no receiver
    can open: it now carries the path under quicklooks.dir (<date>/<region>/<file>, also where
    the folder has moved since), and a URL where one is served."""
    png = tmp_path / "quicklooks" / "2024-09-15" / "valtellina alps" / "candidate-007.png"
    links = QuicklookLinks("https://monitor.example.org/ql/")
    assert links.reference(str(png)) == {
        "filename": "2024-09-15/valtellina alps/candidate-007.png",
        "url": "https://monitor.example.org/ql/2024-09-15/valtellina%20alps/candidate-007.png",
    }
    unserved = QuicklookLinks().reference(str(png))
    assert unserved is not None and unserved["url"] is None
    moved = tmp_path / "elsewhere" / "2024-09-15" / "r" / "candidate-001.png"
    reference = links.reference(str(moved))
    assert reference is not None and reference["filename"] == "2024-09-15/r/candidate-001.png"
    assert links.reference(None) is None and links.reference("") is None
    payload = _payload()
    payload["quicklook"] = links.reference(str(png))
    validate_payload(payload)
    payload["quicklook"] = {"filename": str(png)}  # 1.1's form lacks the url
    with pytest.raises(
        jsonschema.ValidationError, match="is not valid under any of the given schemas"
    ):
        validate_payload(payload)


_NOT_URIS = [  # the first character RFC 3986 does not allow where it stands, and where
    ("https://maps.example.org/quicklooks|v2/", "'|' (character 36)"),
    ("https://maps.example.org/ql^2/", "'^' (character 28)"),
    ("https://maps.example.org/ql/[v2]/", "'[' (character 29)"),
    ("https://maps.example.org/ql/%zz/", "'%' (character 29), which starts no escape"),
    ("https://maps.example.org/ql#top#2", "'#' (character 32)"),
]
_URIS = [
    "https://maps.example.org/ql/",
    "https://[2001:db8::7]:8443/ql/",  # brackets around an IPv6 host
    "https://maps.example.org/ql%20v2/?k=a/b&x=%7C#f:1",
    "http://u:p@10.0.0.7/ql/(v2)/*!$&'+,;=~@:",
]


@pytest.mark.parametrize(("base_url", "named"), _NOT_URIS)
def test_a_quicklook_base_url_that_is_no_uri_is_refused_when_the_configuration_loads(
    tmp_path: Path, base_url: str, named: str
) -> None:
    """Found on a receiver-side walk: pydantic's HttpUrl took (and kept) characters RFC 3986
    does not allow, such as the '|' of ``https://maps.example.org/quicklooks|v2/``; every
    alert's quicklook url then broke the schema's ``format: uri``, which the monitor's own
    check does not assert, and a receiver validating with Ajv and ajv-formats answered 400:
    34 alerts dead. Such a base_url is refused naming the field and the first bad
    character; one RFC 3986 allows loads, and the payload's url keeps to the schema."""
    from monitor.config import ConfigError, load_config

    path = tmp_path / "monitor.yaml"
    region = {"name": "r", "geometry": box(75.91, 11.48, 75.94, 11.50).__geo_interface__}
    data: dict[str, Any] = {
        "regions": [region],
        "model": {"manifest": str(tmp_path / "manifest.json")},
        "quicklooks": {"base_url": base_url},
    }
    (tmp_path / "manifest.json").write_text("{}")
    path.write_text(json.dumps(data))  # JSON is YAML: the data on one line
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    if "?" in base_url or "#" in base_url:  # refused as a query or fragment first (below)
        assert "line 1: quicklooks.base_url: base_url has a " in str(refused.value)
    else:
        assert f"line 1: quicklooks.base_url: {base_url!r} holds {named}" in str(refused.value)
    # a query, a fragment or a login is refused as a base_url (below), not as a URI
    for good in (
        *_URIS[:2],
        "https://maps.example.org/ql%20v2/",
        "http://10.0.0.7/ql/(v2)/*!$&'+,;=~@:",
    ):
        path.write_text(json.dumps({**data, "quicklooks": {"base_url": good}}))
        links = load_config(path).alert_routing().quicklooks
        payload = _payload()
        payload["quicklook"] = links.reference("q/2024-09-15/r/candidate-001-3f9a0c2e.png")
        plain = jsonschema.Draft202012Validator(alert_schema())  # a receiver's default
        assert list(plain.iter_errors(payload)) == []


@pytest.mark.parametrize(("url", "named"), [*_NOT_URIS, *((u, None) for u in _URIS)])
def test_a_quicklook_url_is_checked_as_rfc_3986_allows_and_old_bodies_still_validate(
    url: str, named: str | None
) -> None:
    """:func:`uri_problem`, which the configuration's ``quicklooks.base_url`` check uses, takes
    the characters RFC 3986 allows, each where it may stand. The published schema 1.3 does not
    state it: found in an upgrade walk, a pattern added to 1.3 in place marked dead, for good,
    the alerts an earlier release had queued with such a url (a retry sends the body it was
    built with, checked against its own version's schema); they are sent as built."""
    problem = uri_problem(url)
    assert problem is None if named is None else f"holds {named}" in str(problem)
    payload = _payload()
    payload["quicklook"] = {"filename": "2024-09-15/r/candidate-001-3f9a0c2e.png", "url": url}
    assert list(jsonschema.Draft202012Validator(alert_schema()).iter_errors(payload)) == []


def test_each_object_the_published_schema_describes_names_its_type() -> None:
    """Found on a receiver-side walk: Ajv in strict mode (its default) warned ``missing type
    "object" for keyword "properties" at #/then/properties/landslide`` (and ``#/else/...``)
    when compiling the schema: a subschema of a member that says what its properties are
    states ``"type": "object"``, as Ajv's strictTypes asks."""

    def untyped(node: Any, where: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            for name, member in (node.get("properties") or {}).items():
                kind = member.get("type") if isinstance(member, dict) else None
                kinds = kind if isinstance(kind, list) else [kind]
                if isinstance(member, dict) and "properties" in member and "object" not in kinds:
                    found.append(f"{where}/properties/{name}")
            for key, value in node.items():
                found += untyped(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                found += untyped(value, f"{where}/{i}")
        return found

    assert untyped(alert_schema(), "#") == []


def test_an_alert_queued_before_the_upgrade_is_checked_against_its_own_schema():
    """A retry sends the body built when the alert was queued, so a 1.1 payload waiting in the
    outbox must still pass; a version this code never sent is refused, naming it."""
    old = _payload()
    del old["withdraws"], old["review"]  # added in 1.4
    old.update(
        schema="https://landslide-monitor.example.org/schemas/alert-1.1.json",
        schema_version="1.1",
        quicklook={"filename": "/srv/monitor/quicklooks/2024-09-15/r/candidate-001.png"},
    )
    validate_payload(old)
    assert alert_schema("1.1")["properties"]["schema_version"] == {"const": "1.1"}
    queued = _payload()  # 1.2: a quicklook by name and URL; no "reviewer" confirmation yet
    del queued["withdraws"], queued["review"]
    queued.update(schema="https://landslide-monitor.example.org/schemas/alert-1.2.json")
    queued["schema_version"] = "1.2"
    validate_payload(queued)
    queued["landslide"]["confirmation"] = "reviewer"
    with pytest.raises(jsonschema.ValidationError, match="'reviewer' is not one of"):
        validate_payload(queued)
    # 1.3 (before the dismissal notices): the reviewer, no landslide.dismissed
    queued.update(schema="https://landslide-monitor.example.org/schemas/alert-1.3.json")
    queued["schema_version"] = "1.3"
    validate_payload(queued)
    with pytest.raises(jsonschema.ValidationError, match=r"'landslide\.dismissed' is not one of"):
        validate_payload({**queued, "event": "landslide.dismissed"})
    with pytest.raises(jsonschema.ValidationError, match=r"'0\.9' is not one this version sends"):
        validate_payload({**old, "schema_version": "0.9"})
    # 1.0 (before the event dating): queued by the first releases, refused until 2026-12-05
    first = copy.deepcopy(old)
    first.update(
        schema="https://landslide-monitor.example.org/schemas/alert-1.0.json", schema_version="1.0"
    )
    for added in ("event_after", "event_before", "event_dating", "confirmation"):
        del first["landslide"][added]
    validate_payload(first)
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        validate_payload({**first, "landslide": old["landslide"]})  # 1.1's fields are not 1.0's


def test_an_alert_a_newer_release_queued_is_named_so() -> None:
    """Gone back to this release after a newer one queued alerts (docs/operations.md,
    "Upgrading"): the webhook marks them dead, and its error says a newer release queued them
    and what brings them back, not only that the version is unknown."""
    major, minor = (int(part) for part in SCHEMA_VERSION.split("."))
    newer = f"{major}.{minor + 10}"  # 1.13 after 1.3: newer as a version, older as a string
    queued = _payload()
    queued.update(schema=f"https://landslide-monitor.example.org/schemas/alert-{newer}.json")
    queued["schema_version"] = newer
    with pytest.raises(jsonschema.ValidationError) as raised:
        validate_payload(queued)
    message = raised.value.message
    assert f"'{newer}' is newer than this release's {SCHEMA_VERSION}" in message
    assert "a newer release of the monitor queued it" in message
    assert "alerts retry --dead" in message


def test_a_webhook_name_is_checked_whole() -> None:
    # found in review: the pattern's '$' let a name end in a newline (a YAML block scalar)
    for name in ("ops\n", "ops hook", "-ops", "opsé"):
        with pytest.raises(ValidationError, match="start with an ASCII letter or digit"):
            AlertSettings(webhooks=[{**HOOK, "name": name}])
    assert AlertSettings(webhooks=[{**HOOK, "name": "roads-2.north_x"}]).webhooks[0].name


@pytest.mark.parametrize(
    ("base_url", "said"),
    [
        ("https://maps.example.org/q?token=1", "has a query: each quicklook's path is appended"),
        ("https://maps.example.org/q#top", "has a fragment: each quicklook's path is appended"),
        ("https://viewer:s3cret@maps.example.org/q", "base_url holds a login: every alert would"),
        # a login with a query, a bad character with a query: neither repeated (found in review)
        ("https://viewer:s3cret@maps.example.org/q?token=1", "base_url holds a login"),
        ("https://maps.example.org/a|b?token=1", "has a query: each quicklook's path is appended"),
    ],
)
def test_a_quicklook_base_url_with_a_query_fragment_or_login_is_refused(
    tmp_path: Path, base_url: str, said: str
) -> None:
    """Found in a config audit: a query or fragment came before each file's path
    (``https://x.org/q?token=1/2024-09-15/r/a.png``), and a login went into every alert's
    payload; the login's password is not repeated in the refusal."""
    from monitor.config import ConfigError, load_config

    path = tmp_path / "monitor.yaml"
    region = {"name": "r", "geometry": box(75.91, 11.48, 75.94, 11.50).__geo_interface__}
    (tmp_path / "manifest.json").write_text("{}")
    path.write_text(
        json.dumps(
            {
                "regions": [region],
                "model": {"manifest": str(tmp_path / "manifest.json")},
                "quicklooks": {"base_url": base_url},
            }
        )
    )
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert "line 1: quicklooks.base_url: " in str(refused.value)
    assert said in str(refused.value) and "s3cret" not in str(refused.value)
    assert "token=1" not in str(refused.value)  # a query may hold a token: not repeated
