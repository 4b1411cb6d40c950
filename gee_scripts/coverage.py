"""Which asset serves each static band of a region, checked against the assets' extents before
the first request for the region (no Earth Engine call; this module does not import ``ee``).

A global asset that does not cover a region does not fail: it serves masked pixels, and the
band comes back entirely NaN (SRTM north of 60° N; the GEDI-calibrated canopy height north of
52° N; terrain flattening on a NaN DEM then empties VV, VH, dVV, dVH and liaDeg too). So every
band is resolved here, by latitude, to an asset that covers the region (:func:`resolve_assets`),
or refused with :class:`AssetCoverageError` naming the band, the asset and the region:

=============  =====================================  ===========================================
band           asset (``source.assets``)               covers
=============  =====================================  ===========================================
elevation      ``srtm`` USGS/SRTMGL1_003               56° S to 60° N
elevation      ``copernicus_dem``                      global
               COPERNICUS/DEM/GLO30_2024_1
canopy_height  ``canopy_height``                       52° S to 52° N (GEDI's orbit)
               users/potapovpeter/GEDI_V27
canopy_height  ``canopy_height_boreal``                52° N northwards (no northern limit is
               users/potapovpeter/GEDI_V25_Boreal      stated: "prototype data above 52° N")
landcover      ``worldcover`` ESA/WorldCover/v200      60° S to 84° N
kg_climate     ``kg_climate`` (your upload)            not known here
=============  =====================================  ===========================================

An asset the table does not list (a per-region DEM override, your own upload, a mirror) is taken
as configured: its extent is not known before the fetch, and a band that comes back entirely NaN
is still recorded in the stack's status (:func:`monitor.sources.base.data_status`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gee_scripts.settings import GeeSettings

__all__ = [
    "KNOWN_EXTENTS",
    "AssetCoverageError",
    "Extent",
    "ResolvedAssets",
    "ResolvedBand",
    "latitude_text",
    "resolve_assets",
]


@dataclass(frozen=True)
class Extent:
    """The latitudes an asset has data for (degrees, south negative) and where that is stated."""

    south: float
    north: float
    source: str

    def covers(self, south: float, north: float) -> bool:
        return self.south <= south and north <= self.north

    def overlaps(self, south: float, north: float) -> bool:
        return self.south < north and south < self.north

    def __str__(self) -> str:
        return f"{latitude_text(self.south)} to {latitude_text(self.north)}"


KNOWN_EXTENTS: dict[str, Extent] = {
    "USGS/SRTMGL1_003": Extent(-56.0, 60.0, "Earth Engine catalogue: SRTM, 60° N to 56° S"),
    "COPERNICUS/DEM/GLO30_2024_1": Extent(-90.0, 90.0, "Earth Engine catalogue: global"),
    "COPERNICUS/DEM/GLO30": Extent(-90.0, 90.0, "Earth Engine catalogue (deprecated ID)"),
    "users/potapovpeter/GEDI_V27": Extent(
        -52.0, 52.0, "Potapov et al. 2021: GEDI measures between 52° N and 52° S"
    ),
    "users/potapovpeter/GEDI_V25_Boreal": Extent(
        52.0, 90.0, "Potapov et al. 2021: prototype (boreal) map above 52° N"
    ),
    "ESA/WorldCover/v200": Extent(-60.0, 84.0, "ESA WorldCover: 60° S to 84° N"),
}


def latitude_text(lat: float) -> str:
    """``65.0° N`` / ``12.5° S`` / ``0.0°``."""
    if lat == 0:
        return "0.0°"
    return f"{abs(lat):.1f}° {'N' if lat > 0 else 'S'}"


class AssetCoverageError(ValueError):
    """No configured asset covers a region for a band (the message names band, asset, region)."""


@dataclass(frozen=True)
class ResolvedBand:
    """The asset(s) serving one band: ``assets`` empty when none is configured (the band is
    masked); ``kind`` the DEM kind (``srtm``, ``copernicus_glo30``, ``override``), else empty;
    ``checked`` whether the extent was known and checked; ``note`` why, in words."""

    band: str
    assets: tuple[str, ...]
    note: str
    checked: bool
    kind: str = ""

    @property
    def empty_cause(self) -> str:
        """Why the band would come back empty: the missing asset, or the assets that had no
        data (for the stack's status)."""
        if not self.assets:
            return self.note
        return f"no data from {' + '.join(self.assets)} over the region"


@dataclass(frozen=True)
class ResolvedAssets:
    """The assets of one region's static bands (see the module)."""

    region: str
    south: float
    north: float
    elevation: ResolvedBand
    canopy_height: ResolvedBand
    landcover: ResolvedBand
    kg_climate: ResolvedBand

    def bands(self) -> tuple[ResolvedBand, ...]:
        return (self.elevation, self.canopy_height, self.landcover, self.kg_climate)

    def empty_causes(self) -> dict[str, str]:
        """Band name -> why it would be empty, for :func:`monitor.sources.base.data_status`."""
        return {b.band: b.empty_cause for b in self.bands()}

    def lines(self) -> list[str]:
        """One line per band, for reports."""
        return [f"{b.band}: {' + '.join(b.assets) or 'none'} ({b.note})" for b in self.bands()]


def _span(region: str, south: float, north: float) -> str:
    return f"region {region} ({latitude_text(south)} to {latitude_text(north)})"


def _single(
    band: str, field: str, asset: str | None, region: str, south: float, north: float
) -> ResolvedBand:
    """A band served by one asset of the table, or unknown to it, or not configured."""
    if asset is None:
        return ResolvedBand(band, (), f"no asset configured: source.assets.{field} is null", True)
    extent = KNOWN_EXTENTS.get(asset)
    if extent is None:
        return ResolvedBand(band, (asset,), "extent not known before the fetch", False)
    if not extent.covers(south, north):
        raise AssetCoverageError(
            f"band {band}: asset {asset} (source.assets.{field}) covers {extent}, not "
            f"{_span(region, south, north)}; name an asset that covers it in "
            f"source.assets.{field}"
        )
    return ResolvedBand(band, (asset,), f"covers {extent}", True)


def _elevation(settings: GeeSettings, region: str, south: float, north: float) -> ResolvedBand:
    override = settings.dem.overrides.get(region)
    if override:
        return ResolvedBand(
            "elevation", (override,), "source.dem.overrides entry of the region", False, "override"
        )
    a = settings.assets
    choices = {"srtm": a.srtm, "copernicus_glo30": a.copernicus_dem}
    auto = settings.dem.source == "auto"
    wanted = ["srtm", "copernicus_glo30"] if auto else [settings.dem.source]
    tried: list[str] = []
    for kind in wanted:
        asset = choices[kind]
        extent = KNOWN_EXTENTS.get(asset)
        if extent is None:
            return ResolvedBand(
                "elevation", (asset,), "extent not known before the fetch", False, kind
            )
        if extent.covers(south, north):
            why = f"covers {extent}"
            if tried:
                why += f"; {'; '.join(tried)}"
            return ResolvedBand("elevation", (asset,), why, True, kind)
        tried.append(f"{asset} covers only {extent}")
    raise AssetCoverageError(
        f"band elevation: {'; '.join(tried)}, not {_span(region, south, north)}; set "
        "source.dem.source to auto, or add a source.dem.overrides entry for the region"
    )


def _canopy(settings: GeeSettings, region: str, south: float, north: float) -> ResolvedBand:
    a = settings.assets
    products = [
        (field, asset)
        for field, asset in (
            ("canopy_height", a.canopy_height),
            ("canopy_height_boreal", a.canopy_height_boreal),
        )
        if asset is not None
    ]
    if not products:
        return ResolvedBand(
            "canopy_height",
            (),
            "no asset configured: source.assets.canopy_height and canopy_height_boreal are null",
            True,
        )
    unknown = [asset for _, asset in products if asset not in KNOWN_EXTENTS]
    used = [
        (asset, KNOWN_EXTENTS[asset])
        for _, asset in products
        if asset in KNOWN_EXTENTS and KNOWN_EXTENTS[asset].overlaps(south, north)
    ]
    if unknown:
        # An upload or mirror whose extent the table does not know may fill any gap: keep it
        # with every known product that overlaps the region (the graph mosaics them all).
        known = " and ".join(f"{asset} covers {extent}" for asset, extent in used)
        note = "; ".join(filter(None, [known, f"{', '.join(unknown)}: extent not known"]))
        return ResolvedBand("canopy_height", (*(asset for asset, _ in used), *unknown), note, False)
    low = min((e.south for _, e in used), default=north)
    high = max((e.north for _, e in used), default=south)
    # The products of the table meet at 52° N, so overlapping extents cover their union.
    if not used or low > south or high < north:
        named = "; ".join(
            f"{asset} (source.assets.{field}) covers {KNOWN_EXTENTS[asset]}"
            for field, asset in products
        )
        raise AssetCoverageError(
            f"band canopy_height: {named}, not {_span(region, south, north)}; name an asset that "
            "covers it in source.assets.canopy_height, or set source.assets.canopy_height and "
            "canopy_height_boreal to null to go without (the band is then NaN and the 'all' "
            "setting is not used)"
        )
    if len(used) == 1:
        note = f"covers {used[0][1]}"
    else:
        note = " and ".join(f"{asset} covers {extent}" for asset, extent in used)
    return ResolvedBand("canopy_height", tuple(asset for asset, _ in used), note, True)


def resolve_assets(
    region: str, bounds: tuple[float, float, float, float], settings: GeeSettings
) -> ResolvedAssets:
    """The assets serving ``region`` (lon/lat ``bounds``: west, south, east, north), or
    :class:`AssetCoverageError` naming the band, the asset and the region."""
    _, south, _, north = bounds
    a = settings.assets
    return ResolvedAssets(
        region=region,
        south=south,
        north=north,
        elevation=_elevation(settings, region, south, north),
        canopy_height=_canopy(settings, region, south, north),
        landcover=_single("landcover", "worldcover", a.worldcover, region, south, north),
        kg_climate=_single("kg_climate", "kg_climate", a.kg_climate, region, south, north),
    )
