"""The monitor's configuration: one YAML file, validated with pydantic.

:func:`load_config` is the only way in. Every problem it finds is reported at once as a
:class:`ConfigError` whose lines name the file, the line, the field (``regions[1].geometry``)
and what is wrong; unknown fields are refused everywhere, so a typo never silently falls back
to a default.

Relative paths (the archive, region files, the manifest, the inventory, quicklooks) are resolved
against ``base_dir``, which defaults to the directory holding the configuration file; a relative
``base_dir`` is itself taken relative to that directory (the demo sets ``base_dir: ..`` so that
its paths read from the repository root).

Outline (every block but ``regions`` is optional)::

    base_dir: ..
    source: {type: archive, path: data/demo/archive}      # or {type: gee, ...}
    regions:
      - name: wayanad-hills
        geometry: {type: Polygon, coordinates: [...]}     # or a path: regions/wayanad.gpkg
        orbit_pass: descending
        windows: {mode: monitoring, pre_days: 60, post_days: 30}
        threshold: 0.6          # overrides the ensemble's calibrated threshold
        min_area_m2: 900
        masks: {min_slope_deg: 5, exclude_water: true, exclude_snow: true}
    model: {manifest: models/default/manifest.json, setting: auto}
    trigger: {...}
    inventory: {path: runs/demo/inventory.gpkg}
    quicklooks: {dir: runs/demo/quicklooks}
    alerts: {...}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from shapely import force_2d
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

import models
from gee_scripts.settings import GeeSettings
from models.feature_stack import SETTINGS
from monitor.alerts.settings import AlertConfigError, AlertRouting, AlertSettings, AlertTargets
from monitor.ops.distributed import DaskSettings
from monitor.ops.schedule import ScheduleSettings
from monitor.pipeline.trigger import TriggerSettings
from monitor.pipeline.vectorise import VectoriseRules
from monitor.simulator.spec import ArchiveSimulation, SimulationSpec
from monitor.sources.base import (
    DEFAULT_MAX_AREA_KM2,
    AreaOfInterest,
    InvalidArea,
    OrbitPass,
    Window,
    check_area,
)

__all__ = [
    "DEFAULT_MANIFEST",
    "ArchiveSourceConfig",
    "ConfigError",
    "EventWindows",
    "InventorySettings",
    "MaskSettings",
    "ModelSettings",
    "MonitorConfig",
    "MonitoringWindows",
    "QuicklookSettings",
    "RegionConfig",
    "SourceConfig",
    "load_config",
]

DEFAULT_MANIFEST = Path(models.__file__).resolve().parent / "default" / "manifest.json"

# Formats a region file may have, by suffix (read with pyogrio through geopandas).
REGION_FILE_SUFFIXES = (".geojson", ".json", ".gpkg", ".kml", ".shp", ".zip")

_REGION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ConfigError(ValueError):
    """A configuration that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, path: Path | str, problems: Sequence[str]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(
            f"invalid configuration {self.path} ({len(self.problems)} {noun}):\n{lines}"
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir", "."))


def _resolve(path: Path, info: ValidationInfo) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (_base_dir(info) / path)


# A path in the configuration: ``~`` expanded, relative to the configuration file's folder.
ConfigPath = Annotated[Path, AfterValidator(_resolve)]


# --------------------------------------------------------------------------- windows


class MonitoringWindows(_Strict):
    """Sliding windows for the daily run: the post window is the ``post_days`` before the run
    date (the run date itself excluded: its acquisitions may not all be processed yet), the pre
    window the ``pre_days`` before that."""

    mode: Literal["monitoring"] = "monitoring"
    pre_days: int = Field(60, ge=1, le=730)
    post_days: int = Field(30, ge=1, le=365)

    def windows_for(self, run_date: date) -> tuple[Window, Window]:
        post = Window(run_date - timedelta(days=self.post_days), run_date)
        pre = Window(post.start - timedelta(days=self.pre_days), post.start)
        return pre, post


class EventWindows(_Strict):
    """Windows around a known event (a storm, an earthquake): the ``pre_days`` before the event
    date and the ``post_days`` after it, clipped to the run date. The event day belongs to
    neither window: an acquisition that day may precede the event."""

    mode: Literal["event"]
    event_date: date
    pre_days: int = Field(60, ge=1, le=730)
    post_days: int = Field(30, ge=1, le=365)

    def windows_for(self, run_date: date) -> tuple[Window, Window]:
        pre = Window(self.event_date - timedelta(days=self.pre_days), self.event_date)
        post_start = self.event_date + timedelta(days=1)
        post_end = min(post_start + timedelta(days=self.post_days), run_date)
        if post_end <= post_start:
            raise ValueError(
                f"the post-event window of event {self.event_date} has not begun on run date "
                f"{run_date} (it starts {post_start})"
            )
        return pre, Window(post_start, post_end)


Windows = Annotated[MonitoringWindows | EventWindows, Field(discriminator="mode")]


def _default_mode(value: Any) -> Any:
    if isinstance(value, dict) and "mode" not in value:
        return {**value, "mode": "monitoring"}
    return value


# --------------------------------------------------------------------------- regions


class MaskSettings(_Strict):
    """Where a detection is not taken as a landslide."""

    min_slope_deg: float = Field(
        5.0, ge=0, lt=90, description="drop detections whose mean slope is below this (flat ground)"
    )
    exclude_water: bool = Field(
        True, description="remove water: WorldCover class 80, or dark with NDVI < 0 after the event"
    )
    exclude_snow: bool = Field(
        True, description="remove snow: WorldCover class 70, or bright and unvegetated after it"
    )
    max_post_ndvi: float | None = Field(
        0.6, ge=-1, le=1, description="drop detections greener than this after the event"
    )


def _geometry_from_geojson(value: dict[str, Any]) -> BaseGeometry:
    kind = value.get("type")
    if kind == "FeatureCollection":
        return unary_union([shape(f["geometry"]) for f in value.get("features", [])])
    if kind == "Feature":
        return shape(value["geometry"])
    return shape(value)


def _geometry_from_file(path: Path, layer: str | None) -> BaseGeometry:
    import geopandas as gpd

    if not path.exists():
        raise ValueError(f"region file {path} does not exist")
    if path.suffix.lower() not in REGION_FILE_SUFFIXES:
        known = ", ".join(REGION_FILE_SUFFIXES)
        raise ValueError(f"region file {path} has an unknown format (known suffixes: {known})")
    try:
        frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
        raise ValueError(f"cannot read region file {path}: {exc}") from None
    if frame.empty:
        raise ValueError(f"region file {path} holds no features")
    if frame.crs is not None:
        frame = frame.to_crs("EPSG:4326")
    return unary_union(list(frame.geometry))


class RegionConfig(_Strict):
    """One watched region."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    name: str
    max_area_km2: float = Field(DEFAULT_MAX_AREA_KM2, gt=0, description="refuse larger polygons")
    layer: str | None = Field(None, description="layer of a multi-layer region file")
    geometry: BaseGeometry = Field(
        description="GeoJSON (geometry, Feature or FeatureCollection) inline, or a path to a "
        "GeoJSON, GeoPackage, KML or shapefile; lon/lat, or any CRS the file declares"
    )
    orbit_pass: OrbitPass = "both"
    windows: Windows = Field(default_factory=MonitoringWindows)
    threshold: float | None = Field(None, gt=0, lt=1)
    min_area_m2: float = Field(900.0, ge=0)
    masks: MaskSettings = Field(default_factory=MaskSettings)
    alerts: AlertTargets | None = Field(None, description="this region's own alert targets")
    simulation: SimulationSpec | None = Field(
        None, description="the simulated landscape of this region (archive build)"
    )

    @field_validator("name")
    @classmethod
    def _name_is_safe(cls, value: str) -> str:
        if not _REGION_NAME.match(value):
            raise ValueError(
                f"region name {value!r} must start with a letter or digit and hold only "
                "letters, digits, '_', '-' and '.' (it names files and inventory rows)"
            )
        return value

    @field_validator("windows", mode="before")
    @classmethod
    def _windows_mode(cls, value: Any) -> Any:
        return _default_mode(value)

    @field_validator("geometry", mode="before")
    @classmethod
    def _read_geometry(cls, value: Any, info: ValidationInfo) -> BaseGeometry:
        if isinstance(value, BaseGeometry):
            geometry = value
        elif isinstance(value, dict):
            try:
                geometry = _geometry_from_geojson(value)
            except Exception as exc:
                raise ValueError(f"not a GeoJSON geometry: {exc}") from None
        elif isinstance(value, str | Path):
            path = _resolve(Path(value), info)
            geometry = _geometry_from_file(path, (info.data or {}).get("layer"))
        else:
            raise ValueError("expected inline GeoJSON or the path of a region file")
        geometry = force_2d(geometry)
        data = info.data or {}
        area = AreaOfInterest(name=str(data.get("name", "region")), geometry=geometry)
        try:
            check_area(area, data.get("max_area_km2", DEFAULT_MAX_AREA_KM2))
        except InvalidArea as exc:
            raise ValueError(str(exc)) from None
        return geometry

    @property
    def area(self) -> AreaOfInterest:
        """What a source needs of this region."""
        return AreaOfInterest(name=self.name, geometry=self.geometry, orbit_pass=self.orbit_pass)

    @property
    def rules(self) -> VectoriseRules:
        """What this region accepts as a landslide (see :mod:`monitor.pipeline.vectorise`)."""
        return VectoriseRules(
            threshold=self.threshold,
            min_area_m2=self.min_area_m2,
            min_slope_deg=self.masks.min_slope_deg,
            exclude_water=self.masks.exclude_water,
            exclude_snow=self.masks.exclude_snow,
            max_post_ndvi=self.masks.max_post_ndvi,
        )

    def geojson(self) -> dict[str, Any]:
        return dict(mapping(self.geometry))


# --------------------------------------------------------------------------- model, outputs

SettingName = Literal["S1", "S2", "S1+S2", "all"]


class ModelSettings(_Strict):
    """The ensemble and how its setting is chosen.

    ``setting: auto`` takes the first setting of ``preference`` that the ensemble has and the
    data supports: an optical setting needs a clear pre- and post-event Sentinel-2 observation on
    at least ``min_clear_fraction`` of the region's pixels, a radar setting needs a Sentinel-1
    observation in both windows on at least ``min_radar_fraction``. Where an optical setting is
    chosen but some pixels are still cloudy, those pixels are predicted with ``fallback`` (radar
    only) when the ensemble has it. A fixed setting is used whatever the data.

    Because of the fallback, an optical setting costs nothing where it cannot see, so the
    default ``min_clear_fraction`` is low: on the demo's monsoon region (29 % clear in both
    windows) S1+S2 with the radar fallback found 18 of 30 landslides, radar alone 14.
    """

    manifest: ConfigPath = Field(default=DEFAULT_MANIFEST, validate_default=True)
    setting: Literal["auto", "S1", "S2", "S1+S2", "all"] = "auto"
    preference: list[SettingName] = Field(default_factory=lambda: ["S1+S2", "S1", "S2"])
    fallback: SettingName | None = "S1"
    min_clear_fraction: float = Field(0.2, ge=0, le=1)
    min_radar_fraction: float = Field(0.5, ge=0, le=1)
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


class InventorySettings(_Strict):
    path: ConfigPath = Field(Path("runs/inventory.gpkg"), validate_default=True)


class QuicklookSettings(_Strict):
    enabled: bool = True
    dir: ConfigPath = Field(Path("runs/quicklooks"), validate_default=True)
    max_per_region: int = Field(20, ge=0, description="largest detections first")


# --------------------------------------------------------------------------- sources


class ArchiveSourceConfig(_Strict):
    """The embedded archive (the default source)."""

    type: Literal["archive"] = "archive"
    path: ConfigPath = Field(Path("data/archive"), validate_default=True)
    simulation: ArchiveSimulation | None = Field(
        None, description="what the simulator fills the archive with (archive build)"
    )


SourceConfig = Annotated[ArchiveSourceConfig | GeeSettings, Field(discriminator="type")]


# --------------------------------------------------------------------------- the whole file


class MonitorConfig(_Strict):
    """The whole configuration file."""

    base_dir: Path | None = Field(
        None, description="relative paths resolve against this (default: the file's directory)"
    )
    source: SourceConfig = Field(default_factory=ArchiveSourceConfig)
    regions: list[RegionConfig] = Field(min_length=1)
    model: ModelSettings = Field(default_factory=ModelSettings)
    trigger: TriggerSettings = Field(default_factory=TriggerSettings)
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    quicklooks: QuicklookSettings = Field(default_factory=QuicklookSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    dask: DaskSettings = Field(default_factory=DaskSettings)

    _path: Path | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _sections_with_paths(cls, data: Any) -> Any:
        # Absent sections are validated as empty ones, so that their default paths are
        # resolved against base_dir (and the default manifest is checked) like given ones.
        if isinstance(data, dict):
            data = dict(data)
            for section in ("source", "model", "inventory", "quicklooks"):
                if data.get(section) is None:
                    data[section] = {}
        return data

    @field_validator("source", mode="before")
    @classmethod
    def _default_source_type(cls, value: Any) -> Any:
        if isinstance(value, dict) and "type" not in value:
            return {**value, "type": "archive"}
        return value

    @model_validator(mode="after")
    def _unique_region_names(self) -> MonitorConfig:
        seen: set[str] = set()
        for region in self.regions:
            if region.name in seen:
                raise ValueError(f"region name {region.name!r} is used twice")
            seen.add(region.name)
        self.alert_routing()  # refuses e-mail without SMTP, clashing webhook names
        return self

    def alert_routing(self) -> AlertRouting:
        """Which channels each region's alerts go to (see :mod:`monitor.alerts.settings`)."""
        try:
            return AlertRouting.from_settings(self.alerts, {r.name: r.alerts for r in self.regions})
        except AlertConfigError as exc:
            raise ValueError(str(exc)) from None

    @property
    def path(self) -> Path | None:
        """The file this configuration was loaded from."""
        return self._path

    def region(self, name: str) -> RegionConfig:
        for region in self.regions:
            if region.name == name:
                return region
        known = ", ".join(r.name for r in self.regions)
        where = f" in {self._path}" if self._path else ""
        raise KeyError(f"no region named {name!r}{where}; regions: {known}")


# --------------------------------------------------------------------------- loading


def _loc_to_place(root: yaml.Node | None, loc: Sequence[int | str]) -> tuple[str, int | None]:
    """The dotted field path and the YAML line of a pydantic error location.

    Discriminator tags and union member names that pydantic inserts in ``loc`` are not keys of
    the document; they are skipped, except a last element naming a missing field."""
    parts: list[str] = []
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for i, item in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, yaml.MappingNode) and isinstance(item, str):
            match = next((v for k, v in node.value if k.value == item), None)
            key = next((k for k, _ in node.value if k.value == item), None)
            if match is not None and key is not None:
                parts.append(f".{item}")
                node, line = match, key.start_mark.line + 1
            elif last:
                parts.append(f".{item}")
        elif isinstance(node, yaml.SequenceNode) and isinstance(item, int):
            if 0 <= item < len(node.value):
                parts.append(f"[{item}]")
                node = node.value[item]
                line = node.start_mark.line + 1
        elif node is None and last:
            parts.append(f".{item}" if isinstance(item, str) else f"[{item}]")
    return ("".join(parts).lstrip(".") or "(top level)", line)


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def _duplicate_keys(node: yaml.Node | None, prefix: str = "") -> list[str]:
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            where = f"{prefix}.{key.value}".lstrip(".")
            if key.value in seen:
                problems.append(f"line {key.start_mark.line + 1}: {where}: field given twice")
            seen.add(key.value)
            problems.extend(_duplicate_keys(value, where))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, f"{prefix}[{i}]"))
    return problems


def load_config(path: str | Path) -> MonitorConfig:
    """Read and validate the configuration file at ``path``.

    Raises :class:`ConfigError` listing every problem, each with its line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, ["the configuration file does not exist"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read the configuration file: {exc}"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = ": ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(path, [f"{where}malformed YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, [f"malformed YAML: {exc}"]) from None
    if data is None:
        raise ConfigError(path, ["the configuration file is empty"])
    if not isinstance(data, dict):
        raise ConfigError(path, ["the top level must be a mapping of sections (source, regions…)"])
    duplicates = _duplicate_keys(root)
    if duplicates:
        raise ConfigError(path, duplicates)

    config_dir = path.resolve().parent
    base = data.get("base_dir")
    base_dir = config_dir if base in (None, "") else (config_dir / Path(str(base)).expanduser())
    try:
        config = MonitorConfig.model_validate(data, context={"base_dir": base_dir.resolve()})
    except ValidationError as exc:
        located: list[tuple[int, str]] = []
        for error in exc.errors(include_url=False):
            field, line = _loc_to_place(root, error["loc"])
            where = f"line {line}: " if line is not None else ""
            located.append((line or 0, f"{where}{field}: {_message(error)}"))
        raise ConfigError(path, [p for _, p in sorted(located, key=lambda p: p[0])]) from None
    config._path = path
    return config
