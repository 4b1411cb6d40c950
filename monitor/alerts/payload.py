"""The alert payload: one JSON document per landslide change and channel.

It is the body of the webhook POST as is, and the row of the e-mail's summary table. Its JSON
Schema is published in ``monitor/schemas/alert.schema.json`` (see docs/alerts.md).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Literal
from urllib.parse import quote

import jsonschema
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

__all__ = [
    "DISMISSED_EVENT",
    "REINSTATED_EVENT",
    "REVIEW_EVENTS",
    "SCHEMA_DIR",
    "SCHEMA_ID",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "AlertEvent",
    "QuicklookLinks",
    "alert_schema",
    "build_payload",
    "encode_body",
    "is_png",
    "png_size",
    "quicklook_in",
    "quicklook_name",
    "read_png",
    "uri_problem",
    "validate_payload",
]

SCHEMA_VERSION = "1.5"
SCHEMA_ID = "https://landslide-monitor.example.org/schemas/alert-1.5.json"

# Next to the package (pyproject's package-data ships it); not via importlib.resources, which
# fails when the package is seen as a namespace package by an outdated editable install.
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
SCHEMA_PATH = SCHEMA_DIR / "alert.schema.json"
# Alerts queued by an older version wait in the outbox with their payload as it was built (a
# retry sends the same body): each is checked against the schema of its own version.
_EARLIER_SCHEMAS = {
    "1.0": SCHEMA_DIR / "alert-1.0.schema.json",
    "1.1": SCHEMA_DIR / "alert-1.1.schema.json",
    "1.2": SCHEMA_DIR / "alert-1.2.schema.json",
    "1.3": SCHEMA_DIR / "alert-1.3.schema.json",
    "1.4": SCHEMA_DIR / "alert-1.4.schema.json",
}

# landslide.dismissed (schema 1.4): a reviewer dismissed a landslide a channel had been sent an
# alert of; it names the alerts it withdraws (CAP's "Cancel" with its "references").
# landslide.reinstated (1.5): the reviewer took back a dismissal a channel had been sent; it
# names the landslide.dismissed alerts it withdraws.
AlertEvent = Literal[
    "landslide.new", "landslide.grown", "landslide.dismissed", "landslide.reinstated"
]
DISMISSED_EVENT: AlertEvent = "landslide.dismissed"
REINSTATED_EVENT: AlertEvent = "landslide.reinstated"
#: the events that report a review decision, not a detection: they name what they withdraw
REVIEW_EVENTS: tuple[AlertEvent, ...] = (DISMISSED_EVENT, REINSTATED_EVENT)

_NUMBER_FIELDS = (
    "area_m2",
    "previous_area_m2",
    "prob_mean",
    "prob_max",
    "agreement",
    "dNDVI_mean",
    "dVV_mean",
    "dVH_mean",
    "slope_mean",
)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else round(value, 6)  # NaN -> null


def _iso(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def quicklook_name(stored: str | PurePath) -> str:
    """A quicklook's name under ``quicklooks.dir``: ``<date>/<region>/<file>.png``, the last
    three parts of the path a run stored (the layout :mod:`monitor.alerts.quicklook` writes),
    wherever the folder lies now."""
    return PurePath(*PurePath(stored).parts[-3:]).as_posix()


def quicklook_in(stored: str | PurePath, directory: Path) -> Path | None:
    """The quicklook a run stored as ``stored`` (``<quicklooks.dir>/<date>/<region>/<file>``)
    in ``directory``, the configured ``quicklooks.dir``, where a file is there (None else): an
    inventory moved or restored with its quicklooks elsewhere keeps the paths of where its runs
    wrote them."""
    if len(PurePath(stored).parts) < 3:
        return None
    here = Path(directory, quicklook_name(stored))
    return here if here.is_file() else None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _open_regular(path: Path) -> BinaryIO | None:
    """``path`` opened for reading where it is a regular file, else None: opened without
    waiting, so that a path to a named pipe cannot hang the caller (a delivery), and checked
    on the open file, so that nothing can be swapped in after the check."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # not a pipe, a device, a folder
            return os.fdopen(fd, "rb")
    except OSError:
        pass
    os.close(fd)
    return None


def is_png(path: Path) -> bool:
    """True for a readable regular file that starts as a PNG does (see :func:`read_png`)."""
    file = _open_regular(path)
    if file is None:
        return False
    with file:
        try:
            return file.read(len(_PNG_SIGNATURE)) == _PNG_SIGNATURE
        except OSError:
            return False


