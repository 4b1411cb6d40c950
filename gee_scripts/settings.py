"""The ``source: {type: gee, ...}`` block of a monitor configuration.

Only plain settings live here (no Earth Engine import), so that the configuration schema can
embed :class:`GeeSettings` cheaply. Secrets never live in YAML: the service-account key is a
*file* named by a path or by an environment variable, and a value that looks like key material
is refused with an error naming the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from models.feature_stack import S1_INCIDENCE_RANGE_DEG

__all__ = [
    "NODATA",
    "PIECE_PATTERN",
    "AssetIds",
    "CloudMaskSettings",
    "DemSettings",
    "ExportSettings",
    "GeeSettings",
    "RetrySettings",
    "S1Settings",
    "check_destination",
    "holds_key_material",
    "project_problem",
]

CloudMaskMethod = Literal["cloud_score_plus", "s2cloudless"]
DemChoice = Literal["auto", "srtm", "copernicus_glo30"]
TerrainModel = Literal["landcover", "volume", "surface"]
SpeckleFilter = Literal["none", "boxcar", "lee"]
ExportTarget = Literal["cloud_storage", "drive"]

#: What a batch export writes for masked pixels, declared as the GeoTIFF's no-data value (read it
#: back as NaN).
NODATA = -9999.0
#: Earth Engine splits a large GeoTIFF into ``<prefix>-<row offset>-<column offset>.tif``, each
#: offset ten digits (pixels): the end of a piece's name, as a regular expression. Here, not in
#: :mod:`gee_scripts.export`, so that reading exports back needs no Earth Engine import.
PIECE_PATTERN = r"-\d{10}-\d{10}\.tif"

_SECRET_MARKERS = ("-----BEGIN", '"private_key"', "private_key_id")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # the whole name (fullmatch)


# 200 characters or more of the base64 alphabets and nothing else (no dot, no space): a key
# base64-encoded, as some CI systems hand keys over (a service-account key's JSON is some 3000
# characters encoded, its PEM block some 2200); no path of a key file looks like that
_ENCODED = re.compile(r"[A-Za-z0-9+/=_-]{200,}")
# the longest value of a *_env field an error repeats: a project ID (30 characters at most) or
# a path written there by mistake; a longer one may be a key
_SHOWN_MAX = 100


def holds_key_material(text: str) -> bool:
    """True for text that holds a key (a PEM block, a service-account key's JSON, either
    base64-encoded) where a name or a path was expected: an error must not repeat it."""
    return any(marker in text for marker in _SECRET_MARKERS) or bool(
        _ENCODED.fullmatch(text.strip())
    )


# A Cloud project's ID (6-30 lowercase letters, digits and hyphens, a letter first, no hyphen
# last; a legacy one behind its domain, "example.com:my-project") or its number.
_PROJECT = re.compile(r"(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}")


def project_problem(value: str) -> str | None:
    """What makes ``value`` no Cloud project ID or number, or None where it is one (found in a
    walkthrough: a key file's path given as the project passed every check before the first
    request, which failed on it)."""
    if _PROJECT.fullmatch(value):
        return None
    shown = repr(value) if len(value) <= _SHOWN_MAX else f"({len(value)} characters)"
    hint = " (a file's path: the key goes in service_account_key)" if "/" in value else ""
    return (
        f"{shown} is not a Cloud project ID{hint}: 6-30 lowercase letters, digits and "
        "hyphens, starting with a letter (as the Cloud console's project picker shows it), or "
        "the project's number"
    )


class _Strict(BaseModel):
    # inf or NaN in a timeout overflowed a socket's (found in a config audit)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CloudMaskSettings(_Strict):
    """Sentinel-2 cloud and shadow masking.

    ``cloud_score_plus`` (default) keeps a pixel when its Cloud Score+ ``cs_cdf`` is at least
    ``cs_cdf_threshold`` (Google's recommended 0.60: higher is stricter; the score covers cloud
    shadow too). ``s2cloudless`` keeps a pixel when the s2cloudless probability is at most
    ``cloud_probability`` (percent) and it is not in the projected shadow of a cloud (dark NIR
    within ``shadow_projection_m`` of a cloud, cast along the mean solar azimuth).
    """

    method: CloudMaskMethod = "cloud_score_plus"
    cs_cdf_threshold: float = Field(0.60, ge=0.0, le=1.0)
    cloud_probability: int = Field(50, ge=0, le=100)
    dark_nir_threshold: float = Field(0.15, gt=0.0, lt=1.0)
    shadow_projection_m: float = Field(1500.0, ge=0.0)
    cloud_buffer_m: float = Field(50.0, ge=0.0)


class DemSettings(_Strict):
    """Terrain model: ``auto`` (default) takes SRTM 30 m (Ganerød et al.) where it covers the
    region (56° S to 60° N) and Copernicus GLO-30 elsewhere; ``srtm`` or ``copernicus_glo30``
    force one (a region the forced DEM does not cover is refused, naming band, asset and
    region). Per-region overrides: an ``ee.Image`` asset ID with the elevation in metres in its
    first band, e.g. a national 10 m DEM for Iceland or Norway as in Ganerød et al."""

    source: DemChoice = "auto"
    overrides: dict[str, str] = Field(default_factory=dict)  # region name -> image asset ID


class S1Settings(_Strict):
    """Sentinel-1 GRD pre-processing (Vollrath et al. 2020 terrain flattening).

    ``terrain_model``: ``landcover`` (default, as Ganerød et al.: the volume model on vegetated
    ESA WorldCover classes, the surface model elsewhere), or ``volume``/``surface`` everywhere.
    """

    terrain_model: TerrainModel = "landcover"
    speckle_filter: SpeckleFilter = "none"
    speckle_kernel_px: int = Field(5, ge=3, le=15)
    layover_shadow_buffer_m: float = Field(0.0, ge=0.0)
    # Incidence-angle range that is kept: the swath edges carry border noise
    min_incidence_deg: float = Field(S1_INCIDENCE_RANGE_DEG[0], ge=0.0, le=90.0)
    max_incidence_deg: float = Field(S1_INCIDENCE_RANGE_DEG[1], ge=0.0, le=90.0)
    edge_db_threshold: float = -30.0  # GRD border noise is below this (dB)

    @model_validator(mode="after")
    def _angles_ordered(self) -> S1Settings:
        if self.max_incidence_deg <= self.min_incidence_deg:
            raise ValueError(
                f"s1.max_incidence_deg ({self.max_incidence_deg}) must exceed "
                f"s1.min_incidence_deg ({self.min_incidence_deg})"
            )
        if self.speckle_kernel_px % 2 == 0:
            raise ValueError(f"s1.speckle_kernel_px must be odd, got {self.speckle_kernel_px}")
        return self


# per asset field: the collection the graphs cannot read, why, and the one to use
_UNREADABLE_COLLECTIONS: dict[str, tuple[str, str, str]] = {
    "s1": (
        "COPERNICUS/S1_GRD",
        "holds sigma0 in dB; the Sentinel-1 graphs (border-noise mask, terrain flattening, "
        "speckle filter) take linear power",
        "COPERNICUS/S1_GRD_FLOAT",
    ),
    "s2": (
        "COPERNICUS/S2_SR",
        "keeps the BOA_ADD_OFFSET (+1000 DN) of scenes processed with baseline 04.00 or later "
        "(from 25 January 2022), so its reflectances jump by 0.1 across that date",
        "COPERNICUS/S2_SR_HARMONIZED, which removes it",
    ),
}


class AssetIds(_Strict):
    """Earth Engine asset IDs; override when a catalogue entry moves or a mirror is used.

    ``s1`` must hold σ0 as linear power (``COPERNICUS/S1_GRD_FLOAT``, as gee_s1_ard uses).
    Canopy height (Potapov et al. 2021) comes in two products: ``canopy_height`` (GEDI-calibrated,
    52° S to 52° N) and ``canopy_height_boreal`` (the boreal extension north of 52° N); a region
    takes the one(s) covering it (:mod:`gee_scripts.coverage`). ``null`` leaves a band without an
    asset: it is NaN, the stack's status names the cause and no setting that needs the band is
    chosen. ``kg_climate`` has no entry in the public catalogue: upload the Köppen-Geiger
    1986-2010 map (Rubel & Kottek, 5 arc minutes, as in Ganerød et al. Table 2) as an image asset
    with the class code in its first band and name it here.
    """

    s2: str = "COPERNICUS/S2_SR_HARMONIZED"
    cloud_score_plus: str = "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED"
    s2_cloud_probability: str = "COPERNICUS/S2_CLOUD_PROBABILITY"
    s1: str = "COPERNICUS/S1_GRD_FLOAT"
    srtm: str = "USGS/SRTMGL1_003"
    copernicus_dem: str = "COPERNICUS/DEM/GLO30_2024_1"
    worldcover: str = "ESA/WorldCover/v200"
    canopy_height: str | None = "users/potapovpeter/GEDI_V27"
    canopy_height_boreal: str | None = "users/potapovpeter/GEDI_V25_Boreal"
    kg_climate: str | None = None

    @field_validator("s1", "s2")
    @classmethod
    def _readable_collection(cls, value: str, info: ValidationInfo) -> str:
        # the catalogue's best-known entries the graphs cannot read: Sentinel-1 in dB (the edge
        # mask's threshold and the terrain flattening take linear power: every scene came back
        # NaN), Sentinel-2 with the offset of baseline 04.00 kept (a jump across its date)
        wrong, why, use = _UNREADABLE_COLLECTIONS[str(info.field_name)]
        if value.strip("/").endswith(wrong):
            raise ValueError(f"{value} {why}: use {use}")
        return value


class ExportSettings(_Strict):
    """Where batch exports go for regions too large to fetch interactively."""

    target: ExportTarget = "cloud_storage"
    bucket: str | None = None
    drive_folder: str = "landslide-monitor"
    prefix: str = "landslide-monitor"


def check_destination(settings: ExportSettings) -> None:
    """ValueError, naming the field and what to do, when ``settings`` name no place for the
    file (Cloud Storage, the default target, without a bucket)."""
    if settings.target == "cloud_storage" and not settings.bucket:
        raise ValueError(
            "source.export.bucket is required for target cloud_storage (the default): name the "
            "Cloud Storage bucket the GeoTIFFs go to, or set source.export.target: drive"
        )


class RetrySettings(_Strict):
    """The one retry layer (:mod:`gee_scripts.retry`): backoff for quota, concurrency and
    transient server errors, limited retries of computations that timed out, and deadlines."""

    attempts: int = Field(6, ge=1, le=20)
    initial_delay_s: float = Field(1.0, gt=0.0, le=3600.0)
    max_delay_s: float = Field(60.0, gt=0.0, le=3600.0)
    # "Computation timed out." (the service's 5-minute limit): retried this often only.
    computation_timeout_retries: int = Field(1, ge=0, le=5)
    # Per HTTP request; a little over the service's 5-minute limit for interactive requests, so
    # that a long computation ends with the server's own message rather than a socket timeout.
    request_timeout_s: float = Field(320.0, gt=0.0, le=3600.0)
    # All attempts of one call together, and all tiles of one region's fetch together.
    total_timeout_s: float = Field(900.0, gt=0.0, le=86400.0)

    @model_validator(mode="after")
    def _delays_in_order(self) -> RetrySettings:
        # the backoff doubles from initial_delay_s up to max_delay_s: a cap below the start
        # would silently make every wait the cap
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError(
                f"max_delay_s ({self.max_delay_s:g} s) is below initial_delay_s "
                f"({self.initial_delay_s:g} s): the waits double from the first up to the cap"
            )
        return self


class GeeSettings(_Strict):
    """The ``source`` block for Earth Engine (``type: gee``).

    Credentials, in this order: ``service_account_key`` (a path to a JSON key file), the file
    named by the environment variable ``service_account_key_env``, otherwise Google
    application-default credentials (``gcloud auth application-default login``, or the
    workload identity of the machine). ``project`` may come from ``project_env`` instead.
    """

    type: Literal["gee"] = "gee"
    project: str | None = None
    project_env: str = "EE_PROJECT"
    service_account_key: Path | None = None
    service_account_key_env: str = "EE_SERVICE_ACCOUNT_KEY"
    cloud_mask: CloudMaskSettings = CloudMaskSettings()
    dem: DemSettings = DemSettings()
    s1: S1Settings = S1Settings()
    assets: AssetIds = AssetIds()
    export: ExportSettings = ExportSettings()
    retry: RetrySettings = RetrySettings()
    # Tile edge of a computePixels request carrying all 36 bands: 36 x 512² x 5 B = 45 MiB,
    # under Earth Engine's 48 MiB (gee_scripts.fetch.MAX_CHUNK_PX = 528; a test holds them
    # together).
    chunk_px: int = Field(512, ge=16, le=528)
    max_workers: int = Field(4, ge=1, le=32)  # parallel computePixels requests
    max_interactive_km2: float = Field(400.0, gt=0.0)  # larger regions go through export()
    # Earth Engine's high-volume endpoint is for many small requests without aggregation; it
    # caches less, so each tile here (all composites recomputed) would cost more EECU-time. The
    # standard endpoint is the default for this aggregation-heavy workload (docs/earth_engine.md).
    high_volume_endpoint: bool = False
    # Days after an event region's post window closes before its detections are taken as final
    # and reused by later runs (monitor.run_reuse): the catalogue lists a scene only once it is
    # ingested (Sentinel-1 GRD within two days of its publication, the catalogue says), and a
    # scene ingested late changes the composite of a closed window.
    event_settle_days: int = Field(10, ge=0, le=365)

    @field_validator(
        "project", "service_account_key", "project_env", "service_account_key_env", mode="before"
    )
    @classmethod
    def _no_secret(cls, value: object, info: object) -> object:
        if isinstance(value, str) and holds_key_material(value):
            name = getattr(info, "field_name", "value")
            raise ValueError(
                f"source.{name} looks like key material; put the key in a file and give its "
                "path (or the environment variable naming it), never the key itself"
            )
        return value

    @field_validator("project", mode="before")
    @classmethod
    def _a_number_is_text(cls, value: object) -> object:
        # a project's number written unquoted is a YAML integer (found in a review: it was
        # "Input should be a valid string")
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("project")
    @classmethod
    def _a_project(cls, value: str | None) -> str | None:
        if value is not None and (problem := project_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("project_env", "service_account_key_env")
    @classmethod
    def _a_variable_s_name(cls, value: str, info: ValidationInfo) -> str:
        # a name that is no variable's was looked up, found unset and skipped: the run went on
        # with application-default credentials or the key's own project, silently
        if not _ENV_NAME.fullmatch(value):
            given = {
                "project_env": ("the project", "project"),
                "service_account_key_env": ("the key file's path", "service_account_key"),
            }[str(info.field_name)]
            # a project ID or a path is shown, for the user to see what went where; a key
            # (the key material validator let through only what holds no marker) is not
            shown = (
                f"{value!r} is not"
                if len(value) <= _SHOWN_MAX and not holds_key_material(value)
                else f"the value given ({len(value)} characters, not repeated here) is not"
            )
            raise ValueError(
                f"{shown} an environment variable name (ASCII letters, digits and '_', not "
                f"starting with a digit): give {given[0]} itself as source.{given[1]}, or here "
                "the name of the variable that holds it"
            )
        return value
