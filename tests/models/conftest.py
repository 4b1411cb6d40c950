"""Fixtures of the model tests: small synthetic scenes with a learnable landslide signal."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from affine import Affine
from rasterio.crs import CRS

from models.datasets import Scene


def make_scene(seed: int, size: int = 96, n_slides: int = 3, nan_corner: bool = True) -> Scene:
    """15 noise bands; landslides are boxes with a dNDVI drop and a dVV rise on steep slope."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(15, size, size)).astype(np.float32)
    label = np.zeros((size, size), np.uint8)
    for _ in range(n_slides):
        r, c = rng.integers(8, size - 8, 2)
        label[r - 4 : r + 4, c - 3 : c + 5] = 1
    image[14] = 0.05 * image[14] - 0.5 * label  # dNDVI
    image[2] += 2.0 * label  # dVV
    image[10] = 20.0 + image[10]  # slope, degrees
    if nan_corner:
        image[:, :4, :4] = np.nan
    transform = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
    return Scene(f"scene{seed}", image, label, CRS.from_epsg(32633), transform)


@pytest.fixture
def scene_factory() -> Callable[..., Scene]:
    return make_scene


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """One torch thread: on the shared 2-core machine it is many times faster than two."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
