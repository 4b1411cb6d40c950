"""What the review maps show, shared by the HTML page (:mod:`monitor.ops.review`) and the
notebook session (:mod:`monitor.ops.review_session`): the inventory's landslides and watched
regions (:func:`load_review_data`), and each landslide as a GeoJSON feature with its age class,
status style, popup and tooltip, plus the page's legend.

Every string of it is escaped here: the inventory may have been edited by hand or by another
tool, so no field of it (nor a region name) is trusted. Leaflet sets popups, tooltips and
layer-control labels as ``innerHTML``, so text goes there only through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import mapping

from monitor._dates import as_day
from monitor.alerts.payload import is_png, png_size, quicklook_in, read_png
from monitor.ops._args import check_regions
from monitor.store.landslides import layer_columns

if TYPE_CHECKING:
    from monitor.config import MonitorConfig

__all__ = [
    "AGE_CLASSES",
    "FEATURE_CLASS",
    "STATUS_LABELS",
    "STATUS_STYLES",
    "ReviewData",
    "age_class",
    "config_option",
    "feature_collection",
    "feature_style",
    "legend_html",
    "load_review_data",
    "quicklook_note",
]

log = logging.getLogger(__name__)

#: Age classes by days since first seen: (name, upper bound in days or None, fill colour).
AGE_CLASSES: tuple[tuple[str, int | None, str], ...] = (
    ("new (7 days or less)", 7, "#e31a1c"),
    ("recent (8-30 days)", 30, "#fd8d3c"),
    ("older (over 30 days)", None, "#fecc5c"),
)

#: Outline style of each review status.
STATUS_STYLES: dict[str, dict[str, Any]] = {
    "candidate": {"color": "#b10026", "weight": 2, "dashArray": None, "fillOpacity": 0.55},
    "confirmed": {"color": "#54278f", "weight": 4, "dashArray": None, "fillOpacity": 0.7},
    "dismissed": {"color": "#636363", "weight": 2, "dashArray": "5 5", "fillOpacity": 0.15},
}
#: Name of each status's layer in the layer control.
STATUS_LABELS: dict[str, str] = {
    "candidate": "Candidates",
    "confirmed": "Confirmed landslides",
    "dismissed": "Dismissed",
}
_DISMISSED_FILL = "#bdbdbd"
#: CSS class of every landslide polygon (the browser test counts these paths).
FEATURE_CLASS = "landslide"
_EMBED_LIMIT_BYTES = 2_000_000
_QUICKLOOK_WIDTH = 360  # pixels of a popup's picture


@dataclass
class ReviewData:
    """What the page shows: the landslides (EPSG:4326), the regions, the reference date."""

    landslides: gpd.GeoDataFrame
    regions: dict[str, Any] = field(default_factory=dict)  # name -> shapely geometry (WGS84)
    as_of: date | None = None
    inventory_path: Path | None = None
    config_path: Path | None = None
    chosen_regions: tuple[str, ...] | None = None  # the regions asked for; None: every region


def age_class(days: int) -> tuple[str, str]:
    """(name, fill colour) of the age class of a landslide first seen ``days`` ago."""
    for name, upper, colour in AGE_CLASSES:
        if upper is None or days <= upper:
            return name, colour
    raise AssertionError("unreachable: the last age class is open-ended")


def _empty_landslides() -> gpd.GeoDataFrame:
    """The landslides of an inventory not written yet: no row, the inventory's columns (the
    notebook's first cell selects some of them)."""
    hidden = ("geom", "local_wkb", "revision_wkb")  # as Inventory.landslides() reads the layer
    names = [n for n in layer_columns() if n not in hidden] + ["local_geometry"]
    columns = {name: pd.Series(dtype="object") for name in names}
    columns["fid"] = pd.Series(dtype="int64")
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")


def _in_quicklooks_dir(stored: str | float | None, directory: Path) -> str | float | None:
    """The quicklook ``stored`` in the inventory (``<quicklooks.dir>/<date>/<region>/<file>``
    when the run wrote it) in the configured ``quicklooks.dir`` when it is there: an inventory
    moved or restored with its quicklooks elsewhere shows its own pictures, not a stale copy's
    or none; else the stored path."""
    if not stored or _blank(stored):
        return stored
    here = quicklook_in(str(stored), directory)
    return stored if here is None else str(here)


