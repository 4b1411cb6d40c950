"""``landslide-monitor gee check``: one small tile per region through the whole Earth Engine path,
for a person with an account to see, before the first daily run, that the numbers are right.

For each region it reports, for a ``tile_px`` x ``tile_px`` tile at the centre of the region's
grid (default 128 px, 1.28 km):

1. the asset of each static band, resolved by latitude (:mod:`gee_scripts.coverage`), or why
   the region is refused;
2. the feature stack of the tile (:meth:`GeeSource.features`): each model band's valid fraction
   and the data status;
3. the requests made (``computeValue``, ``computePixels``) and the time they took;
4. the sign check of terrain flattening on the first Sentinel-1 scene of the post window (the
   pre window if the post window has none): slopes facing the sensor (range slope αr >= 5°)
   must be brighter than slopes facing away before flattening (the data's own geometry confirms
   the heading), darker after flattening (the slope correction factor is above 1 there), the
   contrast between them smaller after flattening, and layover must lie on slopes facing the
   sensor and be bright. Too little relief (fewer than :data:`MIN_SLOPE_PX` pixels on either
   side) skips the check rather than passing it.

Offline, the tests run it against the stand-in server (:class:`gee_scripts.offline.ArrayServer`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
from shapely.geometry import box

from gee_scripts import fetch
from gee_scripts.assembly import sign_check_scene
from gee_scripts.coverage import AssetCoverageError, ResolvedAssets
from gee_scripts.terrain_flattening import SIGN_CHECK_BANDS
from models.feature_stack import MODEL_BANDS, NDVI_VARIABLES, StackAttrs
from monitor.grid import Grid, box_to_lon_lat, region_grid
from monitor.ops._args import add_config, check_regions, iso_date
from monitor.sources.base import AreaOfInterest, DataUnavailable, Window, pass_words
from monitor.sources.gee import GeeSource, gee_window, grid_transform

if TYPE_CHECKING:
    from monitor.config import MonitorConfig, RegionConfig

__all__ = [
    "MIN_SLOPE_PX",
    "SLOPE_DEG",
    "RegionCheck",
    "SignCheck",
    "check_region",
    "cli_configure",
    "cli_run",
    "evaluate_sign",
    "format_report",
    "run_check",
    "tile_area",
]

SLOPE_DEG = 5.0  # |αr| from which a pixel counts as facing the sensor, or facing away
MIN_SLOPE_PX = 50  # fewer pixels on either side: not enough relief to check the sign
STACK_FRACTION_BANDS: tuple[str, ...] = (*MODEL_BANDS, *NDVI_VARIABLES)


# --------------------------------------------------------------------------- the sign check


@dataclass(frozen=True)
class SignCheck:
    """The terrain-flattening sign check of one scene (dB medians; ``passed`` None: skipped)."""

    passed: bool | None
    window: str
    facing_px: int
    away_px: int
    facing_before_db: float = float("nan")
    facing_after_db: float = float("nan")
    away_before_db: float = float("nan")
    away_after_db: float = float("nan")
    layover_px: int = 0
    layover_facing_px: int = 0
    layover_db: float = float("nan")
    tile_db: float = float("nan")
    failures: tuple[str, ...] = ()
    skipped: str = ""  # why, where not for too little relief

    def lines(self) -> list[str]:
        verdict = {True: "PASS", False: "FAIL", None: "SKIPPED"}[self.passed]
        out = [f"terrain flattening sign check ({self.window}, VV): {verdict}"]
        if self.passed is None and self.skipped:
            out.append(f"  {self.skipped}")
        elif self.passed is None:
            out.append(
                f"  not enough relief: {self.facing_px} px facing the sensor and {self.away_px} "
                f"facing away (|αr| >= {SLOPE_DEG:g}°; {MIN_SLOPE_PX} needed on each side)"
            )
            return out
        out += [
            f"  slopes facing the sensor (αr >= {SLOPE_DEG:g}°, {self.facing_px} px): γ0 "
            f"{self.facing_before_db:.1f} dB before, {self.facing_after_db:.1f} dB after "
            f"flattening ({self.facing_after_db - self.facing_before_db:+.1f} dB)",
            f"  slopes facing away (αr <= -{SLOPE_DEG:g}°, {self.away_px} px): γ0 "
            f"{self.away_before_db:.1f} dB before, {self.away_after_db:.1f} dB after "
            f"({self.away_after_db - self.away_before_db:+.1f} dB)",
            f"  contrast facing - away: {self.facing_before_db - self.away_before_db:+.1f} dB "
            f"before, {self.facing_after_db - self.away_after_db:+.1f} dB after",
        ]
        if self.layover_px:
            out.append(
                f"  layover: {self.layover_px} px, {self.layover_facing_px} on slopes facing the "
                f"sensor, median γ0 {self.layover_db:.1f} dB (tile median {self.tile_db:.1f} dB)"
            )
        else:
            out.append("  layover: none in the tile")
        out += [f"  failed: {f}" for f in self.failures]
        return out


def _median(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def evaluate_sign(bands: dict[str, np.ndarray], window: str) -> SignCheck:
    """The sign check on the bands of :func:`gee_scripts.terrain_flattening.sign_check_image`
    (``gamma0_db``, ``flat_db``, ``alpha_r_deg``, ``layover``). Medians, so speckle does not
    decide; a criterion whose median is NaN fails."""
    before, after = bands["gamma0_db"], bands["flat_db"]
    alpha_r, layover = bands["alpha_r_deg"], bands["layover"] == 1
    valid = np.isfinite(before) & np.isfinite(alpha_r)
    with np.errstate(invalid="ignore"):
        facing = valid & (alpha_r >= SLOPE_DEG)
        away = valid & (alpha_r <= -SLOPE_DEG)
    n_facing, n_away = int(facing.sum()), int(away.sum())
    if n_facing < MIN_SLOPE_PX or n_away < MIN_SLOPE_PX:
        return SignCheck(None, window, n_facing, n_away)
    flattened = np.isfinite(after)
    result = SignCheck(
        passed=None,
        window=window,
        facing_px=n_facing,
        away_px=n_away,
        facing_before_db=_median(before[facing & flattened]),
        facing_after_db=_median(after[facing & flattened]),
        away_before_db=_median(before[away & flattened]),
        away_after_db=_median(after[away & flattened]),
        layover_px=int((layover & valid).sum()),
        layover_facing_px=int((layover & facing).sum()),
        layover_db=_median(before[layover & valid]),
        tile_db=_median(before[valid]),
    )
    r = result
    contrast_before = r.facing_before_db - r.away_before_db
    contrast_after = r.facing_after_db - r.away_after_db
    failures = []
    if not contrast_before > 0:
        failures.append(
            "slopes facing the sensor are not brighter than those facing away before "
            "flattening: the heading (look direction) is wrong"
        )
    if not r.facing_after_db < r.facing_before_db:
        failures.append("slopes facing the sensor are not darker after flattening")
    if not r.away_after_db > r.away_before_db:
        failures.append("slopes facing away are not brighter after flattening")
    if not abs(contrast_after) < abs(contrast_before):
        failures.append("flattening does not reduce the contrast between the two slope sides")
    if r.layover_px and r.layover_facing_px < r.layover_px:
        failures.append(f"{r.layover_px - r.layover_facing_px} layover px on slopes facing away")
    if r.layover_px and not r.layover_db > r.tile_db:
        failures.append("layover is not brighter than the tile's median")
    return replace(r, passed=not failures, failures=tuple(failures))


# --------------------------------------------------------------------------- one region


@dataclass
class RegionCheck:
    """What ``gee check`` found for one region's tile."""

    region: str
    tile: str
    pre: str = ""
    post: str = ""
    assets: ResolvedAssets | None = None
    error: str = ""
    valid_fraction: dict[str, float] = field(default_factory=dict)
    status: str = ""
    requests: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    sign: SignCheck | None = None

    @property
    def ok(self) -> bool:
        return not self.error and (self.sign is None or self.sign.passed is not False)

    def lines(self) -> list[str]:
        out = [f"region {self.region}: {self.tile}"]
        if self.pre:
            out.append(f"  windows: pre {self.pre}, post {self.post}")
        if self.assets is not None:
            out.append("  assets:")
            out += [f"    {line}" for line in self.assets.lines()]
        if self.valid_fraction:
            out.append("  valid fraction per band:")
            names = list(self.valid_fraction)
            for i in range(0, len(names), 5):
                row = ", ".join(f"{n} {self.valid_fraction[n]:.2f}" for n in names[i : i + 5])
                out.append(f"    {row}")
        if self.status:
            out.append(f"  data status: {self.status}")
        if self.requests:
            counts = ", ".join(f"{n} {k}" for k, n in self.requests.items())
            out.append(f"  requests: {counts}; {self.seconds:.1f} s")
        if self.sign is not None:
            out += [f"  {line}" for line in self.sign.lines()]
        if self.error:
            out.append(f"  error: {self.error}")
        return out


