"""Reusing an event region's detections once nothing can change them.

An event region (``windows.mode: event``) has fixed windows once its post window has closed
(``event_date`` + 1 + ``post_days``): every later run composites the same acquisitions and runs
the same chain for the same detections. The first run whose result is *final* stores it under a
key of everything the result depends on; a later run with the same key reads it back instead of
building the stack and running the chain, and the inventory takes it as it takes a result
computed again (its landslides are seen; one a reviewer confirmed since is alerted).

Final: the run date is at least the source's settle period after the post window's end (Earth
Engine: ``source.event_settle_days``, for scenes ingested late; the archive: none, its catalogue
is part of the key), and the source says what its stacks depend on (an ``identity``,
:func:`monitor.sources.base.source_identity`): a source without one is never reused.

The key: the windows and compositing; the region's name, polygon, orbit pass and rules; the
source's identity; the ``model`` and ``trigger`` sections and the manifest's SHA-256; the
quicklooks' folder and count; the software (the SHA-256 of the code of ``monitor``, ``models``
and ``gee_scripts``, and the installed packages' versions).

One file per region and inventory in ``event-detections`` of the cache folder
(:func:`models.cache.cache_root`, beside the ONNX graphs): JSON, data only (nothing runs on
load), a header line (the key, its parts, the SHA-256 of the payload) and the payload line. It is
written with :func:`models.atomic.write_atomically` and used only when its key and the payload's
SHA-256 match and the quicklooks it names are still there (its COGs may have been deleted
after ``quicklooks.keep_rasters_days``: the result read back names those still there);
otherwise the region is computed again, saying why, and the file rewritten. The folder may be
deleted at any time.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from gee_scripts.settings import GeeSettings
from models.cache import cache_root
from models.manifest import sha256_file
from monitor.config import EventWindows, MonitorConfig, RegionConfig
from monitor.pipeline.evaluation import Evaluation
from monitor.pipeline.trigger import TriggerResult
from monitor.run_results import RegionResult
from monitor.sources.base import Source, source_identity

__all__ = ["FOLDER", "FORMAT", "Reuse", "final_entry", "load", "store"]

log = logging.getLogger("monitor.run")  # what a run logs, under the run's name

FORMAT = "landslide-event-detections/1"  # bump when the file's meaning changes
FOLDER = "event-detections"
_REUSABLE = ("ok", "no-data")  # a failed region is computed again on the next run


@dataclass(frozen=True)
class Reuse:
    """Where a region's final result is kept, and the key it is kept under."""

    region: str
    path: Path
    key: str
    parts: dict[str, Any]
    closed: date  # the post window's end (exclusive): the first run date that saw all of it


def final_entry(
    config: MonitorConfig, region: RegionConfig, run_date: date, source: Source
) -> Reuse | None:
    """The cache entry of ``region``'s result on ``run_date``, or None where that result is not
    final: monitoring windows, an event whose post window (plus the source's settle period) is
    not over by ``run_date``, or a source that does not say what its stacks depend on."""
    windows = region.windows
    if not isinstance(windows, EventWindows) or not callable(getattr(source, "identity", None)):
        return None
    closed = windows.event_date + timedelta(days=1 + windows.post_days)
    manifest = Path(config.model.manifest)
    if run_date < closed + timedelta(days=_settle_days(config)) or not manifest.is_file():
        return None  # (a manifest that is not there is the run's to report)
    pre, post = windows.windows_for(run_date)
    parts: dict[str, Any] = {
        "format": FORMAT,
        "windows": {
            "pre": str(pre),
            "post": str(post),
            "compositing": windows.compositing().describe(),
        },
        "region": {
            "name": region.name,
            "geometry": shapely.to_wkb(region.geometry, hex=True),
            **region.model_dump(
                mode="json",
                exclude={"name", "geometry", "layer", "feature", "windows", "alerts", "simulation"},
            ),
        },
        "source": source_identity(source, region.area),
        "model": config.model.model_dump(mode="json"),
        "manifest_sha256": sha256_file(manifest),
        "trigger": config.trigger.model_dump(mode="json"),
        # what is drawn, not where it is served nor how long its COGs are kept
        "quicklooks": config.quicklooks.model_dump(
            mode="json", exclude={"base_url", "keep_rasters_days", "keep_pictures_days"}
        ),
        "software": _software(),
    }
    key = hashlib.sha256(_canonical(parts).encode()).hexdigest()
    inventory = hashlib.sha256(str(Path(config.inventory.path).resolve()).encode()).hexdigest()
    path = cache_root() / FOLDER / f"{region.name}-{inventory[:12]}.json"
    return Reuse(region.name, path, key, parts, closed)


