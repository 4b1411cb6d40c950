"""The monitor's configuration: one YAML file, validated with pydantic.

:func:`load_config` is the only way in. Every problem it finds is reported at once as a
:class:`ConfigError` whose lines name the file, the line, the field (``regions[1].geometry``)
and what is wrong; unknown fields are refused everywhere, so a typo never silently falls back
to a default.

Relative paths (the archive, region files, the manifest, the inventory, quicklooks) are resolved
against ``base_dir``, which defaults to the directory holding the configuration file; a relative
``base_dir`` is itself taken relative to that directory (the demo,
``monitor/examples/demo.yaml``, sets ``base_dir: ../..`` so that its paths read from the
repository root).

Outline (every block but ``regions`` is optional)::

    base_dir: ../..
    source: {type: archive, path: data/demo/archive}      # or {type: gee, ...}
    regions:
      - name: wayanad-hills
        geometry: {type: Polygon, coordinates: [...]}     # or a path: regions/wayanad.gpkg
        orbit_pass: descending
        windows: {mode: monitoring, pre_days: 60, post_days: 30}
        threshold: 0.6          # overrides the ensemble's calibrated threshold
        min_area_m2: 900
        masks: {min_slope_deg: 5, exclude_water: true, exclude_snow: true}
    model: {setting: auto}      # manifest: the bundled ensemble unless a path is given
    trigger: {...}
    inventory: {path: runs/demo/inventory.gpkg}
    quicklooks: {dir: runs/demo/quicklooks}
    alerts: {...}

The package, one module per concern (import from ``monitor.config``, which re-exports them):

* :mod:`monitor.config.regions`: the regions, their windows, masks and geometry;
* :mod:`monitor.config.settings`: the source, the model and its setting, inventory, quicklooks;
* :mod:`monitor.config.operations`: the schedule and Dask sections (what :mod:`monitor.ops`
  acts on; this package never imports :mod:`monitor.ops`);
* :mod:`monitor.config.file`: :class:`MonitorConfig`, the sections put together;
* ``_loading``: :func:`load_config` and :class:`ConfigError`; ``_base``: the strict model base
  and the path type.
"""

from monitor.config._loading import ConfigError, load_config
from monitor.config.file import MonitorConfig
from monitor.config.operations import DaskSettings, ScheduleSettings
from monitor.config.regions import (
    EventWindows,
    MaskSettings,
    MonitoringWindows,
    RegionConfig,
)
from monitor.config.settings import (
    DEFAULT_MANIFEST,
    ArchiveSourceConfig,
    DatasetSettings,
    InventorySettings,
    ModelSettings,
    QuicklookSettings,
    SourceConfig,
)

__all__ = [
    "DEFAULT_MANIFEST",
    "ArchiveSourceConfig",
    "ConfigError",
    "DaskSettings",
    "DatasetSettings",
    "EventWindows",
    "InventorySettings",
    "MaskSettings",
    "ModelSettings",
    "MonitorConfig",
    "MonitoringWindows",
    "QuicklookSettings",
    "RegionConfig",
    "ScheduleSettings",
    "SourceConfig",
    "load_config",
]
