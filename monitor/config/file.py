"""The whole configuration file: :class:`MonitorConfig`, one field per section.

Each section's model lives with its topic (:mod:`monitor.config.regions`,
:mod:`monitor.config.settings`, :mod:`monitor.config.operations`) or with the part it configures
(the trigger, the alerts, the Earth Engine source); this module only puts them together and
checks what spans sections: unique region names and the alert routing.
"""

from __future__ import annotations

import ssl
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from gee_scripts.settings import GeeSettings
from monitor.alerts.payload import QuicklookLinks
from monitor.alerts.settings import AlertConfigError, AlertRouting, AlertSettings, WebhookSettings
from monitor.config._base import StrictModel, refuse_variables, resolve_path
from monitor.config.operations import DaskSettings, ScheduleSettings
from monitor.config.regions import RegionConfig
from monitor.config.settings import (
    ArchiveSourceConfig,
    DatasetSettings,
    InventorySettings,
    ModelSettings,
    QuicklookSettings,
    SourceConfig,
)
from monitor.grid import region_grid
from monitor.pipeline.trigger import TriggerSettings

__all__ = ["MonitorConfig"]


class MonitorConfig(StrictModel):
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
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)

    _path: Path | None = PrivateAttr(None)

    @field_validator("base_dir")
    @classmethod
    def _base_dir_without_variables(cls, value: Path | None) -> Path | None:
        return None if value is None else refuse_variables(value)

    @model_validator(mode="before")
    @classmethod
    def _sections_with_paths(cls, data: Any) -> Any:
        # Absent sections are validated as empty ones, so that their default paths are
        # resolved against base_dir (and the default manifest is checked) like given ones; so
        # is a section left empty (`alerts:` with every line under it commented out), which
        # was "Input should be a valid dictionary or instance of AlertSettings" but for these
        # four (found in a config audit)
        if isinstance(data, dict):
            data = dict(data)
            for section in cls.model_fields.keys() - {"base_dir", "regions"}:
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
    def _section_paths(self, info: ValidationInfo) -> MonitorConfig:
        # Paths like the others, which the sections' own settings cannot resolve (they know no
        # file), first: the validators below compare them. A CA file is read at load, not at
        # the first delivery, where a missing one said only "FileNotFoundError: [Errno 2] No
        # such file or directory" on every retry.
        # every file's problem at once, a line each (the loader reports them apart)
        problems: list[str] = []
        if isinstance(self.source, GeeSettings) and self.source.service_account_key is not None:
            try:
                key = resolve_path(self.source.service_account_key, info)
                self.source = self.source.model_copy(update={"service_account_key": key})
            except ValueError as exc:
                problems.append(f"source.service_account_key: {exc}")
        smtp = self.alerts.smtp
        if smtp is not None and smtp.ca_file is not None:
            try:
                ca_file = _ca_file(smtp.ca_file, info, "alerts.smtp.ca_file", "the SMTP server's")
                smtp = smtp.model_copy(update={"ca_file": ca_file})
            except ValueError as exc:
                problems.append(str(exc))
        hooks = _hooks_ca_files(self.alerts.webhooks, info, "alerts", problems)
        self.alerts = self.alerts.model_copy(update={"smtp": smtp, "webhooks": hooks})
        for i, region in enumerate(self.regions):
            targets = region.alerts
            if targets is not None and targets.webhooks:
                where = f"regions[{i}].alerts"
                hooks = _hooks_ca_files(targets.webhooks, info, where, problems)
                region.alerts = targets.model_copy(update={"webhooks": hooks})
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @model_validator(mode="after")
    def _fields_agree(self) -> MonitorConfig:
        """The checks that relate fields to each other, all of them: each problem is a line
        ``field: message`` of one error, which the loader reports apart, each on its line
        (found in a walkthrough: a region name used twice and two webhooks of one name took two
        more tries, one problem each)."""
        problems = self._region_name_problems()
        names = [region.name for region in self.regions]
        if len(set(names)) == len(names):  # alerts are routed by name: a repeated one would
            try:  # have its problems placed on the other region of that name (found in review)
                self.alert_routing()  # refuses e-mail without SMTP, clashing webhook names
            except ValueError as exc:
                problems.append(str(exc))
        problems += self._dem_override_problems()
        problems += self._detection_size_problems()
        problems += self._earth_engine_size_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _region_name_problems(self) -> list[str]:
        problems = []
        seen: dict[str, int] = {}  # by the name in lower case
        for i, region in enumerate(self.regions):
            first = seen.get(region.name.lower())
            if first is None:
                seen[region.name.lower()] = i
                continue
            # "regions[i].name: ..." is placed on that line by the loader
            other = self.regions[first].name
            if other == region.name:
                problems.append(
                    f"regions[{i}].name: region name {region.name!r} is used twice (first "
                    f"in regions[{first}])"
                )
                continue
            # a region's archive, quicklook and dataset folders are named after it: on a file
            # system that ignores case (macOS, Windows) the two would share them
            problems.append(
                f"regions[{i}].name: region name {region.name!r} differs from "
                f"{other!r} (regions[{first}]) only in case; their folders, named after "
                "them, would be one on a file system that ignores case: name them apart"
            )
        return problems

    def _dem_override_problems(self) -> list[str]:
        # An override is looked up by region name: a misspelt one would never be used.
        if not isinstance(self.source, GeeSettings):
            return []
        names = [region.name for region in self.regions]
        return [
            f"source.dem.overrides: no region is named {name!r} (regions: "
            f"{', '.join(names)}); an entry is used only by the region of its name"
            for name in self.source.dem.overrides
            if name not in names
        ]

    def _detection_size_problems(self) -> list[str]:
        # A region's stack is its polygon's bounding box on the grid: one smaller than the
        # trigger's area of change, or than its own smallest detection, ran `ok` every day and
        # could never report anything.
        problems = []
        for i, region in enumerate(self.regions):
            limits = [
                (region.min_area_m2, f"regions[{i}].min_area_m2", ", the smallest detection kept")
            ]
            if self.trigger.enabled:
                limits.append(
                    (
                        self.trigger.min_area_m2,
                        "trigger.min_area_m2",
                        " of change that runs the ensemble",
                    )
                )
            grid = region_grid(region.geometry)
            area_m2 = grid.area_km2 * 1e6
            limit, field, what = max(limits)  # the largest is the first to be missed
            if area_m2 < limit:
                problems.append(
                    f"regions[{i}].geometry: region {region.name!r} has a grid of "
                    f"{area_m2:,.0f} m² ({grid.width} x {grid.height} px of {grid.res:g} m: "
                    f"its polygon's bounding box), less than {field} = {limit:,.0f} m²{what}, "
                    "so it could never report a landslide: draw the polygon around the "
                    "slopes to watch (a landslide is only seen within its bounding box), or "
                    f"lower {field}"
                )
        return problems

    def _earth_engine_size_problems(self) -> list[str]:
        # The Earth Engine source fetches a region's whole grid (its polygon's bounding box) with
        # computePixels and refuses one above max_interactive_km2; found only when a run reached
        # the region, such a region failed every day's run.
        if not isinstance(self.source, GeeSettings):
            return []
        problems = []
        limit = self.source.max_interactive_km2
        for i, region in enumerate(self.regions):
            grid = region_grid(region.geometry)
            if grid.area_km2 > limit:
                problems.append(
                    f"regions[{i}].geometry: region {region.name!r} has a grid of "
                    f"{grid.area_km2:.0f} km² ({grid.width} x {grid.height} px of 10 m: its "
                    f"polygon's bounding box in {grid.crs}), more than "
                    f"source.max_interactive_km2 = {limit:g} that the Earth Engine source "
                    "fetches in a run; split the region (a MultiPolygon's far-apart parts "
                    "into regions of their own) or raise source.max_interactive_km2"
                )
        return problems

    def alert_routing(self) -> AlertRouting:
        """Which channels each region's alerts go to (see :mod:`monitor.alerts.settings`)."""
        try:
            base_url = self.quicklooks.base_url
            links = QuicklookLinks(str(base_url) if base_url else None, self.quicklooks.dir)
            regions = {r.name: r.alerts for r in self.regions}
            return AlertRouting.from_settings(self.alerts, regions, links)
        except AlertConfigError as exc:
            # "regions[2].alerts.webhooks[0].name: ..." is placed on that field's line
            if exc.field is None:
                raise ValueError(str(exc)) from None
            where = "alerts"
            index = next((i for i, r in enumerate(self.regions) if r.name == exc.region), None)
            if index is not None:
                where = f"regions[{index}].alerts"
            raise ValueError(f"{where}.{exc.field}: {exc.detail}") from None

    @property
    def path(self) -> Path | None:
        """The file this configuration was loaded from."""
        return self._path

    def region(self, name: str) -> RegionConfig:
        for region in self.regions:
            if region.name == name:
                return region
        names = [r.name for r in self.regions]
        where = f" in {self._path}" if self._path else ""
        # found in a survey's walk: `--region valtelina-north` listed all 15 regions, none
        # pointed out
        lowered = {n.lower(): n for n in names}
        meant = get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.75)
        hint = f" (did you mean {lowered[meant[0]]}?)" if meant else ""
        raise KeyError(f"no region named {name!r}{where}{hint}; regions: {', '.join(names)}")


