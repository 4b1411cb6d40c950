"""The ``source:``, ``model:``, ``inventory:`` and ``quicklooks:`` sections: where the data comes
from, which ensemble reads it and how its setting is chosen, and where the results go."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, HttpUrl, ValidationInfo, field_validator

from gee_scripts.settings import GeeSettings
from models.feature_stack import SETTINGS
from models.manifest import DEFAULT_MANIFEST
from monitor.alerts.payload import uri_problem
from monitor.config._base import ConfigPath, StrictModel
from monitor.simulator.spec import ArchiveSimulation

__all__ = [
    "DEFAULT_MANIFEST",
    "ArchiveSourceConfig",
    "DatasetSettings",
    "InventorySettings",
    "ModelSettings",
    "QuicklookSettings",
    "SettingName",
    "SourceConfig",
]

# the scenes ``dataset export`` makes of an item (docs/models.md, "Train on your own inventory")
DatasetView = Literal["event", "monitoring"]


# --------------------------------------------------------------------------- sources


class ArchiveSourceConfig(StrictModel):
    """The embedded archive (the default source)."""

    type: Literal["archive"] = "archive"
    path: ConfigPath = Field(Path("data/archive"), validate_default=True)
    simulation: ArchiveSimulation | None = Field(
        None, description="what the simulator fills the archive with (archive build)"
    )


SourceConfig = Annotated[ArchiveSourceConfig | GeeSettings, Field(discriminator="type")]


# --------------------------------------------------------------------------- model

SettingName = Literal["S1", "S2", "S1+S2", "all"]


def _default_preference() -> list[SettingName]:
    return ["S1+S2", "S1", "S2"]


class ModelSettings(StrictModel):
    """The ensemble and how its setting is chosen.

    ``setting: auto`` takes the first setting of ``preference`` that the ensemble has and the
    data supports: an optical setting needs a clear pre- and post-event Sentinel-2 observation on
    at least ``min_clear_fraction`` of the region's pixels, a radar setting needs a Sentinel-1
    observation in both windows on at least ``min_radar_fraction``. Where an optical setting is
    chosen but some pixels are still cloudy, those pixels are predicted with ``fallback`` (radar
    only) when the ensemble has it; where a setting that needs radar is chosen but some pixels
    have no radar observation and a clear optical view, those are predicted with
    ``optical_fallback`` when it is set (off by default: the measured figures of the docs were
    taken without it), else left without a prediction with a warning. A fixed setting is used
    whatever the data.

    Because of the fallback, an optical setting costs nothing where it cannot see, so the
    default ``min_clear_fraction`` is low (docs/configuration.md, ``model``, has the demo's
    figures).
    """

    manifest: ConfigPath = Field(default=DEFAULT_MANIFEST, validate_default=True)
    setting: Literal["auto", "S1", "S2", "S1+S2", "all"] = "auto"
    preference: list[SettingName] = Field(default_factory=_default_preference)
    # radar alone sees under the clouds an optical setting cannot (S2 there would be NaN too)
    fallback: Literal["S1"] | None = "S1"
    optical_fallback: Literal["S2"] | None = Field(
        None,
        description="optical-only setting for pixels the chosen radar setting cannot see: no "
        "Sentinel-1 observation (a swath edge, a missing scene, masked layover) but a clear "
        "optical view; None (the default) leaves them without a prediction, with a warning",
    )
    min_clear_fraction: float = Field(0.2, ge=0, le=1)
    min_radar_fraction: float = Field(0.5, ge=0, le=1)
    radar_drop: bool = Field(
        True,
        description="add the forest backscatter-drop test's detections (VH fallen under trees, "
        "tested per object: monitor.pipeline.radar_drop) to the ensemble's",
    )
    vegetation_loss: bool = Field(
        True,
        description="add the large vegetation losses the ensemble drew nothing over "
        "(dNDVI below -0.35, and the post-event NDVI below 0.4 where known, over 1 ha or more "
        "of tree, shrub, grass or moss and lichen on slopes of 10° or more: "
        "monitor.pipeline.vegetation_loss) as S2 candidates for the object filter",
    )
    device: str | None = Field(None, description="torch device; default: CUDA when available")
    engine: Literal["auto", "torch", "onnxruntime"] = Field(
        "auto",
        description="what runs the members' networks: auto is ONNX Runtime on CPU (graphs "
        "exported on first use and cached; a region that fits in one tile smaller than 384 px "
        "runs in torch) and torch on CUDA",
    )

    @field_validator("engine")
    @classmethod
    def _engine_fits_device(cls, value: str, info: ValidationInfo) -> str:
        device = info.data.get("device")
        if value == "onnxruntime" and device and not str(device).startswith("cpu"):
            raise ValueError(f"the onnxruntime engine runs on CPU only, but device is {device!r}")
        return value

    @field_validator("manifest", mode="after")
    @classmethod
    def _manifest_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"manifest file {value} does not exist")
        return value

    @field_validator("preference")
    @classmethod
    def _preference_known(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("preference lists no setting")
        if len(set(value)) != len(value):
            raise ValueError("preference lists a setting twice")
        return value


assert set(SettingName.__args__) == set(SETTINGS)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- outputs


# File names of what `inventory export` writes, or of other vector formats: an inventory path
# ending so is a copy or an export named by mistake, never the GeoPackage the runs update (the
# configuration may not import the store: a test holds this to its EXPORT_FORMATS)
_NOT_AN_INVENTORY = {
    ".csv": "a CSV table",
    ".geojson": "a GeoJSON file",
    ".json": "a JSON file",
    ".shp": "a shapefile",
    ".kml": "a KML file",
    ".fgb": "a FlatGeobuf file",
    ".parquet": "a (Geo)Parquet file",
    ".zip": "a zipped file (a shapefile?)",
    ".gml": "a GML file",
    ".gpx": "a GPX file",
}


class InventorySettings(StrictModel):
    path: ConfigPath = Field(Path("runs/inventory.gpkg"), validate_default=True)

    @field_validator("path", mode="after")
    @classmethod
    def _path_names_a_geopackage(cls, value: Path) -> Path:
        # refused here, before a run takes the lock beside it (which leaves a .lock file)
        if value.is_dir():  # found in a config audit: caught by the first run, without the field
            raise ValueError(
                f"{value} is a folder; name the inventory's GeoPackage file (e.g. "
                f"{value / 'inventory.gpkg'})"
            )
        kind = _NOT_AN_INVENTORY.get(value.suffix.lower())
        if kind is not None:
            raise ValueError(
                f"{value} names {kind}; the inventory is a GeoPackage that the runs update "
                "(e.g. runs/inventory.gpkg); `landslide-monitor inventory export` writes CSV and "
                "GeoJSON copies of it"
            )
        return value


class QuicklookSettings(StrictModel):
    enabled: bool = True
    dir: ConfigPath = Field(Path("runs/quicklooks"), validate_default=True)
    max_per_region: int = Field(
        20, ge=0, description="new detections first, then the others; largest first in each"
    )
    keep_rasters_days: int | None = Field(
        None,
        ge=1,
        le=36600,  # a century: 1e6 overflowed the run's date arithmetic (found in review)
        description="each run deletes the probability and spread COGs of run dates more than "
        "this many days before its own (the PNGs stay: alerts, the inventory and the review "
        "map show them); default: keep them all, about 8 MB per 100 km² of region and run",
    )
    # found in a walkthrough of 147 daily runs: 257 MB of pictures, 5 of every 6 named by no
    # landslide and no alert
    keep_pictures_days: int | None = Field(
        None,
        ge=1,
        le=36600,
        description="each run deletes the PNGs of run dates more than this many days before its "
        "own that neither the inventory nor an alert names (pictures of detections that were "
        "already known, or merged into another); default: keep them all",
    )
    base_url: HttpUrl | None = Field(
        None,
        description="where a web server serves dir: alerts then carry each quicklook's URL "
        "(base_url/<date>/<region>/<file>.png)",
    )

    @field_validator("base_url")
    @classmethod
    def _base_url_is_a_uri(cls, value: HttpUrl | None) -> HttpUrl | None:
        if value is None:
            return value
        # found in a config audit: a login went into every alert, and a query or fragment came
        # before each file's path (https://x.org/q?token=1/2024-09-15/...); neither a login
        # nor a query (a token, perhaps) is repeated, so these come first (found in review)
        if value.username or value.password:
            raise ValueError(
                "base_url holds a login: every alert would carry it to its recipients; serve "
                "the quicklooks where a link alone reaches them"
            )
        if value.query or value.fragment:
            folder = str(value).split("?", 1)[0].split("#", 1)[0]
            raise ValueError(
                f"base_url has a {'query' if value.query else 'fragment'}: each quicklook's "
                f"path is appended to base_url, so give the folder's URL alone ({folder})"
            )
        # HttpUrl keeps characters RFC 3986 does not allow ('|', '^', '[' outside an IPv6
        # host, a '%' starting no escape): every alert's quicklook url then broke the
        # schema's format uri, and a receiver that checks it refused them all
        problem = uri_problem(str(value))
        if problem is not None:
            raise ValueError(
                f"{problem} (every alert's quicklook url starts with base_url, and a receiver "
                "that validates it as a URI refuses the alert)"
            )
        return value


# --------------------------------------------------------------------------- dataset


def _not_landslides() -> list[str]:
    """The catalog categories ``dataset export`` skips by default (monitor.labels)."""
    from monitor.labels import GLC_NOT_LANDSLIDES

    return list(GLC_NOT_LANDSLIDES)


class DatasetSettings(StrictModel):
    """The ``dataset:`` section: how ``landslide-monitor dataset export`` and ``from-reviews``
    turn inventories into training scenes (most fields also have a command-line option)."""

    date_column: str | None = Field(None, description="date column of a polygon inventory")
    date_format: str | None = Field(
        None,
        description="its form where it is text other than ISO 8601 or YYYYMMDD (strptime, "
        "e.g. %d/%m/%Y)",
    )
    id_column: str | None = Field(
        None, description="id column of a polygon inventory (default: the feature number)"
    )
    layer: str | None = Field(None, description="the layer of a GeoPackage of several")
    tile_m: float = Field(2560.0, gt=0, le=50_000, description="side of the tile around an item")
    pre_days: int = Field(60, ge=1, le=730, description="pre-event window before the item's date")
    post_days: int = Field(30, ge=1, le=365, description="post-event window after it")
    max_accuracy: str = Field(
        "1km", description="coarsest Global Landslide Catalog location_accuracy kept"
    )
    skip_categories: list[str] = Field(
        default_factory=_not_landslides,
        description="Global Landslide Catalog landslide_category values skipped (not landslides)",
    )
    core_m: float = Field(
        20.0,
        gt=0,
        description="positive core around a catalogued point placed at least that exactly (exact)",
    )
    min_ignore_m: float = Field(
        250.0, ge=0, description="ignored disk around a point, at least (or its accuracy)"
    )
    split_by: Literal["event", "region"] = "event"
    split_buffer_m: float | None = Field(
        None,
        ge=0,
        le=50_000,
        description="export: scenes closer than this share a split group whatever their "
        "dates, as do scenes on shared ground (0: only those); none: tile_m",
    )
    views: list[DatasetView] = Field(
        ["event", "monitoring"],
        description="export: the scenes of each item, the event view and/or the monitoring "
        "views a daily run shows (event,monitoring: both, as the shipped ensemble is trained)",
    )
    ignore_buffer_m: float = Field(
        50.0, ge=0, description="from-reviews: ignored margin around unreviewed candidates"
    )
    known_within_m: float | None = Field(
        100.0,
        ge=0,
        description="from-reviews: background known (0) only this close to a reviewed "
        "landslide, the rest ignored (255); none: everywhere",
    )
    export_known_within_m: float | None = Field(
        None,
        ge=0,
        description="export: background known (0) only this close to an inventory item (and "
        "to a dismissed entry of an inventory export), the rest ignored (255), for an "
        "inventory that maps some of the landslides of its area; none: the inventory is "
        "complete, every other pixel of a scene is background",
    )

    @property
    def split_buffer(self) -> float:
        """Metres within which ``dataset export``'s scenes share a split group: ``split_buffer_m``,
        by default a tile side (``tile_m``)."""
        return self.tile_m if self.split_buffer_m is None else self.split_buffer_m

    @field_validator("date_format")
    @classmethod
    def _date_format_names_a_day(cls, value: str | None) -> str | None:
        # `dd.mm.yyyy` (no directive) or `%d.%m` (no year) matched no date, or dated every
        # item in 1900, and every item was skipped as undated (found walking the carried items)
        if value is None:
            return value
        # a time of day and a zone, so that a form with %H, %z or %Z writes them (found in a
        # review: a plain date wrote no zone, and %z failed its own round trip)
        sample = datetime(2024, 8, 17, 14, 30, tzinfo=UTC)
        try:
            read = datetime.strptime(sample.strftime(value), value).date()
        except ValueError:
            read = None
        if read != sample.date():
            raise ValueError(
                f"{value!r} does not give a day back: write it with strptime's directives for "
                "the year, month and day (e.g. %d.%m.%Y for 17.08.2024, %m/%d/%Y for 08/17/2024)"
            )
        return value

    @field_validator("max_accuracy")
    @classmethod
    def _known_accuracy(cls, value: str) -> str:
        from monitor.labels import accuracy_limit

        return accuracy_limit(value)[0]  # its InventoryFileError is a ValueError

    @field_validator("skip_categories", mode="before")
    @classmethod
    def _categories_listed(cls, value: Any) -> Any:
        # the command line writes them as one comma-separated word; "none" (or nothing): keep
        # all. A blank entry would skip the rows without a category: dropped, as in a list
        if isinstance(value, str):
            value = [] if value.strip().lower() in ("", "none") else value.split(",")
        if isinstance(value, list | tuple):
            value = [v.strip() if isinstance(v, str) else v for v in value]
            value = [v for v in value if v != ""]
        return value

    @field_validator("views", mode="before")
    @classmethod
    def _views_listed(cls, value: Any) -> Any:
        # the command line writes them as one comma-separated word (--views event,monitoring)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list | tuple):
            if not value:
                raise ValueError("no view named; name event, monitoring or both")
            unknown = [v for v in value if v not in get_args(DatasetView)]
            if unknown:
                raise ValueError(f"{unknown[0]!r} is not a view: event or monitoring")
            twice = sorted({v for v in value if list(value).count(v) > 1}, key=str)
            if twice:
                raise ValueError(f"{', '.join(map(str, twice))} named twice")
        return value