def load_review_data(
    config: MonitorConfig,
    *,
    regions: Iterable[str] | None = None,
    as_of: date | None = None,
) -> ReviewData:
    """The inventory's landslides (optionally some regions only) and the watched regions.

    ``as_of`` (the date ages are counted from) defaults to the latest run date recorded in the
    inventory, so that an archive replay of past dates is shown as it was on its last run."""
    from monitor.store.inventory import Inventory

    chosen = tuple(regions) if regions is not None else None
    wanted = set(chosen) if chosen is not None else None
    path = config.inventory.path
    if path.exists():
        with Inventory(path, read_only=True) as inventory:  # the page changes nothing
            landslides = inventory.landslides()
            runs = inventory.runs()
        if as_of is None and not runs.empty:
            as_of = max(as_day(d, "run_date") for d in runs["run_date"])
    else:
        from monitor.store.lock import refuse_if_lost

        refuse_if_lost(path)  # not an empty map of a lost inventory
        log.warning("inventory %s does not exist yet; the map shows the regions only", path)
        landslides = _empty_landslides()
    # a region of the configuration or of the inventory (one removed from the configuration
    # keeps its entries, on the map too: found by an agency's walk, refused by name)
    check_regions(config, sorted((wanted or set()) - set(landslides["region"])))
    if wanted is not None and not landslides.empty:
        landslides = landslides[landslides["region"].isin(wanted)]
    landslides = landslides.drop(columns=["local_geometry"], errors="ignore")
    if "quicklook" in landslides.columns and not landslides.empty:
        landslides = landslides.assign(
            quicklook=[_in_quicklooks_dir(v, config.quicklooks.dir) for v in landslides.quicklook]
        )
    watched = {r.name: r.geometry for r in config.regions if wanted is None or r.name in wanted}
    return ReviewData(
        landslides=landslides,
        regions=watched,
        as_of=as_of,
        inventory_path=path,
        # absolute: the page's commands are pasted in any folder
        config_path=config.path.resolve() if config.path is not None else None,
        chosen_regions=chosen,
    )


def _number(value: Any, fmt: str) -> str:
    try:
        if value is None or pd.isna(value):
            return "–"
        return format(float(value), fmt)
    except (TypeError, ValueError):
        return html.escape(str(value))


def _event_between(row: Mapping[str, Any]) -> str:
    """The event bracket where a sensor dated it, else the windows' edges, said to be no
    bracket: a monitoring window opens weeks before the run, and the landslide may follow its
    first acquisition."""
    if _text(row.get("event_before")) != "–":
        # "?" for an unknown lower bound, as each sensor's line says it (found in a walkthrough:
        # "– and 2024-08-12")
        return f"{_after(row.get('event_after'))} and {_text(row.get('event_before'))}"
    pre, post = _text(row.get("pre_date")), _text(row.get("post_date"))
    return f"undated (windows to {pre} and from {post})"


def _dated_by(row: Mapping[str, Any]) -> str:
    """Each sensor's bracket, e.g. ``S1 2024-08-10 – 2024-08-22; S2 ...``."""
    parts = [
        f"{name} {_after(row.get(f'{key}_event_after'))} – {_text(row.get(f'{key}_event_before'))}"
        for name, key in (("S1", "s1"), ("S2", "s2"))
        if _text(row.get(f"{key}_event_before")) != "–"
    ]
    return "; ".join(parts) or "–"


def _confirmed_by(row: Mapping[str, Any]) -> str:
    """What confirmed the landslide (its ``confirmation``). Empty, it waits for a second look,
    unless a reviewer confirmed it meanwhile and a run alerted it then (``alerted_on``): that
    alert said ``reviewer``, and the column stays empty until a second look comes."""
    text = _text(row.get("confirmation"))
    if text != "–":
        return text
    alerted = _text(row.get("alerted_on"))
    if alerted != "–":
        return f"not yet (alerted on {alerted}, confirmed by a reviewer)"
    return "not yet (no alert sent)"


def _after(value: Any) -> str:
    """A bracket's lower bound: "?" where none is known (it read "S1 – – 2024-08-17")."""
    text = _text(value)
    return "?" if text == "–" else text


def _blank(value: Any) -> bool:
    """An empty cell: None, or NaN as a GeoDataFrame reads a NULL of a column that holds text
    elsewhere (a dict row written in a test has None; the inventory's rows have NaN)."""
    return value is None or (isinstance(value, float) and pd.isna(value))


def _text(value: Any) -> str:
    if _blank(value):
        return "–"
    return html.escape(str(value))


def quicklook_note(path_text: Any) -> str | None:
    """What a view shows in place of the quicklook ``path_text`` it cannot show (none recorded,
    the file gone, not a PNG); None for a PNG it can show."""
    if not path_text or _blank(path_text):
        return "<p class='ls-noql'>no quicklook</p>"
    path = Path(str(path_text))
    if not path.is_file():
        return f"<p class='ls-noql'>quicklook missing: {html.escape(str(path))}</p>"
    if not is_png(path):  # the inventory is not trusted: another file (a key) was embedded
        return f"<p class='ls-noql'>quicklook is not a PNG: {html.escape(str(path))}</p>"
    return None