def tile_area(region: AreaOfInterest, tile_px: int) -> tuple[AreaOfInterest, Grid]:
    """The region's central ``tile_px`` x ``tile_px`` window (clipped to its grid) as an area of
    its own, and that window's grid (the tile polygon is inset by 0.5 m so that the snapped grid
    of the tile is exactly the window)."""
    grid = region_grid(region.geometry)
    height, width = min(tile_px, grid.height), min(tile_px, grid.width)
    row0, col0 = (grid.height - height) // 2, (grid.width - width) // 2
    x0, y0 = grid.x0 + col0 * grid.res, grid.y0 - row0 * grid.res
    inset = 0.5
    window = box(
        x0 + inset, y0 - height * grid.res + inset, x0 + width * grid.res - inset, y0 - inset
    )
    polygon = box_to_lon_lat(window, grid.crs)
    area = AreaOfInterest(region.name, polygon, region.orbit_pass)
    return area, region_grid(polygon)


def _sign_check(
    source: GeeSource,
    area: AreaOfInterest,
    grid: Grid,
    pre: Window,
    post: Window,
    attrs: StackAttrs,
    assets: ResolvedAssets,
) -> SignCheck:
    """Fetch :func:`sign_check_image` of the first S1 scene of the post (else pre) window; the
    scene dates are the stack's (``attrs``), so availability is not asked twice."""
    if attrs.s1_dates_post:
        label, window = "first post-window scene", post
    elif attrs.s1_dates_pre:
        label, window = "first pre-window scene", pre
    else:  # said, not left out: a report without the line read as a check passed
        why = f"no {pass_words(area.orbit_pass)}Sentinel-1 scene in either window"
        return SignCheck(None, "no scene", 0, 0, skipped=why)
    settings = source.settings
    image = sign_check_scene(
        GeeSource.geometry_of(grid),
        gee_window(window),
        orbit_pass=area.orbit_pass,
        settings=settings,
        assets=assets,
    )
    bands = fetch.fetch_bands(
        image,
        SIGN_CHECK_BANDS,
        crs=grid.crs,
        transform=grid_transform(grid),
        shape=grid.shape,
        chunk_px=settings.chunk_px,
        max_workers=settings.max_workers,
        retry=source.backoff,
        progress=False,
        label=f"{area.name} sign check",
    )
    return evaluate_sign(bands, label)


