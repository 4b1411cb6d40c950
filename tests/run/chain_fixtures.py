"""A small hillside-and-plain stack built in code for the detection chain's tests: on the east
half a forested slope of 25 degrees falling to the south carries a landslide scar elongated down
the fall line (4 x 25 pixels); on the flat cropland of the west half lies a square clear-cut
(10 x 10 pixels) of the same area, the same dNDVI and the same radar change."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine

from models.feature_stack import MODEL_BANDS, StackAttrs

H, W, RES = 120, 160, 10.0
CRS = "EPSG:32633"
TRANSFORM = Affine(RES, 0.0, 500_000.0, 0.0, -RES, 5_000_000.0)
SLOPE_DEG = 25.0


@dataclass
class HillAndPlain:
    stack: xr.Dataset
    scar: np.ndarray  # (H, W) bool
    clear_cut: np.ndarray

    def bands(self) -> np.ndarray:
        """The 15 model bands (Ganerød et al. layout)."""
        return np.stack([self.stack[b].values for b in MODEL_BANDS]).astype(np.float32)

    def prediction(self) -> xr.Dataset:
        """An ensemble's output that is equally sure of both changes."""
        change = self.scar | self.clear_cut
        layers = {
            "probability": np.where(change, 0.95, 0.02),
            "spread": np.where(change, 0.03, 0.01),
            "agreement": np.where(change, 1.0, 0.0),
        }
        return xr.Dataset(
            {k: (("y", "x"), v.astype(np.float32)) for k, v in layers.items()},
            coords={"y": self.stack["y"], "x": self.stack["x"]},
            attrs={"threshold": 0.5, "setting": "S1+S2", "members": "stand-in"},
        )


def hill_and_plain() -> HillAndPlain:
    rows, cols = np.indices((H, W))
    hill = cols >= 80
    elevation = np.where(hill, 1500.0 - rows * RES * np.tan(np.radians(SLOPE_DEG)), 300.0)
    scar = hill & (cols >= 118) & (cols < 122) & (rows >= 40) & (rows < 65)
    clear_cut = ~hill & (cols >= 30) & (cols < 40) & (rows >= 50) & (rows < 60)
    change = scar | clear_cut
    full = np.full((H, W), 1.0)
    bands = {
        "preVV": -8.0 * full,
        "postVV": np.where(change, -10.0, -8.0),
        "preVH": -14.0 * full,
        "postVH": np.where(change, -16.5, -14.0),
        "layover": 0.0 * full,
        "shadow": 0.0 * full,
        "liaDeg": 38.0 * full,
        "elevation": elevation,
        "slope": np.where(hill, SLOPE_DEG, 0.5),
        "kg_climate": 15.0 * full,
        "canopy_height": np.where(hill, 18.0, 0.5),
        "landcover": np.where(hill, 10.0, 40.0),  # WorldCover tree / cropland
        # stable ground changes a little between two composites: never exactly 0, which reads
        # as a fill (detect --stack warns of one on 5 % of a stack)
        "dNDVI": np.where(change, -0.45, 0.01),
    }
    bands["dVV"] = bands["postVV"] - bands["preVV"]
    bands["dVH"] = bands["postVH"] - bands["preVH"]
    data = {b: (("y", "x"), np.asarray(bands[b], np.float32)) for b in MODEL_BANDS}
    ones = np.ones((H, W), np.float32)
    data |= {
        "preNDVI": (("y", "x"), 0.8 * ones),
        "postNDVI": (("y", "x"), np.where(change, 0.3, 0.8).astype(np.float32)),
        "s2_clear_pre": (("y", "x"), ones),
        "s2_clear_post": (("y", "x"), ones),
        "s1_count_pre": (("y", "x"), ones),
        "s1_count_post": (("y", "x"), ones),
    }
    x = TRANSFORM.c + RES * (np.arange(W) + 0.5)
    y = TRANSFORM.f - RES * (np.arange(H) + 0.5)
    attrs = StackAttrs(
        region="hill", source="test", pre_window="", post_window="", orbit_pass=""
    ).as_attrs()
    stack = xr.Dataset(data, coords={"y": y, "x": x}, attrs=attrs)
    stack = stack.rio.write_crs(CRS).rio.write_transform(TRANSFORM)
    return HillAndPlain(stack, scar, clear_cut)