def _ca_file(path: Path, info: ValidationInfo, field: str, whose: str) -> Path:
    """``path`` read from ``base_dir``, checked to hold a PEM certificate;
    :class:`ValueError` naming ``field`` otherwise."""
    try:
        ca_file = resolve_path(path, info)
    except ValueError as exc:  # a model validator's error names its field first
        raise ValueError(f"{field}: {exc}") from None
    try:
        ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        state = "does not exist" if not ca_file.exists() else f"cannot be read as PEM ({exc})"
        raise ValueError(
            f"{field}: {ca_file} {state}; give the PEM file of the CA that signed {whose} "
            "certificate (a relative path is read from base_dir, by default the configuration's "
            "folder), or leave ca_file out to trust the system's store"
        ) from None
    return ca_file


def _hooks_ca_files(
    hooks: list[WebhookSettings], info: ValidationInfo, where: str, problems: list[str]
) -> list[WebhookSettings]:
    """``hooks`` with each ``ca_file`` resolved and checked (:func:`_ca_file`); a problem is
    added to ``problems`` and its webhook kept as it was."""
    resolved = []
    for i, hook in enumerate(hooks):
        if hook.ca_file is not None:
            try:
                field, whose = f"{where}.webhooks[{i}].ca_file", f"the webhook {hook.name}'s"
                ca_file = _ca_file(hook.ca_file, info, field, whose)
                hook = hook.model_copy(update={"ca_file": ca_file})
            except ValueError as exc:
                problems.append(str(exc))
        resolved.append(hook)
    return resolved