def read_png(path: Path, *, max_bytes: int | None = None) -> bytes | None:
    """The bytes of ``path`` where it is a readable regular file that starts as a PNG does and
    holds at most ``max_bytes``; None otherwise. What a quicklook path read back from the
    inventory (a file other tools edit) must name before its bytes are shown or mailed, so
    that an edited path cannot publish another file (a key): checked and read through one
    open file (:func:`_open_regular`)."""
    file = _open_regular(path)
    if file is None:
        return None
    with file:
        try:
            if file.read(len(_PNG_SIGNATURE)) != _PNG_SIGNATURE:  # not read further
                return None
            rest = file.read() if max_bytes is None else file.read(max_bytes + 1)
        except OSError:
            return None
    data = _PNG_SIGNATURE + rest
    return None if max_bytes is not None and len(data) > max_bytes else data


def png_size(png: bytes | Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header (the IHDR chunk after the signature), of its bytes
    or of the file (read through :func:`_open_regular`); None where it is no PNG or has no
    size."""
    if isinstance(png, Path):
        file = _open_regular(png)
        if file is None:
            return None
        with file:
            try:
                png = file.read(24)
            except OSError:
                return None
    if len(png) < 24 or png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return (width, height) if width and height else None


def _rfc7946(geometry: BaseGeometry) -> BaseGeometry:
    """``geometry`` on the payload's 1e-7 degree grid, its rings wound as RFC 7946 requires
    (exterior counterclockwise, holes clockwise): GEOS unions, as the inventory's footprints
    are made, come out the other way round. Wound after rounding, which may rebuild rings."""
    rounded = shapely.set_precision(geometry, 1e-7)
    if isinstance(rounded, MultiPolygon):  # orient_polygons came with shapely 2.1; we take 2.0
        return MultiPolygon([orient(part) for part in rounded.geoms])
    return orient(rounded) if isinstance(rounded, Polygon) else rounded


@dataclass(frozen=True)
class QuicklookLinks:
    """How a payload names a landslide's quicklook: :func:`quicklook_name`, and its URL under
    ``quicklooks.base_url`` where a web server serves ``quicklooks.dir``. The host's own path
    is never sent: receivers cannot open it. ``directory`` is ``quicklooks.dir``, where the
    e-mail reads the PNGs (:meth:`local`)."""

    base_url: str | None = None
    directory: Path | None = None

    def local(self, stored: Path | None) -> Path | None:
        """The file to read for a quicklook an alert stored as ``stored``: its copy under
        :attr:`directory` where there is one (the data folder moved since the alert was
        queued), else ``stored``."""
        if stored is None or self.directory is None:
            return stored
        return quicklook_in(stored, self.directory) or stored

    def reference(self, path: str | None) -> dict[str, str | None] | None:
        if not path:
            return None
        name = quicklook_name(path)
        url = f"{self.base_url.rstrip('/')}/{quote(name)}" if self.base_url else None
        return {"filename": name, "url": url}


def _confirmation(landslide: dict[str, Any]) -> str:
    """What confirmed the landslide: its second look's kind, or the reviewer who confirmed it
    while it waited for one (no second look yet: the column is empty)."""
    found = landslide.get("confirmation")
    if found:
        return str(found)
    return "reviewer" if landslide.get("status") == "confirmed" else "undated"


def build_payload(
    *,
    idempotency_key: str,
    event: AlertEvent,
    created_at: datetime,
    run: dict[str, Any],
    landslide: dict[str, Any],
    geometry_wgs84: BaseGeometry,
    quicklook: dict[str, str | None] | None,
    withdraws: Sequence[str] = (),
    review: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """The payload of one change. ``landslide`` holds the inventory row's attributes (uid, fid,
    region, status, revision, first/last seen, times seen, the numbers of :data:`_NUMBER_FIELDS`,
    setting, pre/post dates, the event dating and confirmation of monitor.pipeline.dating, local
    EPSG code); ``run`` holds id, date and source; ``quicklook`` is
    :meth:`QuicklookLinks.reference` of its file. A ``landslide.dismissed`` or
    ``landslide.reinstated`` names the keys of the alerts it ``withdraws`` and its ``review``
    (``decided_at``, UTC with Z, and ``note``); the other events have neither (an empty list,
    null)."""
    centroid = geometry_wgs84.centroid
    body: dict[str, Any] = {
        "id": str(landslide["uid"]),
        "inventory_fid": int(landslide["fid"]),
        "region": str(landslide["region"]),
        "status": str(landslide["status"]),
        "revision": int(landslide["revision"]),
        "first_seen": _iso(landslide["first_seen"]),
        "last_seen": _iso(landslide["last_seen"]),
        "times_seen": int(landslide["times_seen"]),
        "setting": landslide.get("setting"),
        "pre_date": _iso(landslide.get("pre_date")),
        "post_date": _iso(landslide.get("post_date")),
        "event_after": _iso(landslide.get("event_after")),
        "event_before": _iso(landslide.get("event_before")),
        "event_dating": {
            sensor: {
                "after": _iso(landslide.get(f"{sensor}_event_after")),
                "before": _iso(landslide.get(f"{sensor}_event_before")),
            }
            for sensor in ("s1", "s2")
        },
        "confirmation": _confirmation(landslide),
        "local_epsg": int(landslide["local_epsg"]),
        "centroid": {"lon": round(centroid.x, 7), "lat": round(centroid.y, 7)},
        "bbox": [round(v, 7) for v in geometry_wgs84.bounds],
        "geometry": json.loads(shapely.to_geojson(_rfc7946(geometry_wgs84))),
    }
    for name in _NUMBER_FIELDS:
        body[name] = _number(landslide.get(name))
    return {
        "schema": SCHEMA_ID,
        "schema_version": SCHEMA_VERSION,
        "idempotency_key": idempotency_key,
        "event": event,
        "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run": {"id": int(run["id"]), "date": _iso(run["date"]), "source": str(run["source"])},
        "landslide": body,
        "quicklook": quicklook,
        "withdraws": list(withdraws),
        "review": review,
    }


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are POSTed and signed (compact, key order kept, UTF-8)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@cache
def alert_schema(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    """The published JSON Schema of the payload (``monitor/schemas/alert.schema.json``), or of
    an earlier version still accepted for the alerts queued under it."""
    path = SCHEMA_PATH if version == SCHEMA_VERSION else _EARLIER_SCHEMAS.get(version)
    if path is None and _newer(version):  # an alert queued before going back to this release
        raise jsonschema.ValidationError(
            f"schema_version {version!r} is newer than this release's {SCHEMA_VERSION}: a newer "
            "release of the monitor queued it; send it with that release (`alerts retry --dead` "
            "once it is back)"
        )
    if path is None:
        known = ", ".join([SCHEMA_VERSION, *_EARLIER_SCHEMAS])
        raise jsonschema.ValidationError(
            f"schema_version {version!r} is not one this version sends (known: {known})"
        )
    return json.loads(path.read_text(encoding="utf-8"))


# The characters RFC 3986 allows in a URI, each where it may stand: what a receiver's "format":
# "uri" check (Ajv with ajv-formats) takes, and what `quicklooks.base_url` is held to when the
# configuration loads. Not in the published schema: schema 1.3's bodies queued before this
# check existed are sent as they were built (docs/operations.md, Upgrading).
_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://(?:(?:[A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-Fa-f]{2})*@)?"
    r"(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?"
    r"(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?"
    r"(?:\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?"
    r"(?:#(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?"
)


def uri_problem(url: str) -> str | None:
    """None where ``url`` holds only the characters RFC 3986 allows, each where it may stand
    (:data:`_URI`); else what breaks it, naming the first character that does and its place.
    The schema's ``format: uri`` is an annotation that its own validation does not check, while a
    receiver's validator may (Ajv with ajv-formats does): a ``quicklooks.base_url`` that
    pydantic took with ``|`` in it had every alert refused there."""
    found = _URI.match(url)
    at = found.end() if found is not None else 0
    if at == len(url):
        return None
    char = url[at]
    if char == "%":
        why = "which starts no escape of two hex digits"
    else:
        why = "which RFC 3986 does not allow there"
    return (
        f"{url!r} holds {char!r} (character {at + 1}), {why}; write it percent-encoded "
        f"({''.join(f'%{b:02X}' for b in char.encode())})"
    )


def _newer(version: str) -> bool:
    """Whether ``version`` (``MAJOR.MINOR``) comes after :data:`SCHEMA_VERSION`; False for
    anything that is not such a version."""
    try:
        given = tuple(int(part) for part in version.split("."))
    except ValueError:
        return False
    return given > tuple(int(part) for part in SCHEMA_VERSION.split("."))


@cache
def _validator(version: str) -> jsonschema.Draft202012Validator:
    schema = alert_schema(version)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_payload(payload: dict[str, Any]) -> None:
    """Raise :class:`jsonschema.ValidationError` if ``payload`` breaks the schema of its
    ``schema_version`` (the current one, or an earlier one for an alert queued before an
    upgrade; each schema is checked once, not once per alert)."""
    _validator(str(payload.get("schema_version", SCHEMA_VERSION))).validate(payload)
