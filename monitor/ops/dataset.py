"""``landslide-monitor dataset``: training scenes from real labels.

``dataset export --config F --inventory FILE --out DIR`` turns a dated inventory (polygons, or
the Global Landslide Catalog's points; :mod:`monitor.labels`) into scenes: for every item, the
event-mode feature stack around its date (``dataset.pre_days`` before the date,
``dataset.post_days`` after it, the day itself in neither window, as ``windows: {mode: event}``)
over a tile of ``dataset.tile_m`` around it, through the configured source, and its label raster
(1 landslide, 0 background, 255 ignore): every item of the same date in the tile, polygons as
positives, points as weak labels (positive core, ignored out to their accuracy, never negative).
Besides this event view (``dataset.views``, ``--views``), each item gives by default one
monitoring view per lag of :data:`monitor.simulator.scene_windows.MONITORING_LAGS_DAYS`: the
windows and composites of a daily run that many days after its date (its region's monitoring
windows, or the defaults), labelled by the same rules, id ``<event id>_monitoring<lag>d``, in
the item's split group; the views the daily run shows the ensemble, as its simulated training
sets hold them. A view (event or monitoring) with no acquisition after the item's date is
skipped. The rest of a scene is background (0) as for a complete inventory; with
``dataset.export_known_within_m`` (``--export-known-within-m``), for one that maps only some of
its area's landslides, background only within that distance of an item and ignored beyond.

``dataset from-reviews --config F --out DIR`` builds scenes from the review of the inventory:
one per region and run date with reviewed landslides, on the windows of that run; confirmed
polygons are positives, dismissed ones hard negatives (0 over their area), unreviewed candidates
and a margin of ``dataset.ignore_buffer_m`` around them ignored, background 0 within
``dataset.known_within_m`` of a reviewed landslide and ignored beyond
(:mod:`monitor.ops._dataset_reviews`).

Both write the Ganerød et al. layout ``models`` reads, one folder per split
(``DIR/<split>/input/<id>_input.tif``, ``label/<id>_label.tif``) with a provenance record per
scene (``provenance/<id>.json``: source, windows, acquisition dates, assets, inventory item,
label counts) and ``DIR/dataset.json``. Splits keep each event (``dataset.split_by: event``) or
each region (``region``) whole (:func:`monitor.labels.assign_splits`), never splitting pixels or
tiles of one event; ``export`` also keeps together, whatever their dates, the scenes on shared
ground or within ``dataset.split_buffer_m`` (default: a tile side) of each other.
Resumable: a scene whose provenance record exists is not fetched again (the record is written
last, every file atomically), nor one whose group moved to another split (its files move).
Scenes of an earlier run that this one does not make (an item removed from the inventory, or
made by the other command) are listed, and deleted with ``--prune`` (never by a run that made
no scene); a run that makes no scene exits with status 1.
On Earth Engine, a tile of more ``computePixels`` requests than ``--max-requests`` is exported
as a batch task instead
(:mod:`gee_scripts.dataset_export`; docs/earth_engine.md has the request arithmetic), its label
written at once; ``dataset ingest --out DIR --from FOLDER`` later turns the downloaded GeoTIFFs
into the scenes' inputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import rioxarray  # noqa: F401  (registers the .rio accessor)
from pydantic import ValidationError

from models.atomic import out_problem
from models.datasets import DATASET_RECORD_FILE
from monitor.config import ArchiveSourceConfig, DatasetSettings, MonitorConfig
from monitor.errors import BadInput, interrupt_on_signals
from monitor.labels import GLC_NOT_LANDSLIDES
from monitor.ops._args import add_config, positive_int
from monitor.ops._dataset_batch import ingest_exports
from monitor.ops._dataset_core import DatasetReport, SceneJob, event_windows
from monitor.ops._dataset_inventory import inventory_jobs
from monitor.ops._dataset_reviews import review_jobs, write_reviewed_candidates
from monitor.ops._dataset_write import write_jobs
from monitor.simulator.scene_windows import MONITORING_LAGS_DAYS
from monitor.sources.base import Source

__all__ = [
    "DatasetReport",
    "SceneJob",
    "cli_configure",
    "cli_run",
    "event_windows",
    "export_inventory",
    "ingest_exports",
    "scenes_from_reviews",
]


def export_inventory(
    config: MonitorConfig,
    inventory: Path,
    out: Path,
    *,
    settings: DatasetSettings | None = None,
    source: Source | None = None,
    progress: bool = True,
    max_requests: int = 16,
    prune: bool = False,
) -> DatasetReport:
    """``dataset export``: the inventory's scenes through ``source`` (default: the configured
    one) into ``out`` (``prune``: delete the scenes there that this export does not make). An
    ``out`` among other files the project reads is refused (:func:`_check_out`)."""
    from monitor.run_inputs import RESOURCES

    _check_out(Path(out), config)
    settings = settings or config.dataset
    source = source or RESOURCES.source(config.source)
    jobs, skipped, described = inventory_jobs(
        config, inventory, settings, needs_region=source.name == "archive"
    )
    report = write_jobs(
        jobs,
        source,
        out,
        progress=progress,
        max_requests=max_requests,
        prune=prune,
        dataset_record={
            "command": "export",
            "inventory": described,
            "settings": settings.model_dump(mode="json"),
            "inventory_skipped": skipped,
        },
    )
    report.skipped = {**skipped, **report.skipped}
    joining = described["split_groups"]
    report.joined = (settings.split_by, joining["groups"], joining["after_joining"])
    return report


def scenes_from_reviews(
    config: MonitorConfig,
    out: Path,
    *,
    settings: DatasetSettings | None = None,
    source: Source | None = None,
    progress: bool = True,
    prune: bool = False,
) -> DatasetReport:
    """``dataset from-reviews``: scenes of the reviewed landslides into ``out`` (train and val
    only: the held-out reviewed scenes choose K and the threshold in ``models finetune``). An
    ``out`` among other files the project reads is refused (:func:`_check_out`)."""
    from monitor.run_inputs import RESOURCES

    _check_out(Path(out), config)
    settings = settings or config.dataset
    source = source or RESOURCES.source(config.source)
    jobs, skipped = review_jobs(config, settings)
    fractions = {"train": 0.7, "val": 0.3}
    report = write_jobs(
        jobs,
        source,
        out,
        fractions=fractions,
        progress=progress,
        prune=prune,
        dataset_record={
            "command": "from-reviews",
            "inventory": str(config.inventory.path.resolve()),
            "settings": settings.model_dump(mode="json"),
        },
    )
    report.skipped = {**skipped, **report.skipped}
    report.logged = write_reviewed_candidates(config, jobs, out, report.groups, fractions)
    return report


# --------------------------------------------------------------------------- CLI


_SPLIT_BY_HELP = (
    "what one split holds whole: an event (the catalog's event_id, or a polygon's date in its "
    "region) or a region "
    "(default: dataset.split_by, event)"
)


def cli_configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export", help="scenes of a dated inventory (polygons or Global Landslide Catalog CSV)"
    )
    add_config(export)
    export.add_argument("--inventory", type=Path, required=True, help="the inventory file")
    export.add_argument("--out", type=Path, required=True, help="the dataset folder")
    export.add_argument("--date-column", help="date column of a polygon inventory")
    export.add_argument(
        "--date-format",
        help="its form where it is text other than ISO 8601 or YYYYMMDD (e.g. %%d/%%m/%%Y); "
        "none: the configuration's dataset.date_format is not used",
    )
    export.add_argument("--id-column", help="id column of a polygon inventory (default: row)")
    export.add_argument("--layer", help="the layer of a GeoPackage of several")
    export.add_argument(
        "--tile-m", type=float, help="tile side in metres (default: dataset.tile_m, 2560)"
    )
    export.add_argument(
        "--max-accuracy",
        help="coarsest catalog accuracy kept (default: dataset.max_accuracy, 1km)",
    )
    export.add_argument(
        "--skip-categories",
        help="catalog landslide_category values skipped and counted, comma-separated, or none "
        f"to keep every row (default: dataset.skip_categories, {','.join(GLC_NOT_LANDSLIDES)})",
    )
    export.add_argument("--split-by", choices=("event", "region"), help=_SPLIT_BY_HELP)
    export.add_argument(
        "--split-buffer-m",
        type=float,
        help="scenes closer than this, in metres, share a split whatever their dates, as do "
        "scenes on shared ground (default: dataset.split_buffer_m, else --tile-m)",
    )
    export.add_argument(
        "--views",
        help="the scenes of each item, comma-separated: event (the event windows, greenest "
        "pixel and median), monitoring (what daily runs "
        f"{', '.join(map(str, MONITORING_LAGS_DAYS))} days after its date compare) (default: "
        "dataset.views, event,monitoring)",
    )
    export.add_argument(
        "--export-known-within-m",
        type=_metres_or_none,
        metavar="METRES|none",
        help="for an inventory that maps some of its area's landslides: background known only "
        "this close to an item, the rest ignored (default: dataset.export_known_within_m, none: "
        "the inventory is complete, every other pixel is background)",
    )
    export.add_argument(
        "--max-requests",
        type=positive_int,
        default=16,
        help="Earth Engine: computePixels requests per tile before a batch export is used "
        "(default: 16)",
    )
    export.add_argument(
        "--prune",
        action="store_true",
        help="delete the folder's scenes this run does not make (of any command)",
    )
    ingest = actions.add_parser(
        "ingest", help="the downloaded GeoTIFFs of Earth Engine batch exports into their scenes"
    )
    ingest.add_argument("--out", type=Path, required=True, help="the dataset folder")
    ingest.add_argument(
        "--from", dest="downloads", type=Path, required=True, help="folder of <scene id>.tif"
    )
    reviews = actions.add_parser(
        "from-reviews", help="scenes of the confirmed and dismissed landslides of the inventory"
    )
    add_config(reviews)
    reviews.add_argument("--out", type=Path, required=True, help="the dataset folder")
    reviews.add_argument(
        "--split-by",
        choices=("event", "region"),
        help="split by run date and region (event) or by region (default: dataset.split_by, "
        "event); one group never spans two splits, so one reviewed run fills train/ only",
    )
    reviews.add_argument(
        "--ignore-buffer-m",
        type=float,
        help="ignored margin around unreviewed candidates, in metres (default 50)",
    )
    reviews.add_argument(
        "--known-within-m",
        type=_metres_or_none,
        metavar="METRES|none",
        help="background known only this close to a reviewed landslide (default 100); none: "
        "the whole scene is background but for the unreviewed candidates",
    )
    reviews.add_argument(
        "--prune",
        action="store_true",
        help="delete the folder's scenes this run does not make (of any command)",
    )


# the dataset settings the command line sets, each as ``--<name with dashes>``
_OPTIONS = (
    "date_column",
    "date_format",
    "id_column",
    "layer",
    "tile_m",
    "max_accuracy",
    "skip_categories",
    "split_by",
    "split_buffer_m",
    "views",
    "ignore_buffer_m",
    "known_within_m",
    "export_known_within_m",
)


_NONE = "none"  # --known-within-m none: the setting's null


def _metres_or_none(text: str) -> float | str:
    """A distance in metres, or ``none`` (``null`` too) for the setting's null."""
    if text.strip().lower() in (_NONE, "null"):
        return _NONE
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither metres nor none") from None


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def _settings(config: MonitorConfig, args: argparse.Namespace) -> DatasetSettings:
    """The configuration's ``dataset:`` section with the command line's options over it; a bad
    value is refused naming its option."""
    overrides = {
        key: getattr(args, key, None) for key in _OPTIONS if getattr(args, key, None) is not None
    }
    # that option's null (a layer may be "none"; a date format never is: it has directives)
    for key in ("known_within_m", "export_known_within_m", "date_format"):
        if overrides.get(key) == _NONE:
            overrides[key] = None
    try:
        return DatasetSettings.model_validate({**config.dataset.model_dump(), **overrides})
    except ValidationError as err:
        problems = []
        for e in err.errors():
            key = str(e["loc"][0]) if e["loc"] else ""
            name = _option(key) if key in overrides else f"dataset.{key}"
            problems.append(f"{name}: {e['msg'].removeprefix('Value error, ')}")
        raise BadInput("; ".join(problems)) from None


