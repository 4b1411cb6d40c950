"""The trigger: a cheap change test that decides whether a region's ensemble runs at all.

Two signals, each summed as an area on the region's grid (docs/DESIGN.md, step 3):

* strong vegetation loss on sloping ground: ``dNDVI <= dndvi_max`` where ``slope >= min_slope_deg``
  (fresh landslide scars strip vegetation; Ganerød et al. use dNDVI as their strongest optical
  change feature);
* backscatter change: ``|dVV| >= backscatter_db`` or ``|dVH| >= backscatter_db`` (Orynbaikyzy et
  al.: pre/post SAR differences carry the landslide signal where clouds hide the optical one).
  The radar differences are median-filtered over 3×3 pixels first so that residual speckle of the
  composites does not add area.

The region is triggered when either area reaches ``min_area_m2``. The statistics are recorded for
every region and run, whether or not it triggered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from models.feature_stack import optical_clear, radar_valid

__all__ = ["TriggerResult", "TriggerSettings", "evaluate_trigger"]


class TriggerSettings(BaseModel):
    """The ``trigger:`` block of the configuration (global)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool = Field(True, description="false runs the ensemble on every region and day")
    dndvi_max: float = Field(-0.15, le=0, description="vegetation loss: dNDVI at or below this")
    min_slope_deg: float = Field(10.0, ge=0, lt=90, description="slope for the vegetation test")
    backscatter_db: float = Field(3.0, gt=0, description="|dVV| or |dVH| at or above this, dB")
    min_area_m2: float = Field(2000.0, ge=0, description="area of change that triggers")


@dataclass(frozen=True)
class TriggerResult:
    """What the trigger saw in one region (areas in m², fractions of the region's pixels)."""

    triggered: bool
    vegetation_loss_m2: float
    backscatter_change_m2: float
    optical_clear_fraction: float  # pixels with a clear observation in both windows
    radar_valid_fraction: float  # pixels with a radar observation in both windows

    def as_dict(self) -> dict[str, float | bool]:
        return asdict(self)


def _fraction(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def evaluate_trigger(stack: xr.Dataset, settings: TriggerSettings) -> TriggerResult:
    """Run the change test on ``stack``; ``triggered`` is always true when the trigger is off."""
    res_x, res_y = stack.rio.resolution()
    pixel_area = abs(res_x * res_y)

    dndvi = stack["dNDVI"].values
    slope = stack["slope"].values
    with np.errstate(invalid="ignore"):
        veg_loss = (dndvi <= settings.dndvi_max) & (slope >= settings.min_slope_deg)
    vegetation_loss_m2 = float(veg_loss.sum()) * pixel_area

    change = np.zeros(dndvi.shape, dtype=bool)
    for band in ("dVV", "dVH"):
        values = stack[band].values
        valid = np.isfinite(values)
        smoothed = ndimage.median_filter(np.where(valid, values, 0.0), size=3, mode="nearest")
        with np.errstate(invalid="ignore"):
            change |= valid & (np.abs(smoothed) >= settings.backscatter_db)
    backscatter_change_m2 = float(change.sum()) * pixel_area

    triggered = (not settings.enabled) or max(
        vegetation_loss_m2, backscatter_change_m2
    ) >= settings.min_area_m2
    return TriggerResult(
        triggered=bool(triggered),
        vegetation_loss_m2=vegetation_loss_m2,
        backscatter_change_m2=backscatter_change_m2,
        optical_clear_fraction=_fraction(optical_clear(stack)),
        radar_valid_fraction=_fraction(radar_valid(stack)),
    )
