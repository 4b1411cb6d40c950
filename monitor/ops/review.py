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
  says how many are drawn (those of status layers switched off in the layer control not).

Review decisions are made with ``landslide-monitor inventory confirm|dismiss --config F ID`` or in
``notebooks/review.ipynb``; the page itself is read-only.

Every string that reaches the page's HTML is escaped: the inventory may have been edited by
hand or by another tool, so no field of it (nor a region name, nor a layer name) is trusted.
Leaflet sets popups, tooltips, layer-control labels and the picker's markup as ``innerHTML``,
so text goes there only through :func:`html.escape` (the landslides' popups, tooltips and the
legend in :mod:`monitor.ops.review_data`; region and layer names here); data reaches the
scripts only as JSON (``tojson``, which escapes ``<``, ``>``, ``&`` and ``'``); folium's own
``Tooltip`` (which pastes its text raw into a JavaScript template literal) is not used.

The date filter and region picker are ``review.js``, the stylesheet ``review.css`` (package
data beside this module); the Earth Engine layers' graphs are
:func:`gee_scripts.review_layers.composite_layers`.
"""

from __future__ import annotations

import argparse
import html
import importlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import geopandas as gpd
from branca.element import MacroElement
from jinja2 import Template
from shapely.geometry import mapping

from models.atomic import write_atomically
from monitor.errors import BadInput
from monitor.ops._args import add_config, iso_date
from monitor.ops.review_data import (
    AGE_CLASSES,
    STATUS_LABELS,
    STATUS_STYLES,
    ReviewData,
    age_class,
    config_option,
    feature_collection,
    feature_style,
    legend_html,
    load_review_data,
)

if TYPE_CHECKING:
    from monitor.config import MonitorConfig

__all__ = [  # the data's and features' names are re-exported from monitor.ops.review_data
    "AGE_CLASSES",
    "STATUS_STYLES",
    "ReviewData",
    "ReviewPage",
    "add_ee_composites",
    "age_class",
    "build_review_map",
    "feature_collection",
    "feature_style",
    "import_geemap_backend",
    "load_review_data",
    "write_review_page",
]

log = logging.getLogger(__name__)


@cache
def _asset(name: str) -> str:
    """The text of a package data file of :mod:`monitor.ops` (``review.js``, ``review.css``)."""
    return resources.files("monitor.ops").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class ReviewPage:
    """A written review page."""

    path: Path
    n_landslides: int
    by_status: dict[str, int]
    as_of: date | None
    ee_layers: tuple[str, ...] = ()


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


def _highlight(feature: Mapping[str, Any]) -> dict[str, Any]:
    return {"weight": 5, "fillOpacity": 0.85}


# ``popup`` and ``tooltip`` are HTML built (and escaped) by :func:`feature_collection`. A popup
# is at most the window's width less its margins (a phone's 390 px), its quicklook shrunk to it.
_BIND_POPUP_JS = """
function (feature, layer) {
    var width = Math.max(200, Math.min(420, window.innerWidth - 70));
    layer.bindPopup(feature.properties.popup, {maxWidth: width, minWidth: Math.min(300, width)});
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
            name=f"{STATUS_LABELS[status]} ({len(subset)})",
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
    m.get_root().header.add_child(Element(f"\n<style>\n{_asset('review.css')}</style>\n"))
    legend = legend_html(
        title,
        counts,
        data.as_of,
        data.inventory_path,
        len(data.landslides),
        data.chosen_regions,
    )
    m.get_root().html.add_child(Element(legend))
    m.get_root().html.add_child(Element(_offline_note(data.config_path)))
    region_bounds = {name: _bounds(frame.iloc[0:0], {name: g}) for name, g in data.regions.items()}
    m.add_child(_ReviewControl(layers, len(frame), region_bounds, bounds))
    m.add_layer_control()
    return m


def _offline_note(config_path: Path | None) -> str:
    """A script of the page's body that, where Leaflet's JavaScript did not load (no internet,
    a proxy blocking the CDN), puts a note in place of the map saying so and how to see the
    inventory offline; the legend alone would otherwise be all the page shows."""
    from folium import Map

    host = urlsplit(dict(Map.default_js)["leaflet"]).netloc
    export = f"landslide-monitor inventory export{config_option(config_path)} landslides.geojson"
    note = (
        f"<b>No map: its JavaScript library (Leaflet, from {html.escape(host)}) did not "
        "load.</b> The page needs the internet for it and for the basemap tiles; a proxy or "
        f"firewall may block {html.escape(host)}. Offline, export the inventory for QGIS: "
        f"<code>{export}</code>"
    )
    # JSON in a script: "<" escaped so that no "</script>" of the path can end it
    text = json.dumps(note).replace("<", "\\u003c")
    return (
        "<script>if (typeof L === 'undefined') {"
        "var note = document.createElement('div'); note.id = 'ls-offline';"
        f"note.className = 'ls-offline'; note.innerHTML = {text};"
        "document.body.appendChild(note);}</script>"
    )


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


class _ReviewControl(MacroElement):
    """A Leaflet control (``review.js``): a from/to date filter over the landslide layers, and a
    region picker that zooms to a watched region (regions may lie continents apart)."""

    # review.js is a function expression; the page calls it with the map, its landslide layers
    # (folium's variable names), the region bounds (JSON) and the number of landslides.
    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this.script }}({{ this._parent.get_name() }}, [{{ this.layer_names | join(', ') }}],
          {{ this.region_bounds | tojson }}, {{ this.all_bounds | tojson }}, {{ this.total }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        layers: list[Any],
        total: int,
        region_bounds: Mapping[str, list[list[float]] | None],
        all_bounds: list[list[float]] | None,
    ) -> None:
        super().__init__()
        self._name = "ReviewControl"
        self.script = _asset("review.js").rstrip()
        self.layer_names = [layer.get_name() for layer in layers]
        self.total = total
        self.region_bounds = dict(region_bounds)
        self.all_bounds = all_bounds


# --------------------------------------------------------------------------- Earth Engine


def add_ee_composites(
    m: Any, config: MonitorConfig, run_date: date, regions: Iterable[str] | None = None
) -> list[str]:
    """Add each region's pre- and post-event Sentinel-2 true colour and Sentinel-1 VV (the
    windows of ``run_date``, composited as the region's detection composites them:
    :func:`gee_scripts.review_layers.composite_layers`) as Earth Engine tile layers.

    Needs ``source: {type: gee}`` and working Earth Engine credentials; returns the layer names.
    """
    from gee_scripts.settings import GeeSettings

    settings = config.source
    if not isinstance(settings, GeeSettings):
        raise ValueError("Earth Engine layers need `source: {type: gee}` in the configuration")
    import ee

    from gee_scripts import auth, context
    from gee_scripts.coverage import AssetCoverageError, resolve_assets
    from gee_scripts.review_layers import composite_layers
    from monitor.sources.gee import gee_window

    auth.initialize(settings)
    names: list[str] = []
    wanted = set(regions) if regions is not None else None
    for region in config.regions:
        if wanted is not None and region.name not in wanted:
            continue
        pre, post = region.windows.windows_for(run_date)
        geometry = ee.Geometry(mapping(region.geometry))
        try:  # the DEM the detection's optical views are masked in self-shadow with
            assets = resolve_assets(region.name, region.geometry.bounds, settings)
            elevation = context.dem_image(assets.elevation, geometry)
        except AssetCoverageError as err:  # its runs fail too: the layers are still shown
            log.warning(
                "%s: the optical layers are not masked in self-shadow: %s", region.name, err
            )
            elevation = None
        layers = composite_layers(
            geometry,
            gee_window(pre),
            gee_window(post),
            region.orbit_pass,
            settings,
            region.windows.compositing(),
            elevation,
        )
        for label, image, vis in layers:
            name = f"{region.name}: {label}"
            # the layer control shows layer names as HTML
            m.add_layer(image.clip(geometry), vis, html.escape(name), shown=False)
            names.append(name)
    return names


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
            ee_layers = add_ee_composites(m, config, data.as_of or config.schedule.today(), regions)
        except Exception as exc:
            if earth_engine:
                raise
            log.warning("Earth Engine composites left out of the review page: %s", exc)
    # whole or not at all: a full disk or a kill leaves the earlier page as it was (the writer
    # refuses a name that does not end in .html; the temporary one keeps the suffix)
    try:
        write_atomically(path.resolve(), lambda tmp: m.to_html(str(tmp)))
    except OSError as exc:  # a folder this user may not write, a read-only or full disk
        raise BadInput(f"cannot write the review page {path}: {exc.strerror or exc}") from None
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


def cli_configure(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument(
        "--output",
        "-o",
        type=str,
        default=None,
        help="the HTML page to write, or a folder to write review.html in (default: review.html "
        "next to the inventory)",
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
        type=iso_date,
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


def _output(given: str | None) -> Path | None:
    """``--output`` checked before any work: an existing folder gets ``review.html`` in it; a
    name that does not end in ``.html``, or a folder that cannot be made, is bad input (exit 2).
    The map's writer (geemap's ``to_html``) refuses any other ending, ``.htm`` and ``.HTML``
    included, with a bare ``ValueError`` once the page is built."""
    if given is None:
        return None
    path = Path(given)
    if path.is_dir() or given.endswith(("/", os.sep)):  # `-o pages/`: a folder, made
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"--output {path}: cannot make the folder: {exc}") from None
        return path / "review.html"
    if path.suffix != ".html":
        folder = "" if path.suffix else f", or {given.rstrip(os.sep)}/ for a folder to make"
        raise BadInput(f"--output {path}: the review page is an HTML file; name it .html{folder}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--output {path}: cannot make its folder: {exc}") from None
    return path


def cli_run(args: argparse.Namespace) -> int:
    """``landslide-monitor review``: write the page and say where it is."""
    from gee_scripts.settings import GeeSettings
    from monitor.config import load_config

    config = load_config(args.config)
    # the regions are checked with the inventory's (load_review_data): one removed from the
    # configuration keeps its entries
    if args.earth_engine and not isinstance(config.source, GeeSettings):
        raise BadInput(
            f"--earth-engine: Earth Engine layers need `source: {{type: gee}}` in {args.config} "
            f"(its source is {config.source.type}); leave the flag out for this configuration"
        )
    page = write_review_page(
        config,
        _output(args.output),
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
