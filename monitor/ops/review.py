"""The review map: ``landslide-monitor review --config F`` writes one self-contained HTML page.

Built with geemap's folium backend (``geemap.foliumap``), so the same map opens in a browser, in
a notebook, and — with Earth Engine configured — carries a region's pre- and post-event
composites as tile layers. On the page:

* every landslide of the inventory as a polygon, **filled by age** (days since first seen,
  counted back from the latest run: new <= 7 d, recent <= 30 d, older) and **outlined by review
  status** (candidate: red, confirmed: purple and thick, dismissed: grey and dashed);
* one layer per status and the watched regions' outlines, with a layer control and two basemaps;
* a popup per landslide with its attributes (area, probability, agreement, mean dNDVI/dVV/dVH,
  slope, setting, the acquisition dates bracketing the event, times seen) and its quicklook PNG
  (embedded, so the page can be mailed or archived), plus the command that confirms or dismisses
  it;
* a date filter (first or last seen, from/to) that hides the landslides outside the range and
  says how many are shown.

Review decisions are made with ``landslide-monitor inventory confirm|dismiss ID`` or in
``notebooks/review.ipynb``; the page itself is read-only.

Every string that reaches the page's HTML is escaped here: the inventory may have been edited
by hand or by another tool, so no field of it (nor a region name, nor a layer name) is trusted.
Leaflet sets popups, tooltips, layer-control labels and the picker's markup as ``innerHTML``,
so text goes there only through :func:`html.escape`; data reaches the scripts only as JSON
(``tojson``, which escapes ``<``, ``>``, ``&`` and ``'``); folium's own ``Tooltip`` (which
pastes its text raw into a JavaScript template literal) is not used.
"""

from __future__ import annotations

import base64
import html
import importlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template
from shapely.geometry import mapping

if TYPE_CHECKING:
    from monitor.config import MonitorConfig

__all__ = [
    "AGE_CLASSES",
    "STATUS_STYLES",
    "ReviewData",
    "ReviewPage",
    "age_class",
    "build_review_map",
    "feature_collection",
    "feature_style",
    "import_geemap_backend",
    "load_review_data",
    "write_review_page",
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
_STATUS_LABELS = {
    "candidate": "Candidates",
    "confirmed": "Confirmed landslides",
    "dismissed": "Dismissed",
}
_DISMISSED_FILL = "#bdbdbd"
#: CSS class of every landslide polygon (the browser test counts these paths).
FEATURE_CLASS = "landslide"
_EMBED_LIMIT_BYTES = 2_000_000


def age_class(days: int) -> tuple[str, str]:
    """(name, fill colour) of the age class of a landslide first seen ``days`` ago."""
    for name, upper, colour in AGE_CLASSES:
        if upper is None or days <= upper:
            return name, colour
    raise AssertionError("unreachable: the last age class is open-ended")


@dataclass
class ReviewData:
    """What the page shows: the landslides (EPSG:4326), the regions, the reference date."""

    landslides: gpd.GeoDataFrame
    regions: dict[str, Any] = field(default_factory=dict)  # name -> shapely geometry (WGS84)
    as_of: date | None = None
    inventory_path: Path | None = None
    config_path: Path | None = None


@dataclass(frozen=True)
class ReviewPage:
    """A written review page."""

    path: Path
    n_landslides: int
    by_status: dict[str, int]
    as_of: date | None
    ee_layers: tuple[str, ...] = ()


def _empty_landslides() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"fid": pd.Series(dtype="int64"), "status": pd.Series(dtype="object")},
        geometry=gpd.GeoSeries([], crs="EPSG:4326"),
        crs="EPSG:4326",
    )


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

    wanted = set(regions) if regions is not None else None
    for name in wanted or ():
        config.region(name)  # KeyError naming the region and the known ones
    path = config.inventory.path
    if path.exists():
        with Inventory(path) as inventory:
            landslides = inventory.landslides()
            runs = inventory.runs()
        if as_of is None and not runs.empty:
            as_of = max(date.fromisoformat(str(d)) for d in runs["run_date"])
    else:
        log.warning("inventory %s does not exist yet; the map shows the regions only", path)
        landslides = _empty_landslides()
    if wanted is not None and not landslides.empty:
        landslides = landslides[landslides["region"].isin(wanted)]
    landslides = landslides.drop(columns=["local_geometry"], errors="ignore")
    watched = {r.name: r.geometry for r in config.regions if wanted is None or r.name in wanted}
    return ReviewData(
        landslides=landslides,
        regions=watched,
        as_of=as_of,
        inventory_path=path,
        config_path=config.path,
    )