def check_region(
    source: GeeSource, region: AreaOfInterest, pre: Window, post: Window, tile_px: int = 128
) -> RegionCheck:
    """Run the check on ``region``'s central tile (see the module); never raises for a problem
    of the region: it is reported in :attr:`RegionCheck.error`."""
    area, grid = tile_area(region, tile_px)
    c, f = grid.x0, grid.y0
    result = RegionCheck(
        region=region.name,
        tile=f"{grid.width}x{grid.height} px at the centre of its grid ({grid.crs}, upper left "
        f"x {c:.0f} m, y {f:.0f} m)",
        pre=str(pre),
        post=str(post),
    )
    started = time.perf_counter()
    with fetch.counted_requests() as counts:
        try:
            result.assets = assets = source.assets(area)
            stack = source.features(area, pre, post)
            result.valid_fraction = {
                name: float(np.isfinite(stack[name].values).mean()) for name in STACK_FRACTION_BANDS
            }
            attrs = StackAttrs.of(stack)
            result.status = attrs.status
            result.sign = _sign_check(source, area, grid, pre, post, attrs, assets)
        except (AssetCoverageError, DataUnavailable) as exc:
            result.error = str(exc)
        except Exception as exc:  # reported per region; the other regions are still checked
            result.error = f"{type(exc).__name__}: {exc}"
    result.requests = dict(counts)
    result.seconds = time.perf_counter() - started
    return result


