"""The whole configuration file: :class:`MonitorConfig`, one field per section.

Each section's model lives with its topic (:mod:`monitor.config.regions`,
:mod:`monitor.config.settings`, :mod:`monitor.config.operations`) or with the part it configures
(the trigger, the alerts, the Earth Engine source); this module only puts them together and
checks what spans sections: unique region names and the alert routing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator, model_validator

from monitor.alerts.payload import QuicklookLinks
from monitor.alerts.settings import AlertConfigError, AlertRouting, AlertSettings
from monitor.config._base import StrictModel
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
        seen: dict[str, int] = {}
        for i, region in enumerate(self.regions):
            if region.name in seen:
                # "regions[i].name: ..." is placed on that line by the loader
                raise ValueError(
                    f"regions[{i}].name: region name {region.name!r} is used twice (first in "
                    f"regions[{seen[region.name]}])"
                )
            seen[region.name] = i
        self.alert_routing()  # refuses e-mail without SMTP, clashing webhook names
        return self

    def alert_routing(self) -> AlertRouting:
        """Which channels each region's alerts go to (see :mod:`monitor.alerts.settings`)."""
        try:
            base_url = self.quicklooks.base_url
            links = QuicklookLinks(str(base_url) if base_url else None)
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
        known = ", ".join(r.name for r in self.regions)
        where = f" in {self._path}" if self._path else ""
        raise KeyError(f"no region named {name!r}{where}; regions: {known}")