# --------------------------------------------------------------------------- popups


def _number(value: Any, fmt: str) -> str:
    try:
        if value is None or pd.isna(value):
            return "–"
        return format(float(value), fmt)
    except (TypeError, ValueError):
        return html.escape(str(value))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return html.escape(str(value))


def _quicklook_html(path_text: Any, embed: bool, page_dir: Path | None) -> str:
    if not path_text or (isinstance(path_text, float) and pd.isna(path_text)):
        return "<p class='ls-noql'>no quicklook</p>"
    path = Path(str(path_text))
    if not path.is_file():
        return f"<p class='ls-noql'>quicklook missing: {html.escape(str(path))}</p>"
    if embed and path.stat().st_size <= _EMBED_LIMIT_BYTES:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        src = f"data:image/png;base64,{data}"
    else:
        src = os.path.relpath(path, page_dir) if page_dir else path.as_uri()
    return f"<img class='ls-ql' src='{html.escape(src)}' alt='quicklook' width='360'>"


def _popup_html(
    row: Mapping[str, Any],
    age_days: int | None,
    embed_quicklooks: bool,
    page_dir: Path | None,
    config_path: Path | None,
) -> str:
    fid = int(row["fid"])
    rows = [
        ("Region", _text(row.get("region"))),
        ("Status", _text(row.get("status"))),
        (
            "First seen",
            f"{_text(row.get('first_seen'))}"
            + (f" ({age_days} days)" if age_days is not None else ""),
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
        ("Event between", f"{_text(row.get('pre_date'))} and {_text(row.get('post_date'))}"),
    ]
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    config_arg = f" --config {html.escape(str(config_path))}" if config_path else ""
    commands = (
        f"<code>landslide-monitor inventory confirm{config_arg} {fid}</code><br>"
        f"<code>landslide-monitor inventory dismiss{config_arg} {fid}</code>"
    )
    quicklook = _quicklook_html(row.get("quicklook"), embed_quicklooks, page_dir)
    return (
        f"<div class='ls-popup'><h4>Landslide {fid}</h4>"
        f"<table class='ls-attrs'>{table}</table>{quicklook}"
        f"<p class='ls-cmd'>{commands}</p></div>"
    )


def feature_collection(
    frame: gpd.GeoDataFrame,
    as_of: date | None,
    embed_quicklooks: bool,
    page_dir: Path | None,
    config_path: Path | None,
) -> dict[str, Any]:
    """GeoJSON of the landslides in ``frame`` (EPSG:4326) with the properties the maps use:
    fid, region, status, first/last seen, area, age class, fill colour, popup HTML, tooltip."""
    features = []
    for _, row in frame.iterrows():
        first_seen = date.fromisoformat(str(row["first_seen"])[:10])
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
            "popup": _popup_html(row, age_days, embed_quicklooks, page_dir, config_path),
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


# --------------------------------------------------------------------------- the map


def import_geemap_backend(backend: str) -> ModuleType:
    """``geemap.foliumap`` (``"foliumap"``) or ``geemap.geemap`` (``"geemap"``, ipyleaflet).

    The folium backend is selected with ``USE_FOLIUM=1`` before geemap is first imported. geemap's
    package ``__init__`` star-imports the selected backend, which rebinds ``geemap.basemaps``
    from the submodule to a box of tile layers; the other backend, imported later in the same
    process (a notebook that also writes the HTML page), would then read that box where it
    expects the module. The submodule is put back before the backend is imported."""
    if backend not in ("foliumap", "geemap"):
        raise ValueError(f"unknown geemap backend {backend!r}; expected foliumap or geemap")
    if backend == "foliumap" and "geemap" not in sys.modules:
        os.environ["USE_FOLIUM"] = "1"
    package = importlib.import_module("geemap")
    basemaps_module = importlib.import_module("geemap.basemaps")
    package.basemaps = basemaps_module  # type: ignore[attr-defined]
    core = sys.modules.get("geemap.core")
    if core is not None and not isinstance(getattr(core, "basemaps", None), ModuleType):
        core.basemaps = basemaps_module  # type: ignore[attr-defined]
    return importlib.import_module(f"geemap.{backend}")


def feature_style(feature: Mapping[str, Any]) -> dict[str, Any]:
    """Leaflet path style of a landslide feature: fill by age, outline by review status."""
    props = feature["properties"]
    style = dict(STATUS_STYLES[props["status"]])
    if style["dashArray"] is None:
        del style["dashArray"]
    return {**style, "fillColor": props["fill"], "opacity": 1.0, "className": FEATURE_CLASS}


def _highlight(feature: Mapping[str, Any]) -> dict[str, Any]:
    return {"weight": 5, "fillOpacity": 0.85}


# ``popup`` and ``tooltip`` are HTML built (and escaped) by :func:`feature_collection`.
_BIND_POPUP_JS = """
function (feature, layer) {
    layer.bindPopup(feature.properties.popup, {maxWidth: 420, minWidth: 300});
    layer.bindTooltip(feature.properties.tooltip, {sticky: true});
}
"""
_BIND_TOOLTIP_JS = """
function (feature, layer) {
    layer.bindTooltip(feature.properties.tooltip, {sticky: true});
}
"""


def build_review_map(
    data: ReviewData,
    *,
    embed_quicklooks: bool = True,
    page_dir: Path | None = None,
    title: str = "Landslide inventory",
) -> Any:
    """The review map (a ``geemap.foliumap.Map``) of ``data``; see the module docstring."""
    from folium import Element, FeatureGroup, GeoJson, JsCode, TileLayer
    from folium.plugins import Fullscreen

    foliumap = import_geemap_backend("foliumap")
    m = foliumap.Map(
        ee_initialize=False,
        # a base layer (geemap's own basemaps are added as overlays)
        tiles=TileLayer("OpenStreetMap", name="OpenStreetMap", overlay=False, control=True),
        plugin_Draw=False,
        search_control=False,
        plugin_Fullscreen=False,
        height="100%",
        control_scale=True,
    )
    Fullscreen(position="topleft").add_to(m)
    _add_imagery_basemap(m)

    region_layer = FeatureGroup(name="Watched regions", show=True)
    for name, geometry in data.regions.items():
        properties = {"name": name, "tooltip": f"watched region {html.escape(name)}"}
        GeoJson(
            {"type": "Feature", "properties": properties, "geometry": mapping(geometry)},
            style_function=lambda _f: {
                "color": "#2b8cbe",
                "weight": 2,
                "fill": False,
                "dashArray": "8 4",
                "className": "watched-region",
            },
            on_each_feature=JsCode(_BIND_TOOLTIP_JS),
        ).add_to(region_layer)
    region_layer.add_to(m)

    frame = data.landslides
    layers: list[GeoJson] = []
    counts: dict[str, int] = {}
    for status in STATUS_STYLES:
        subset = frame[frame["status"] == status] if not frame.empty else frame.iloc[0:0]
        counts[status] = len(subset)
        if subset.empty:
            continue
        collection = feature_collection(
            subset, data.as_of, embed_quicklooks, page_dir, data.config_path
        )
        layer = GeoJson(
            collection,
            name=f"{_STATUS_LABELS[status]} ({len(subset)})",
            style_function=feature_style,
            highlight_function=_highlight,
            on_each_feature=JsCode(_BIND_POPUP_JS),
            zoom_on_click=False,
        )
        layer.add_to(m)
        layers.append(layer)

    bounds = _bounds(frame, data.regions)
    if bounds is not None:
        m.fit_bounds(bounds)
    m.get_root().header.add_child(Element(_CSS))
    m.get_root().html.add_child(Element(_legend_html(title, data, counts)))
    region_bounds = {name: _bounds(frame.iloc[0:0], {name: g}) for name, g in data.regions.items()}
    m.add_child(_ReviewControl(layers, len(frame), region_bounds, bounds))
    m.add_layer_control()
    return m


def _add_imagery_basemap(m: Any) -> None:
    from folium import TileLayer

    TileLayer(
        tiles="https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/"
        "tile/{z}/{y}/{x}",
        attr="Esri, Maxar, Earthstar Geographics",
        name="Esri World Imagery",
        overlay=False,
        control=True,
        show=False,
        max_zoom=19,
    ).add_to(m)


def _bounds(frame: gpd.GeoDataFrame, regions: Mapping[str, Any]) -> list[list[float]] | None:
    geometries = list(frame.geometry) if not frame.empty else []
    geometries += list(regions.values())
    if not geometries:
        return None
    west, south, east, north = gpd.GeoSeries(geometries, crs="EPSG:4326").total_bounds
    return [[float(south), float(west)], [float(north), float(east)]]


_CSS = """
<style>
.ls-popup h4 { margin: 0 0 4px 0; }
.ls-attrs { border-collapse: collapse; font-size: 12px; }
.ls-attrs th { text-align: left; padding: 1px 8px 1px 0; color: #444; font-weight: 600; }
.ls-attrs td { padding: 1px 0; }
.ls-ql { display: block; margin-top: 6px; max-width: 360px; border: 1px solid #999; }
.ls-cmd code { font-size: 11px; }
.ls-legend, .ls-filter { background: rgba(255,255,255,0.92); padding: 8px 10px;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.4); font: 12px/1.4 sans-serif; }
.ls-legend { position: fixed; bottom: 24px; right: 10px; z-index: 1000; max-width: 260px;
  overflow-wrap: anywhere; }
.ls-legend i { display: inline-block; width: 14px; height: 12px; margin-right: 6px;
  vertical-align: middle; }
.ls-filter input, .ls-filter select { font-size: 12px; margin: 2px 0; }
</style>
"""


def _legend_html(title: str, data: ReviewData, counts: Mapping[str, int]) -> str:
    ages = "".join(
        f"<div><i style='background:{colour}'></i>{html.escape(name)}</div>"
        for name, _upper, colour in AGE_CLASSES
    )
    statuses = "".join(
        f"<div><i style='background:#fff;border:{min(s['weight'], 3)}px "
        f"{'dashed' if s['dashArray'] else 'solid'} {s['color']}'></i>"
        f"{status} ({counts.get(status, 0)})</div>"
        for status, s in STATUS_STYLES.items()
    )
    as_of = data.as_of.isoformat() if data.as_of else "today"
    source = html.escape(str(data.inventory_path)) if data.inventory_path else ""
    empty = "" if len(data.landslides) else "<div><b>No landslides in the inventory yet.</b></div>"
    return (
        f"<div class='ls-legend' id='ls-legend'><b>{html.escape(title)}</b>"
        f"<div style='color:#555'>{source}<br>ages as of {as_of}</div>{empty}"
        f"<div style='margin-top:4px'><b>Fill: age since first seen</b></div>{ages}"
        f"<div style='margin-top:4px'><b>Outline: review status</b></div>{statuses}</div>"
    )


class _ReviewControl(MacroElement):
    """A Leaflet control: a from/to date filter over the landslide layers, and a region picker
    that zooms to a watched region (regions may lie continents apart)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
          var map = {{ this._parent.get_name() }};
          var layers = [{{ this.layer_names | join(', ') }}];
          var regionBounds = {{ this.region_bounds | tojson }};
          var allBounds = {{ this.all_bounds | tojson }};
          var items = [];
          layers.forEach(function (group) {
            group.eachLayer(function (layer) { items.push({group: group, layer: layer}); });
          });
          var control = L.control({position: 'topright'});
          control.onAdd = function () {
            var div = L.DomUtil.create('div', 'ls-filter leaflet-bar');
            div.id = 'ls-filter';
            div.innerHTML =
              '<b>Zoom to</b> <select id="ls-zoom"><option value="">all regions</option>' +
              '</select><br>' +
              '<b>Date filter</b><br>' +
              '<select id="ls-field"><option value="first_seen">first seen</option>' +
              '<option value="last_seen">last seen</option></select><br>' +
              'from <input type="date" id="ls-from"><br>' +
              'to&nbsp;&nbsp;&nbsp; <input type="date" id="ls-to"><br>' +
              '<button type="button" id="ls-reset">show all</button> ' +
              '<span id="ls-shown"></span>';
            var zoom = div.querySelector('#ls-zoom');
            Object.keys(regionBounds).forEach(function (name) {
              var option = document.createElement('option');  // text, never markup
              option.value = name;
              option.textContent = name;
              zoom.appendChild(option);
            });
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
          };
          control.addTo(map);
          function apply() {
            var field = document.getElementById('ls-field').value;
            var from = document.getElementById('ls-from').value;
            var to = document.getElementById('ls-to').value;
            var shown = 0;
            items.forEach(function (item) {
              var d = item.layer.feature.properties[field];
              var keep = (!from || d >= from) && (!to || d <= to);
              if (keep && !item.group.hasLayer(item.layer)) { item.group.addLayer(item.layer); }
              if (!keep && item.group.hasLayer(item.layer)) { item.group.removeLayer(item.layer); }
              if (keep) { shown += 1; }
            });
            document.getElementById('ls-shown').textContent =
              shown + ' of ' + {{ this.total }} + ' shown';
          }
          ['ls-field', 'ls-from', 'ls-to'].forEach(function (id) {
            document.getElementById(id).addEventListener('change', apply);
          });
          document.getElementById('ls-reset').addEventListener('click', function () {
            document.getElementById('ls-from').value = '';
            document.getElementById('ls-to').value = '';
            apply();
          });
          document.getElementById('ls-zoom').addEventListener('change', function (e) {
            var bounds = e.target.value ? regionBounds[e.target.value] : allBounds;
            if (bounds) { map.fitBounds(bounds); }
          });
          window.landslideReview = {map: map, layers: layers, items: items, apply: apply};
          apply();
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        layers: list[Any],
        total: int,
        region_bounds: Mapping[str, list[list[float]]],
        all_bounds: list[list[float]] | None,
    ) -> None:
        super().__init__()
        self._name = "ReviewControl"
        self.layer_names = [layer.get_name() for layer in layers]
        self.total = total
        self.region_bounds = dict(region_bounds)
        self.all_bounds = all_bounds


# --------------------------------------------------------------------------- Earth Engine


def add_ee_composites(
    m: Any, config: MonitorConfig, run_date: date, regions: Iterable[str] | None = None
) -> list[str]:
    """Add each region's pre- and post-event Sentinel-2 greenest-pixel true-colour composites
    and the Sentinel-1 VV median (the windows of ``run_date``) as Earth Engine tile layers.

    Needs ``source: {type: gee}`` and working Earth Engine credentials; returns the layer names.
    """
    from gee_scripts.settings import GeeSettings

    settings = config.source
    if not isinstance(settings, GeeSettings):
        raise ValueError("Earth Engine layers need `source: {type: gee}` in the configuration")
    import ee

    from gee_scripts import auth

    auth.initialize(settings)
    names: list[str] = []
    wanted = set(regions) if regions is not None else None
    for region in config.regions:
        if wanted is not None and region.name not in wanted:
            continue
        pre, post = region.windows.windows_for(run_date)
        geometry = ee.Geometry(mapping(region.geometry))
        for label, image, vis in composite_layers(geometry, pre, post, region.orbit_pass, settings):
            name = f"{region.name}: {label}"
            # the layer control shows layer names as HTML
            m.add_layer(image.clip(geometry), vis, html.escape(name), shown=False)
            names.append(name)
    return names


def composite_layers(
    geometry: Any, pre: Any, post: Any, orbit_pass: str, settings: Any
) -> list[tuple[str, Any, dict[str, Any]]]:
    """(label, ee.Image, visualisation) of the pre/post composites of one region's windows:
    the Sentinel-2 greenest-pixel true colour (Ganerød et al.'s optical composite) and the
    Sentinel-1 VV median in dB."""
    from gee_scripts import sentinel1, sentinel2

    out: list[tuple[str, Any, dict[str, Any]]] = []
    rgb_vis = {"bands": ["red", "green", "blue"], "min": 0.0, "max": 0.3}
    vv_vis = {"bands": ["VV"], "min": -20.0, "max": 0.0}
    for which, window in (("pre", pre), ("post", post)):
        start, end = window.start.isoformat(), window.end.isoformat()
        scenes = sentinel2.s2_collection(geometry, start, end, settings.assets)
        masked = sentinel2.masked_collection(scenes, settings.cloud_mask, settings.assets)
        composite = sentinel2.greenest_pixel(masked)
        out.append((f"Sentinel-2 {which}-event {window}", composite, rgb_vis))
        radar = sentinel1.s1_collection(geometry, start, end, orbit_pass, settings.assets)
        # S1_GRD_FLOAT holds linear power: the median in dB (it commutes with the dB transform).
        vv_db = radar.select("VV").median().log10().multiply(10).rename("VV")
        out.append((f"Sentinel-1 VV {which}-event {window}", vv_db, vv_vis))
    return out


# --------------------------------------------------------------------------- the page


def write_review_page(
    config: MonitorConfig,
    output: str | os.PathLike[str] | None = None,
    *,
    regions: Iterable[str] | None = None,
    as_of: date | None = None,
    embed_quicklooks: bool = True,
    earth_engine: bool | None = None,
) -> ReviewPage:
    """Write the review page of ``config``'s inventory; returns what was written.

    ``output`` defaults to ``review.html`` next to the inventory. ``earth_engine`` adds the
    composites of the latest run's windows when the source is Earth Engine (default: whenever
    it is; ``False`` never tries, ``True`` fails loudly if it cannot)."""
    from gee_scripts.settings import GeeSettings

    regions = list(regions) if regions is not None else None
    data = load_review_data(config, regions=regions, as_of=as_of)
    path = Path(output) if output else config.inventory.path.with_name("review.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    m = build_review_map(data, embed_quicklooks=embed_quicklooks, page_dir=path.parent.resolve())
    ee_layers: list[str] = []
    use_ee = isinstance(config.source, GeeSettings) if earth_engine is None else earth_engine
    if use_ee:
        try:
            ee_layers = add_ee_composites(m, config, data.as_of or date.today(), regions)
        except Exception as exc:
            if earth_engine:
                raise
            log.warning("Earth Engine composites left out of the review page: %s", exc)
    m.to_html(str(path.resolve()))
    by_status = {s: int((data.landslides["status"] == s).sum()) for s in STATUS_STYLES}
    page = ReviewPage(
        path=path,
        n_landslides=len(data.landslides),
        by_status=by_status,
        as_of=data.as_of,
        ee_layers=tuple(ee_layers),
    )
    log.info("review page %s: %d landslides %s", path, page.n_landslides, json.dumps(by_status))
    return page


def cli_configure(parser: Any) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="the monitor's YAML")
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        help="the HTML page to write (default: review.html next to the inventory)",
    )
    parser.add_argument(
        "--region",
        "-r",
        action="append",
        default=None,
        metavar="NAME",
        help="only this region (repeatable); default: every region",
    )
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="date ages are counted from (default: the latest run date of the inventory)",
    )
    parser.add_argument(
        "--link-quicklooks",
        action="store_true",
        help="link the quicklook PNGs instead of embedding them (a smaller page)",
    )
    ee = parser.add_mutually_exclusive_group()
    ee.add_argument(
        "--earth-engine",
        dest="earth_engine",
        action="store_const",
        const=True,
        default=None,
        help="add the regions' pre/post composites from Earth Engine (fail if it cannot)",
    )
    ee.add_argument(
        "--no-earth-engine",
        dest="earth_engine",
        action="store_const",
        const=False,
        help="never contact Earth Engine",
    )


def cli_run(args: Any) -> int:
    """``landslide-monitor review``: write the page and say where it is."""
    from monitor.config import load_config
    from monitor.errors import BadInput

    config = load_config(args.config)
    for name in args.region or ():
        try:
            config.region(name)
        except KeyError as exc:
            raise BadInput(exc.args[0]) from None
    page = write_review_page(
        config,
        args.output,
        regions=args.region,
        as_of=args.as_of,
        embed_quicklooks=not args.link_quicklooks,
        earth_engine=args.earth_engine,
    )
    counts = ", ".join(f"{n} {s}" for s, n in page.by_status.items())
    print(f"review page: {page.path.resolve()} ({page.n_landslides} landslides: {counts})")
    if page.ee_layers:
        print(f"Earth Engine layers: {len(page.ee_layers)}")
    return 0
