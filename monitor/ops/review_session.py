"""Interactive review in a notebook (``notebooks/review.ipynb``): geemap's interactive map
(ipyleaflet) of the inventory beside a panel to confirm or dismiss candidates.

Click a landslide on the map (or pick it in the list): the panel shows its attributes and
quicklook; **Confirm**, **Dismiss** and **Back to candidate** write the decision at once through
:meth:`monitor.store.inventory.Inventory.set_status` (one small transaction, safe while no run holds
the inventory; a decision made while a run is writing waits for it) and recolour the map.

The widget-free part (:meth:`ReviewSession.landslides`, :meth:`select`, :meth:`decide`) is what
the tests drive; :meth:`map` and :meth:`panel` build the widgets around it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from monitor.alerts.payload import read_png
from monitor.ops._args import landslide_key
from monitor.ops.review import import_geemap_backend
from monitor.ops.review_data import (
    feature_collection,
    feature_style,
    load_review_data,
    quicklook_note,
)

if TYPE_CHECKING:
    from monitor.config import MonitorConfig

__all__ = ["DECISIONS", "ReviewSession"]

log = logging.getLogger(__name__)

#: Button label -> status written to the inventory.
DECISIONS: dict[str, str] = {
    "Confirm": "confirmed",
    "Dismiss": "dismissed",
    "Back to candidate": "candidate",
}


class ReviewSession:
    """One reviewer's session over ``config``'s inventory (optionally some regions only)."""

    def __init__(
        self,
        config: MonitorConfig,
        *,
        regions: Iterable[str] | None = None,
        as_of: date | None = None,
    ) -> None:
        self.config = config
        self.regions = list(regions) if regions is not None else None
        self.as_of = as_of
        self.selected: int | None = None
        self.decisions: list[tuple[int, str, str]] = []  # (fid, previous, new)
        self.withdrawn = 0  # waiting alerts the last decision withdrew (a dismissal)
        self.told: list[str] = []  # what the last decision did to the outbox, in sentences
        self._frame = self._load()
        self._layer: Any = None
        self._map: Any = None
        self._widgets: dict[str, Any] = {}

    # -- data -----------------------------------------------------------------------------------

    def _load(self) -> gpd.GeoDataFrame:
        data = load_review_data(self.config, regions=self.regions, as_of=self.as_of)
        self.as_of = self.as_of or data.as_of
        self._region_geometries = data.regions
        return data.landslides

    def landslides(self) -> gpd.GeoDataFrame:
        """The landslides under review (EPSG:4326), as last read from the inventory."""
        return self._frame

    def geojson(self) -> dict[str, Any]:
        features = feature_collection(
            self._frame,
            self.as_of,
            embed_quicklooks=False,
            page_dir=None,
            config_path=self.config.path,
            quicklook_in_popup=False,  # the panel's image widget shows it (a file: link cannot)
        )
        for feature in features["features"]:
            feature["properties"]["style"] = feature_style(feature)
        return features

    def _rows(self, key: int | str) -> gpd.GeoDataFrame:
        """The row of landslide ``key``: its fid (a number, or its digits as text) or its uid,
        as `inventory confirm` takes them (a uid or "3" was "not in this review");
        :class:`KeyError` for one this review does not show."""
        found = landslide_key(str(key))
        if isinstance(found, int):
            rows = self._frame[self._frame["fid"] == found]
        else:  # uids are written as lower-case UUIDs; either case names one (Inventory.get)
            rows = self._frame[self._frame["uid"].astype(str) == found.lower()]
        if rows.empty:
            raise KeyError(f"landslide {key} is not in this review (regions: {self.regions})")
        return rows

    def select(self, fid: int | str) -> dict[str, Any]:
        """Select landslide ``fid`` (or its uid); returns its row."""
        rows = self._rows(fid)
        self.selected = int(rows.iloc[0]["fid"])
        self._show_selected()
        return rows.iloc[0].to_dict()

    def decide(self, status: str, fid: int | str | None = None) -> str:
        """Write ``status`` (confirmed / dismissed / candidate) for ``fid`` (or its uid;
        default: the selected landslide; :class:`KeyError` for one this review does not show)
        to the inventory; returns the previous status."""
        from monitor.store.inventory import Inventory

        key = self.selected if fid is None else fid
        if key is None:
            raise ValueError("no landslide selected: click one on the map or pick it in the list")
        fid = int(self._rows(key).iloc[0]["fid"])  # as select(): only what this review shows
        with Inventory(self.config.inventory.path) as inventory:
            change = inventory.set_status(int(fid), status)  # type: ignore[arg-type]
        previous = change.previous
        self.withdrawn = change.withdrawn
        self.told = change.outbox_news("it")
        self.decisions.append((int(fid), previous, status))
        log.info("landslide %d: %s -> %s", fid, previous, status)
        for line in self.told:
            log.info("landslide %d: %s", fid, line)
        self._frame = self._load()
        self._refresh()
        return previous

    # -- widgets --------------------------------------------------------------------------------

    def map(self, height: str = "600px") -> Any:
        """geemap's interactive map (ipyleaflet backend) with the landslides and the regions."""
        import ipyleaflet

        interactive = import_geemap_backend("geemap")

        m = interactive.Map(ee_initialize=False, height=height)
        for name, geometry in self._region_geometries.items():
            from shapely.geometry import mapping

            m.add_layer(
                ipyleaflet.GeoJSON(
                    data={"type": "Feature", "properties": {}, "geometry": mapping(geometry)},
                    style={"color": "#2b8cbe", "weight": 2, "fill": False, "dashArray": "8 4"},
                    name=html.escape(f"region {name}"),  # the layer control shows HTML
                )
            )
        self._layer = ipyleaflet.GeoJSON(
            data=self.geojson(),
            style_callback=lambda feature: feature["properties"]["style"],
            hover_style={"weight": 5, "fillOpacity": 0.85},
            name="landslides",
        )
        self._layer.on_click(self._on_click)
        m.add_layer(self._layer)
        bounds = self._frame.total_bounds if len(self._frame) else None
        if bounds is not None:
            west, south, east, north = (float(v) for v in bounds)
            m.fit_bounds([[south, west], [north, east]])
        self._map = m
        return m

    def _on_click(self, feature: dict[str, Any] | None = None, **_: Any) -> None:
        if feature is not None:
            self.select(int(feature["properties"]["fid"]))

    def panel(self) -> Any:
        """The list, the attributes and quicklook of the selection, and the decision buttons."""
        import ipywidgets as widgets

        chooser = widgets.Dropdown(options=self._options(), description="Landslide")
        chooser.observe(
            lambda change: change["new"] is not None and self.select(change["new"]), "value"
        )
        details = widgets.HTML()
        quicklook = widgets.Image(format="png", layout=widgets.Layout(max_width="360px"))
        buttons = []
        for label, status in DECISIONS.items():
            button = widgets.Button(description=label)
            button.on_click(lambda _b, status=status: self._decide_from_button(status))
            buttons.append(button)
        message = widgets.HTML()
        self._widgets = {
            "chooser": chooser,
            "details": details,
            "quicklook": quicklook,
            "buttons": buttons,
            "message": message,
        }
        return widgets.VBox([chooser, details, quicklook, widgets.HBox(buttons), message])

    def widget(self) -> Any:
        """The map and the panel side by side."""
        import ipywidgets as widgets

        return widgets.HBox([self.map(), self.panel()])

    def _decide_from_button(self, status: str) -> None:
        message = self._widgets.get("message")
        try:
            previous = self.decide(status)
        except Exception as exc:  # shown to the reviewer, not raised into the widget loop
            if message is not None:
                message.value = f"<span style='color:#b10026'>{html.escape(str(exc))}</span>"
            return
        if message is not None:
            told = "".join(f"; {html.escape(line)}" for line in self.told)
            message.value = f"landslide {self.selected}: {previous} → <b>{status}</b>{told}"

    def _options(self) -> list[tuple[str, int]]:
        return [
            (f"#{int(r.fid)} {r.region} · {r.status} · {float(r.area_m2):,.0f} m²", int(r.fid))
            for r in self._frame.itertuples()
        ]

    def _show_selected(self) -> None:
        if not self._widgets or self.selected is None:
            return
        feature = next(
            f for f in self.geojson()["features"] if f["properties"]["fid"] == self.selected
        )
        row = self._frame[self._frame["fid"] == self.selected].iloc[0]
        path = row.get("quicklook")
        note = quicklook_note(path)  # why the image stays empty, as the page's popup says
        self._widgets["details"].value = feature["properties"]["popup"] + (note or "")
        if self._widgets["chooser"].value != self.selected:
            self._widgets["chooser"].value = self.selected
        png = read_png(Path(str(path))) if note is None else None  # checked as it is read
        self._widgets["quicklook"].value = png or b""

    def _refresh(self) -> None:
        if self._layer is not None:
            self._layer.data = self.geojson()
        if self._widgets:
            chooser = self._widgets["chooser"]
            selected = self.selected
            chooser.options = self._options()
            chooser.value = selected
            self._show_selected()