def load(entry: Reuse, run_date: date) -> RegionResult | None:
    """The result stored for ``entry``, as the result of ``run_date`` (``reused_from`` the
    run date that computed it); None, saying why, where there is none to use."""
    try:
        raw = entry.path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("%s: stored detections %s unreadable (%s): computed again", entry.region,
                    entry.path, exc)  # fmt: skip
        return None
    try:
        header_line, payload = raw.split(b"\n", 1)
        header = json.loads(header_line)
        if header.get("format") != FORMAT:
            raise ValueError(f"format {header.get('format')!r}, not {FORMAT!r}")
        if header.get("key") != entry.key:
            changed = _changed(header.get("parts"), entry.parts)
            log.info(
                "%s: the detections stored by the run of %s are not reused: %s changed since; "
                "computed again", entry.region, header.get("run_date"), changed,
            )  # fmt: skip
            return None
        digest = hashlib.sha256(payload).hexdigest()
        if digest != header.get("payload_sha256"):
            raise ValueError(f"payload SHA-256 {digest} is not the {header.get('payload_sha256')} "
                             "its header records")  # fmt: skip
        stored = _decode_result(json.loads(payload))
        computed = date.fromisoformat(str(header["run_date"]))
        if stored.region != entry.region:
            raise ValueError(f"it holds region {stored.region!r}")
    except Exception as exc:  # any damage, whatever it breaks, costs a recomputation only
        log.warning(
            "%s: stored detections %s are damaged (%s: %s): computed again, and the file "
            "rewritten", entry.region, entry.path, type(exc).__name__, exc,
        )  # fmt: skip
        return None
    missing = [p for p in _quicklooks(stored) if not Path(p).is_file()]
    if missing:
        log.info(
            "%s: the detections stored by the run of %s name %d quicklook(s) no longer there "
            "(%s): computed again", entry.region, computed, len(missing), missing[0],
        )  # fmt: skip
        return None
    note = (
        f"detections of the run of {computed} reused: the event's post window closed on "
        f"{entry.closed} and nothing the run depends on changed (no stack built, no ensemble run)"
    )
    log.debug("%s: read back from %s", entry.region, entry.path)
    return dataclasses.replace(
        stored,
        # the COGs are kept for quicklooks.keep_rasters_days: those deleted since are not named
        rasters=[p for p in stored.rasters if Path(p).is_file()],
        run_date=run_date,
        message="; ".join(m for m in (note, stored.message) if m),
        reused_from=computed,
    )


def store(entry: Reuse, result: RegionResult) -> None:
    """Keep ``result`` (of a region whose result is final) for later runs, atomically; a
    failed or reused result is not kept."""
    if result.status not in _REUSABLE or result.reused_from is not None:
        return
    from models.atomic import write_atomically

    payload = _canonical(_encode_result(dataclasses.replace(result, timings={}))).encode()
    header = {
        "format": FORMAT,
        "region": entry.region,
        "run_date": result.run_date.isoformat(),
        "key": entry.key,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "parts": entry.parts,
    }
    data = _canonical(header).encode() + b"\n" + payload
    write_atomically(entry.path, lambda tmp: tmp.write_bytes(data))


# --------------------------------------------------------------------------- the key's parts


def _settle_days(config: MonitorConfig) -> int:
    """Days after the post window's end before an event's result is final: Earth Engine lists
    a scene only once it is ingested; the archive's catalogue is part of the key."""
    source = config.source
    return source.event_settle_days if isinstance(source, GeeSettings) else 0


@functools.cache
def _software() -> dict[str, str]:
    """SHA-256 of the code of the three packages and of the installed packages' versions."""
    import gee_scripts
    import models
    import monitor

    code = hashlib.sha256()
    for package in (monitor, models, gee_scripts):
        root = Path(package.__file__ or "").parent
        for path in sorted(root.rglob("*.py")):
            code.update(f"{package.__name__}/{path.relative_to(root).as_posix()}\n".encode())
            code.update(path.read_bytes())
    versions = sorted(
        f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()
    )
    packages = hashlib.sha256("\n".join(versions).encode()).hexdigest()
    return {"code": code.hexdigest(), "packages": packages}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _changed(stored: Any, current: dict[str, Any]) -> str:
    """The key's parts that differ, named (``source``, ``model``, ...)."""
    if not isinstance(stored, dict):
        return "the key"
    names = sorted(k for k in stored.keys() | current.keys() if stored.get(k) != current.get(k))
    return ", ".join(names) or "the key"


def _quicklooks(result: RegionResult) -> list[str]:
    """The quicklooks ``result`` names: the inventory and the alerts name them, so a result
    whose quicklooks are gone is computed again; its COGs may be gone (deleted after
    ``quicklooks.keep_rasters_days``, operations.md "Disk space")."""
    frame = result.candidates
    if frame is None or "quicklook" not in frame.columns:
        return []
    return [str(p) for p in frame["quicklook"] if isinstance(p, str)]


# --------------------------------------------------------------------------- the payload


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if type(value) is date:
        return {"date": value.isoformat()}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"a {type(value).__name__} value cannot be stored")


def _decode_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if value.keys() == {"date"}:
        return date.fromisoformat(value["date"])
    if value.keys() == {"bytes"}:
        return base64.b64decode(value["bytes"], validate=True)
    raise ValueError(f"an unknown value {sorted(value)}")


def _encode_frame(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    """A GeoDataFrame as JSON data: each column's dtype and values, the geometries as WKB."""
    geometry = frame.geometry.name
    columns = {}
    for name in frame.columns:
        if name == geometry:
            continue
        try:
            values = [_encode_value(v) for v in frame[name].tolist()]
        except TypeError as exc:
            raise TypeError(f"candidate column {name!r}: {exc}") from None
        columns[str(name)] = {"dtype": str(frame[name].dtype), "values": values}
    return {
        "order": [str(c) for c in frame.columns],
        "index": [int(i) for i in frame.index],
        "geometry": geometry,
        "wkb": [None if g is None else shapely.to_wkb(g, hex=True) for g in frame.geometry],
        "crs": None if frame.crs is None else frame.crs.to_wkt(),
        "columns": columns,
    }


def _decode_frame(data: dict[str, Any]) -> gpd.GeoDataFrame:
    index = pd.Index(data["index"], dtype="int64")
    columns = {
        name: pd.Series(
            [_decode_value(v) for v in column["values"]], dtype=column["dtype"], index=index
        )
        for name, column in data["columns"].items()
    }
    geometries = [None if g is None else shapely.from_wkb(g) for g in data["wkb"]]
    geometry = gpd.GeoSeries(geometries, index=index, crs=data["crs"])
    frame = gpd.GeoDataFrame({**columns, data["geometry"]: geometry}, geometry=data["geometry"])
    return frame[data["order"]]


def _optional(
    encode: Callable[[Any], Any], decode: Callable[[Any], Any]
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    return (
        lambda v: None if v is None else encode(v),
        lambda v: None if v is None else decode(v),
    )


# The fields of RegionResult that are not JSON as they are; the others are stored as they are.
_CODECS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "run_date": (date.isoformat, date.fromisoformat),
    "reused_from": _optional(date.isoformat, date.fromisoformat),
    "trigger": _optional(dataclasses.asdict, lambda d: TriggerResult(**d)),
    "evaluation": _optional(dataclasses.asdict, lambda d: Evaluation(**d)),
    "evaluation_unfiltered": _optional(dataclasses.asdict, lambda d: Evaluation(**d)),
    "candidates": _optional(_encode_frame, _decode_frame),
}


def _plain(value: Any) -> Any:
    return value


def _encode_result(result: RegionResult) -> dict[str, Any]:
    return {
        f.name: _CODECS.get(f.name, (_plain, _plain))[0](getattr(result, f.name))
        for f in dataclasses.fields(result)
    }


def _decode_result(data: dict[str, Any]) -> RegionResult:
    return RegionResult(
        **{name: _CODECS.get(name, (_plain, _plain))[1](value) for name, value in data.items()}
    )
