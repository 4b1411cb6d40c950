"""Labels for training from dated landslide inventories: readers of polygon inventories and of
the NASA Global Landslide Catalog (:mod:`monitor.labels.inventories`), label rasters with an
ignore value, tiles around items and event-keeping splits (:mod:`monitor.labels.rasterise`).
Pure functions of files and geometries; ``landslide-monitor dataset`` (:mod:`monitor.ops.dataset`)
puts them together with a source."""

from monitor.labels.inventories import (
    GLC_ACCURACY_M,
    GLC_NOT_LANDSLIDES,
    GLC_REQUIRED_COLUMNS,
    InventoryFileError,
    LabelItems,
    ReviewRole,
    accuracy_limit,
    read_glc_csv,
    read_inventory,
    read_polygon_inventory,
)
from monitor.labels.rasterise import (
    DEFAULT_FRACTIONS,
    SPLIT_NAMES,
    PointLabels,
    assign_splits,
    crosses_antimeridian,
    label_raster,
    point_label_areas,
    subpixel,
    tile_around,
)

__all__ = [
    "DEFAULT_FRACTIONS",
    "GLC_ACCURACY_M",
    "GLC_NOT_LANDSLIDES",
    "GLC_REQUIRED_COLUMNS",
    "SPLIT_NAMES",
    "InventoryFileError",
    "LabelItems",
    "PointLabels",
    "ReviewRole",
    "accuracy_limit",
    "assign_splits",
    "crosses_antimeridian",
    "label_raster",
    "point_label_areas",
    "read_glc_csv",
    "read_inventory",
    "read_polygon_inventory",
    "subpixel",
    "tile_around",
]