def _check_out(out: Path, config: MonitorConfig) -> None:
    """Refuse an ``--out`` where the scenes would land among other files the project reads
    (found in a walk, each taken with "16 scene(s) written"): the archive the scenes are read
    from, a folder in it or one above it (split folders and ``dataset.json`` among its
    regions); a model's folder (its ``manifest.json``: `models finetune --out` refuses a
    dataset's in turn); a folder inside another dataset (a split of it: a dataset nested in a
    split, whose scenes training would read as the other's)."""
    here = out.resolve()
    if isinstance(config.source, ArchiveSourceConfig):
        archive = config.source.path
        root = Path(archive).resolve()
        if here == root or here.is_relative_to(root) or root.is_relative_to(here):
            relation = (
                "is" if here == root else "is inside" if here.is_relative_to(root) else "holds"
            )
            raise BadInput(
                f"--out {out} {relation} the archive the scenes are read from ({archive}); give "
                "the dataset a folder of its own, outside it"
            )
    if (out / "manifest.json").is_file():
        raise BadInput(
            f"--out {out} holds a model ({out / 'manifest.json'}); give the dataset a folder of "
            "its own"
        )
    other = next((p for p in here.parents if (p / DATASET_RECORD_FILE).is_file()), None)
    if other is not None:
        raise BadInput(
            f"--out {out} is inside the dataset {other} ({other / DATASET_RECORD_FILE}); give "
            "the dataset a folder of its own, outside it"
        )


def cli_run(args: argparse.Namespace) -> int:
    """``landslide-monitor dataset``: a SIGTERM (a batch queue's, a supervisor's) ends it as
    Ctrl-C does, through the scenes' clean-up and with a line that says so (found in a walk: it
    ended without a word), the scenes done kept for the rerun."""
    with interrupt_on_signals():
        return _cli_run(args)


def _cli_run(args: argparse.Namespace) -> int:
    from monitor.config import load_config

    if problem := out_problem(args.out):
        raise BadInput(f"--out {problem}")
    if args.action == "ingest":
        print(ingest_exports(args.out, args.downloads).format())
        return 0

    config = load_config(args.config)
    settings = _settings(config, args)
    quiet = bool(getattr(args, "quiet", False))
    if args.action == "export":
        report = export_inventory(
            config,
            args.inventory,
            args.out,
            settings=settings,
            progress=not quiet,
            max_requests=args.max_requests,
            prune=args.prune,
        )
    else:
        report = scenes_from_reviews(
            config, args.out, settings=settings, progress=not quiet, prune=args.prune
        )
    print(report.format())
    if not report.scenes:
        print("dataset: no scene made (the lines above say why)", file=sys.stderr)
        return 1
    return 0