def _quicklook_html(path_text: Any, embed: bool, page_dir: Path | None) -> str:
    note = quicklook_note(path_text)
    if note is not None:
        return note
    path = Path(str(path_text))
    png = read_png(path, max_bytes=_EMBED_LIMIT_BYTES) if embed else None
    if png is not None:
        src = f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}"
    else:  # linked: not embedded, or too large to embed
        src = os.path.relpath(path, page_dir) if page_dir else path.as_uri()
    # the height too: a popup laid out before its picture loads was panned to fit without it,
    # and opened with its top (the title, the close button) above the map's edge
    size = png_size(png if png is not None else path)
    height = f" height='{round(_QUICKLOOK_WIDTH * size[1] / size[0])}'" if size else ""
    return (
        f"<img class='ls-ql' src='{html.escape(src)}' alt='quicklook' "
        f"width='{_QUICKLOOK_WIDTH}'{height}>"
    )


def config_option(config_path: Path | None) -> str:
    """`` --config PATH`` (shell-quoted, HTML-escaped) for a command a view gives to copy;
    empty without a path."""
    return f" --config {html.escape(shlex.quote(str(config_path)))}" if config_path else ""


def _age_text(age_days: int | None) -> str:
    """The age beside a popup's first-seen date; a landslide first seen after the date ages
    are counted from (``--as-of`` before a later run) says so, not a negative age."""
    if age_days is None:
        return ""
    if age_days < 0:
        return f" ({-age_days} days after the as-of date)"
    return f" ({age_days} days)"


def _popup_html(
    row: Mapping[str, Any],
    age_days: int | None,
    embed_quicklooks: bool,
    page_dir: Path | None,
    config_path: Path | None,
    *,
    quicklook: bool = True,
) -> str:
    fid = int(row["fid"])
    rows = [
        ("Region", _text(row.get("region"))),
        ("Status", _text(row.get("status"))),
        (
            "First seen",
            f"{_text(row.get('first_seen'))}" + _age_text(age_days),
        ),
        ("Last seen", _text(row.get("last_seen"))),
        ("Times seen", _text(row.get("times_seen"))),
        ("Area", f"{_number(row.get('area_m2'), ',.0f')} m²"),
        (
            "Probability mean / max",
            f"{_number(row.get('prob_mean'), '.2f')} / {_number(row.get('prob_max'), '.2f')}",
        ),
        ("Ensemble agreement", _number(row.get("agreement"), ".2f")),
        ("Mean dNDVI", _number(row.get("dNDVI_mean"), "+.3f")),
        (
            "Mean dVV / dVH",
            f"{_number(row.get('dVV_mean'), '+.2f')} / {_number(row.get('dVH_mean'), '+.2f')} dB",
        ),
        ("Mean slope", f"{_number(row.get('slope_mean'), '.1f')}°"),
        ("Setting", _text(row.get("setting"))),
        ("Event between (UTC days)", _event_between(row)),
        ("Dated by (UTC days)", _dated_by(row)),
        ("Second look", _confirmed_by(row)),
        (
            "Object filter",
            _number(row.get("filter_score"), ".2f") + _suppression_text(row),
        ),
    ]
    note = row.get("review_note")
    if isinstance(note, str) and note:  # the reviewer's words (`inventory dismiss --note`)
        rows.append(("Review note", _text(note)))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    config_arg = config_option(config_path)
    # the decisions open from its status: confirm and dismiss a candidate, the other one or
    # the undo (back to candidate) a reviewed landslide; it offered `confirm` for a confirmed
    # one and never showed the undo
    status = row.get("status")
    verbs = [v for v in ("confirm", "dismiss") if f"{v}ed" != status]
    if status in ("confirmed", "dismissed"):
        verbs.append("candidate")
    commands = "<br>".join(
        f"<code>landslide-monitor inventory {verb}{config_arg} {fid}</code>" for verb in verbs
    )
    # a view that shows the picture by other means (the notebook's panel) says itself why
    # there is none, for the one landslide it shows, without opening every file here
    picture = _quicklook_html(row.get("quicklook"), embed_quicklooks, page_dir) if quicklook else ""
    return (
        f"<div class='ls-popup'><h4>Landslide {fid}</h4>"
        f"<table class='ls-attrs'>{table}</table>{picture}"
        f"<p class='ls-cmd'>{commands}</p></div>"
    )


def _suppression_text(row: Mapping[str, Any]) -> str:
    """What the filter's verdict does to the landslide's alerts: none while it is suppressed,
    unless the reviewer confirmed it (then its later detections alert as any other's). An entry
    alerted before 2026-12-07 may still carry the flag of a later revision (since, an alerted
    landslide is never suppressed): it was alerted, and the page says so (a walk read
    "suppressed: no alert" of a landslide its recipients had been sent)."""
    if not row.get("suppressed"):
        return ""
    alerted_on = row.get("alerted_on")
    if alerted_on and not _blank(alerted_on):
        return f" (below the cut; alerted on {as_day(alerted_on, 'alerted_on')})"
    if row.get("status") == "confirmed":
        return " (suppressed; confirmed: alerted when detected)"
    return " (suppressed: no alert)"


def feature_collection(
    frame: gpd.GeoDataFrame,
    as_of: date | None,
    embed_quicklooks: bool,
    page_dir: Path | None,
    config_path: Path | None,
    *,
    quicklook_in_popup: bool = True,
) -> dict[str, Any]:
    """GeoJSON of the landslides in ``frame`` (EPSG:4326) with the properties the maps use:
    fid, region, status, first/last seen, area, age class, fill colour, popup HTML, tooltip.

    ``quicklook_in_popup=False`` leaves the quicklook out of the popup, for a view that shows
    it by other means (the notebook's image widget: a notebook page cannot load a ``file:``
    link), which says, for the landslide it shows, why there is none (:func:`quicklook_note`:
    none recorded, missing, not a PNG)."""
    features = []
    for _, row in frame.iterrows():
        first_seen = as_day(row["first_seen"], "first_seen")
        age_days = (as_of - first_seen).days if as_of is not None else None
        age_name, fill = age_class(max(age_days or 0, 0))
        status = str(row["status"])
        properties = {
            "fid": int(row["fid"]),
            "region": str(row["region"]),
            "status": status,
            "first_seen": first_seen.isoformat(),
            "last_seen": str(row["last_seen"])[:10],
            "area_m2": round(float(row["area_m2"]), 1),
            "age_class": age_name,
            "fill": _DISMISSED_FILL if status == "dismissed" else fill,
            "popup": _popup_html(
                row,
                age_days,
                embed_quicklooks,
                page_dir,
                config_path,
                quicklook=quicklook_in_popup,
            ),
            "tooltip": f"#{int(row['fid'])} {_text(row['region'])} · {_text(status)} · "
            f"{float(row['area_m2']):,.0f} m² · first seen {first_seen.isoformat()}",
        }
        features.append(
            {
                "type": "Feature",
                "id": int(row["fid"]),
                "properties": properties,
                "geometry": mapping(row.geometry),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def feature_style(feature: Mapping[str, Any]) -> dict[str, Any]:
    """Leaflet path style of a landslide feature: fill by age, outline by review status."""
    props = feature["properties"]
    style = dict(STATUS_STYLES[props["status"]])
    if style["dashArray"] is None:
        del style["dashArray"]
    return {**style, "fillColor": props["fill"], "opacity": 1.0, "className": FEATURE_CLASS}


def legend_html(
    title: str,
    counts: Mapping[str, int],
    as_of: date | None,
    inventory_path: Path | None,
    n_landslides: int,
    chosen_regions: Iterable[str] | None = None,
) -> str:
    """The legend box: title, inventory, reference date, age fills and status outlines with
    each status's count; where nothing is shown, that there is none yet (of the
    ``chosen_regions``, when the page shows some regions only)."""
    ages = "".join(
        f"<div><i style='background:{colour}'></i>{html.escape(name)}</div>"
        for name, _upper, colour in AGE_CLASSES
    )  # a dismissed landslide is filled grey whatever its age (it read as an age class)
    ages += f"<div><i style='background:{_DISMISSED_FILL}'></i>dismissed (any age)</div>"
    statuses = "".join(
        f"<div><i style='background:#fff;border:{min(s['weight'], 3)}px "
        f"{'dashed' if s['dashArray'] else 'solid'} {s['color']}'></i>"
        f"{status} ({counts.get(status, 0)})</div>"
        for status, s in STATUS_STYLES.items()
    )
    as_of_text = as_of.isoformat() if as_of else "today"
    source = html.escape(str(inventory_path)) if inventory_path else ""
    of = f" of {html.escape(', '.join(chosen_regions))}" if chosen_regions is not None else ""
    empty = "" if n_landslides else f"<div><b>No landslides{of} in the inventory yet.</b></div>"
    return (
        f"<div class='ls-legend' id='ls-legend'><b>{html.escape(title)}</b>"
        f"<div style='color:#555'>{source}<br>ages as of {as_of_text}</div>{empty}"
        f"<div style='margin-top:4px'><b>Fill: age since first seen</b></div>{ages}"
        f"<div style='margin-top:4px'><b>Outline: review status</b></div>{statuses}</div>"
    )
