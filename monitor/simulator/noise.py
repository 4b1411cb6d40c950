"""Spatially coherent random fields (spectral synthesis), the texture of terrain and clouds."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft

__all__ = ["fractal_field"]


@lru_cache(maxsize=16)
def _wavenumber(shape: tuple[int, int]) -> np.ndarray:
    ky = fft.fftfreq(shape[0]).astype(np.float32)[:, None]
    kx = fft.rfftfreq(shape[1]).astype(np.float32)[None, :]
    return np.sqrt(kx * kx + ky * ky)


def fractal_field(
    rng: np.random.Generator,
    shape: tuple[int, int],
    beta: float = 3.0,
    outer_scale_px: float = 512.0,
    inner_scale_px: float = 0.0,
) -> np.ndarray:
    """A zero-mean, unit-variance float32 field with power spectrum ``(k + 1/outer)^-beta``
    (beta 2: rough, 4: smooth), optionally smoothed below ``inner_scale_px``. Periodic in both
    axes, so it may be rolled without seams."""
    white = rng.standard_normal(shape, dtype=np.float32)
    spectrum = fft.rfft2(white)
    k = _wavenumber(shape)
    amplitude = (k + np.float32(1.0 / outer_scale_px)) ** np.float32(-beta / 2.0)
    if inner_scale_px > 0:
        amplitude = amplitude * np.exp(-((k * np.float32(inner_scale_px)) ** 2))
    amplitude[0, 0] = 0.0
    field = fft.irfft2(spectrum * amplitude, s=shape).astype(np.float32)
    std = float(field.std())
    return field / std if std > 0 else field
