"""Angular-based radiometric terrain flattening of Sentinel-1 GRD (Vollrath et al. 2020).

Vollrath, Mullissa & Reiche (2020), *Angular-based radiometric slope correction for Sentinel-1
on Google Earth Engine*, Remote Sensing 12(11):1867, section 2. Symbols as in the paper, with
the sign convention of ``monitor.sources.terrain_flattening`` (the archive's numpy version):

- θi   ellipsoid incidence angle (the GRD ``angle`` band);
- φi   azimuth from the ground towards the sensor: the aspect (downhill azimuth) of the
  ``angle`` band, which grows away from the sensor, averaged over the scene (section 2.1.1);
- αs, φs terrain slope and aspect (downhill azimuth, clockwise from north) from the DEM;
- φr = φi - φs, 0 on a slope that faces the sensor;
- αr = atan(tan αs · cos φr)   slope steepness in range (eq. 2), > 0 on foreslopes;
- αaz = atan(tan αs · sin φr)  slope steepness in azimuth (eq. 3);
- θlia = acos(cos αaz · cos(θi - αr))  local incidence angle (eq. 4);
- γ0 = σ0 / cos θi;
- volume model:  SCF = tan(90° - θi + αr) / tan(90° - θi);
- surface model: SCF = cos(90° - θi) / (cos αaz · cos(90° - θi + αr));
- γ0_flat = γ0 / SCF (SCF > 1 on the brightened foreslopes); with ``model="landcover"`` the
  volume model applies on vegetated ESA WorldCover classes and the surface model elsewhere
  (Ganerød et al.: "either a volumetric or a surface model, depending on the land cover type");
- layover where αr ≥ θi, shadow where αr ≤ -(90° - θi), optionally grown by a buffer.

The unit tests evaluate this graph with numpy and compare it with the archive's functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import ee

from models.worldcover import VEGETATED

__all__ = [
    "SIGN_CHECK_BANDS",
    "TERRAIN_MODELS",
    "flatten",
    "geometry_angles",
    "layover_shadow",
    "look_direction",
    "scf_surface",
    "scf_volume",
    "sign_check_image",
]

_DEG = math.pi / 180.0


def _ninety() -> ee.Image:
    return ee.Image.constant(90.0 * _DEG)


def scf_volume(theta_i: ee.Image, alpha_r: ee.Image) -> ee.Image:
    """Volume-scattering slope-correction factor (eq. 5); angles in radians."""
    return _ninety().subtract(theta_i).add(alpha_r).tan().divide(_ninety().subtract(theta_i).tan())


def scf_surface(theta_i: ee.Image, alpha_r: ee.Image, alpha_az: ee.Image) -> ee.Image:
    """Surface-scattering slope-correction factor (eq. 6); angles in radians."""
    return (
        _ninety()
        .subtract(theta_i)
        .cos()
        .divide(alpha_az.cos().multiply(_ninety().subtract(theta_i).add(alpha_r).cos()))
    )


def vegetated(landcover: ee.Image) -> ee.Image:
    """1 where ``landcover`` is one of :data:`models.worldcover.VEGETATED` (the classes where
    the volume model applies, shared with the archive source), else 0."""
    out = landcover.eq(VEGETATED[0])
    for code in VEGETATED[1:]:
        out = out.Or(landcover.eq(code))
    return out


def scf_by_landcover(
    theta_i: ee.Image, alpha_r: ee.Image, alpha_az: ee.Image, landcover: ee.Image
) -> ee.Image:
    """Volume SCF on vegetated pixels, surface SCF elsewhere."""
    surface = scf_surface(theta_i, alpha_r, alpha_az)
    return scf_volume(theta_i, alpha_r).where(vegetated(landcover).Not(), surface)


TERRAIN_MODELS = {
    "volume": lambda theta_i, alpha_r, alpha_az, landcover: scf_volume(theta_i, alpha_r),
    "surface": lambda theta_i, alpha_r, alpha_az, landcover: scf_surface(
        theta_i, alpha_r, alpha_az
    ),
    "landcover": scf_by_landcover,
}


def look_direction(angle: ee.Image, geometry: ee.Geometry) -> ee.Number:
    """φi in degrees, (-180, 180]: mean aspect of the incidence-angle band over the scene
    footprint ``geometry`` at 1 km (Vollrath et al. 2020, section 2.1.1; 0 if undefined). The
    angle grows away from the sensor, so its downhill azimuth points at the sensor."""
    stats = ee.Dictionary(ee.Terrain.aspect(angle).reduceRegion(ee.Reducer.mean(), geometry, 1000))
    heading = ee.Number(stats.combine({"aspect": 0}, False).get("aspect"))
    return ee.Number(ee.Algorithms.If(heading.gt(180), heading.subtract(360), heading))


def geometry_angles(
    theta_i: ee.Image, heading_deg: ee.Number, elevation: ee.Image
) -> tuple[ee.Image, ee.Image, ee.Image]:
    """(αr, αaz, θlia) in radians from θi (radians), the heading φi (degrees) and the DEM
    (eqs. 2-4)."""
    alpha_s = ee.Terrain.slope(elevation).select("slope").multiply(_DEG)
    aspect = ee.Terrain.aspect(elevation).select("aspect")
    phi_r = ee.Image.constant(heading_deg).subtract(aspect).multiply(_DEG)
    alpha_r = alpha_s.tan().multiply(phi_r.cos()).atan()
    alpha_az = alpha_s.tan().multiply(phi_r.sin()).atan()
    theta_lia = alpha_az.cos().multiply(theta_i.subtract(alpha_r).cos()).acos()
    return alpha_r, alpha_az, theta_lia


def layover_shadow(
    theta_i: ee.Image, alpha_r: ee.Image, buffer_m: float = 0.0
) -> tuple[ee.Image, ee.Image]:
    """Layover (αr ≥ θi) and shadow (αr ≤ -(90° - θi)) as 0/1 images, grown by ``buffer_m``."""
    layover = alpha_r.gte(theta_i)
    shadow = alpha_r.lte(_ninety().subtract(theta_i).multiply(-1))
    if buffer_m > 0:
        kernel = ee.Kernel.circle(buffer_m, "meters")
        layover = layover.focalMax(kernel=kernel)
        shadow = shadow.focalMax(kernel=kernel)
    return layover.rename("layover"), shadow.rename("shadow")


@dataclass(frozen=True)
class _Terms:
    """The per-pixel terms of the flattening of one scene (radians, linear power)."""

    gamma0: ee.Image
    scf: ee.Image
    alpha_r: ee.Image
    theta_lia: ee.Image
    layover: ee.Image
    shadow: ee.Image


def _terms(
    image: ee.Image,
    elevation: ee.Image,
    model: str,
    buffer_m: float,
    polarisations: tuple[str, ...],
    landcover: ee.Image | None,
    footprint: ee.Geometry | None,
) -> _Terms:
    if model not in TERRAIN_MODELS:
        raise ValueError(f"unknown terrain model {model!r}; known: {', '.join(TERRAIN_MODELS)}")
    if model == "landcover" and landcover is None:
        raise ValueError("terrain model 'landcover' needs the land-cover image")
    angle = image.select("angle")
    theta_i = angle.multiply(_DEG)
    # The DEM on the radar image's grid (Vollrath et al.: bilinear, 10 m).
    dem = elevation.reproject(image.select(polarisations[0]).projection(), None, 10)
    heading = look_direction(angle, image.geometry() if footprint is None else footprint)
    alpha_r, alpha_az, theta_lia = geometry_angles(theta_i, heading, dem)
    scf = TERRAIN_MODELS[model](theta_i, alpha_r, alpha_az, landcover)
    gamma0 = image.select(list(polarisations)).divide(theta_i.cos())
    layover, shadow = layover_shadow(theta_i, alpha_r, buffer_m)
    return _Terms(gamma0, scf, alpha_r, theta_lia, layover, shadow)


def flatten(
    image: ee.Image,
    elevation: ee.Image,
    *,
    model: str = "volume",
    buffer_m: float = 0.0,
    polarisations: tuple[str, ...] = ("VV", "VH"),
    landcover: ee.Image | None = None,
    footprint: ee.Geometry | None = None,
) -> ee.Image:
    """Terrain-flattened γ0 (linear) of ``polarisations`` of a linear-σ0 GRD ``image`` that has an
    ``angle`` band, masked where layover or shadow, plus ``layover``, ``shadow`` (0/1) and
    ``liaDeg``. ``model`` is ``"volume"``, ``"surface"`` or ``"landcover"`` (which needs the
    WorldCover ``landcover`` image). ``footprint``: the raw scene's geometry, over which the
    heading is reduced (as gee_s1_ard does; the footprint of a derived image can be unbounded,
    so the reduction would not be); ``image.geometry()`` when not given. ``elevation`` is
    reprojected onto the radar grid as it comes: interpolate it beforehand
    (:func:`gee_scripts.context.dem_image` resamples it bilinearly, per image)."""
    t = _terms(image, elevation, model, buffer_m, polarisations, landcover, footprint)
    valid = t.layover.Or(t.shadow).Not().And(t.scf.gt(0))
    flat = t.gamma0.divide(t.scf).updateMask(valid).rename(list(polarisations))
    lia = t.theta_lia.divide(_DEG).rename("liaDeg")
    return ee.Image(
        flat.addBands(t.layover)
        .addBands(t.shadow)
        .addBands(lia)
        .copyProperties(image, ["system:time_start"])
    )


SIGN_CHECK_BANDS: tuple[str, ...] = ("gamma0_db", "flat_db", "alpha_r_deg", "layover")


def sign_check_image(
    image: ee.Image,
    elevation: ee.Image,
    *,
    model: str = "volume",
    landcover: ee.Image | None = None,
    footprint: ee.Geometry | None = None,
) -> ee.Image:
    """What the sign check of ``landslide-monitor gee check`` needs of one linear-σ0 scene, with
    the same terms as :func:`flatten` (VV): γ0 before (``gamma0_db``) and after flattening
    (``flat_db``, masked in layover/shadow), the range slope αr in degrees (> 0: facing the
    sensor) and the layover mask, bands :data:`SIGN_CHECK_BANDS`."""
    t = _terms(image, elevation, model, 0.0, ("VV",), landcover, footprint)
    valid = t.layover.Or(t.shadow).Not().And(t.scf.gt(0))
    layers = (
        t.gamma0.log10().multiply(10),
        t.gamma0.divide(t.scf).updateMask(valid).log10().multiply(10),
        t.alpha_r.divide(_DEG),
        t.layover,
    )
    named = [layer.rename(name) for layer, name in zip(layers, SIGN_CHECK_BANDS, strict=True)]
    # The last operation is a rename of all bands, which the stand-in server relies on.
    return ee.Image.cat(*named).rename(list(SIGN_CHECK_BANDS))