def run_check(
    config: MonitorConfig,
    source: GeeSource,
    run_date: date,
    regions: Sequence[str] | None = None,
    tile_px: int = 128,
) -> list[RegionCheck]:
    """:func:`check_region` for the configuration's regions (or those named)."""
    selected: list[RegionConfig] = (
        [config.region(n) for n in regions] if regions else list(config.regions)
    )
    checks = []
    for region in selected:
        try:
            pre, post = region.windows.windows_for(run_date)
        except ValueError as exc:
            checks.append(RegionCheck(region=region.name, tile="not checked", error=str(exc)))
            continue
        checks.append(check_region(source, region.area, pre, post, tile_px))
    return checks


def format_report(checks: Sequence[RegionCheck], run_date: date) -> str:
    """The report ``gee check`` prints."""
    lines = [f"Earth Engine check for {run_date}: {len(checks)} region(s)"]
    for check in checks:
        lines += check.lines()
    failed = [c.region for c in checks if not c.ok]
    lines.append(
        f"{len(checks) - len(failed)} of {len(checks)} region(s) passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- the command line


def cli_configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="fetch one small tile per region and report assets, valid fractions, requests, "
        "time and the terrain-flattening sign check (needs an Earth Engine account)",
    )
    add_config(check)
    check.add_argument(
        "--region", "-r", action="append", default=None, metavar="NAME", help="repeatable"
    )
    check.add_argument(
        "--date",
        type=iso_date,
        default=None,
        help="run date, YYYY-MM-DD (default: today in schedule.timezone, UTC unless set)",
    )
    check.add_argument(
        "--tile-px", type=int, default=128, help="edge of the checked tile in pixels (default 128)"
    )


def cli_run(args: argparse.Namespace) -> int:
    from monitor.config import load_config
    from monitor.errors import EXIT_FAILED, EXIT_OK, BadInput
    from monitor.run_inputs import check_not_future

    config = load_config(args.config)
    if config.source.type != "gee":
        raise BadInput(
            f"{args.config}: source.type is {config.source.type!r}; gee check needs a "
            "'source: {type: gee, ...}' block"
        )
    if not 16 <= args.tile_px <= 1024:
        raise BadInput(f"--tile-px must be between 16 and 1024, got {args.tile_px}")
    check_regions(config, args.region)
    run_date = args.date or config.schedule.today()
    # a date no run could serve, refused before Earth Engine is connected to (and retried)
    check_not_future(run_date, timezone=config.schedule.timezone)
    source = GeeSource(config.source, progress=False)  # initialises ee with the credentials
    checks = run_check(config, source, run_date, args.region, args.tile_px)
    print(format_report(checks, run_date))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAILED
