"""An event region under the daily scheduler. Once its post window has closed, every run
composited the same windows into the same stack and ran the same chain for the same detections:
a walk-through measured 0.6-1.6 s of compositing and 1.1-3.5 s of detection a day for a 19 km²
region of the archive, and on Earth Engine each run spends its quota again. A run now reads back
the result the first such run stored (monitor.run_reuse); the inventory and the alerts come out
as from a run that computed it, and a change of anything the result depends on, a damaged file
or a quicklook no longer there makes the run compute it again."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import monitor.run as run_module
from models.ensemble import DEFAULT_MANIFEST
from models.onnx_engine import CACHE_ENV
from monitor.cli.report import format_summary
from monitor.config import MonitorConfig, load_config
from monitor.run import run_once
from monitor.run_results import RunSummary
from monitor.sources.base import AreaOfInterest
from monitor.store.inventory import Inventory
from tests.run.run_fixtures import (
    StandInEnsemble,
    StandInSource,
    recording_loader,
    region_polygon,
    two_region_config,
)
from tests.run.test_run_once_end_to_end import SmallAreaFilter

EVENT = {"mode": "event", "event_date": "2024-08-20", "pre_days": 60, "post_days": 10}
CLOSED = date(2024, 8, 31)  # event + 1 + post_days: the first run that sees the whole window
SCARS = {"north": [(5, 15, 5, 20), (30, 40, 30, 36)], "south": [(20, 32, 50, 60)]}
DAY = timedelta(days=1)


class IdentifiedSource(StandInSource):
    """The stand-in source, saying what its stacks depend on, as the archive (its catalogue)
    and Earth Engine (its collections and settings) do."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catalog = "catalogue 1"

    def identity(self, area: AreaOfInterest) -> dict[str, Any]:
        return {"catalog": self.catalog}


def _data(manifest: Path, name: str = "runs", **extra: Any) -> dict[str, Any]:
    """North an event region, south a monitoring one; quicklooks on."""
    data = two_region_config(
        manifest,
        alerts={
            "webhooks": [
                {"name": "ops", "url": "http://127.0.0.1:9/hook", "secret_env": "REUSE_SECRET"}
            ]
        },
        inventory={"path": f"{name}/inventory.gpkg"},
        quicklooks={"dir": f"{name}/quicklooks", "max_per_region": 5},
        **extra,
    )
    data["regions"][0]["windows"] = dict(EVENT)
    return data


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("REUSE_SECRET", "s3cret")
    return tmp_path / "cache" / "event-detections"


@pytest.fixture
def install(monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[StandInSource, Any]]:
    def install(source_type: type[StandInSource] = IdentifiedSource) -> tuple[StandInSource, Any]:
        regions = {"north": region_polygon(0.0), "south": region_polygon(0.05)}
        source = source_type(regions, SCARS)
        ensemble = StandInEnsemble()
        ensemble.object_filter = SmallAreaFilter()  # type: ignore[attr-defined]
        monkeypatch.setattr(run_module, "open_source", lambda settings: source)
        monkeypatch.setattr(run_module, "load_ensemble", lambda model: ensemble)
        return source, ensemble

    return install


def _run(config: MonitorConfig, day: date) -> RunSummary:
    return run_once(config, day, progress=False, deliver_alerts=False)


def _inventory(config: MonitorConfig) -> dict[str, Any]:
    """What the inventory holds, without what differs between any two runs (ids, times)."""
    with Inventory(config.inventory.path) as inventory, inventory.outbox() as box:
        table = inventory.landslides()
        regions = inventory.run_regions()
        outbox = box.counts()
    varying = ["uid", "updated_at", "status_changed_at"]
    table = table.drop(columns=[c for c in varying if c in table.columns])
    table["quicklook"] = [Path(q).relative_to(config.quicklooks.dir) for q in table["quicklook"]]
    table = pd.DataFrame(table.drop(columns="geometry")).assign(wkt=table.geometry.to_wkt())
    return {
        "landslides": table.sort_values("area_m2").reset_index(drop=True).to_dict("list"),
        "regions": regions[["region", "status", "n_new", "n_grown", "n_seen"]].to_dict("list"),
        "outbox": outbox,
    }


def _season(config: MonitorConfig, days: list[date], confirm_after: int) -> list[RunSummary]:
    """Run ``days``; after run ``confirm_after`` a reviewer confirms the landslide the object
    filter suppressed (it raised no alert)."""
    summaries = []
    for i, day in enumerate(days):
        summaries.append(_run(config, day))
        if i == confirm_after:
            with Inventory(config.inventory.path) as inventory:
                table = inventory.landslides()
                (fid,) = table.loc[table["suppressed"] == 1, "fid"]
                inventory.set_status(int(fid), "confirmed")
    return summaries


def test_a_closed_event_region_is_read_back_and_the_inventory_is_the_same(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    days = [CLOSED, CLOSED + DAY, CLOSED + 2 * DAY]
    # what the runs did before: a source that does not say what its stacks depend on is
    # never read back, so this is a season of runs that compute every day
    plain = load_config(write_config(_data(manifest, "plain"), "plain.yaml"))
    source, _ = install(StandInSource)
    computed = _season(plain, days, confirm_after=1)
    assert source.calls == ["north", "south"] * 3
    assert not cache.exists()

    config = load_config(write_config(_data(manifest)))
    source, ensemble = install()
    with caplog.at_level(logging.INFO, logger="monitor.run"):
        reused = _season(config, days, confirm_after=1)

    # north composited and detected once; south, a monitoring region, every day
    assert source.calls == ["north", "south", "south", "south"]
    assert len(ensemble.calls) == 4
    assert [r.regions[0].reused_from for r in reused] == [None, CLOSED, CLOSED]
    assert [r.regions[0].run_date for r in reused] == days
    assert [r.regions[1].reused_from for r in reused] == [None, None, None]
    assert [s.counts("north") for s in reused] == [s.counts("north") for s in computed]
    assert [s.changes.alerts_queued for s in reused] == [s.changes.alerts_queued for s in computed]
    # the reviewer's confirmation is alerted by the run after it, as by a run that computes
    assert [s.changes.alerts_queued for s in reused] == [1 + 1, 0, 1]  # north, south; north
    assert _inventory(config) == _inventory(plain)

    note = (
        "detections of the run of 2024-08-31 reused: the event's post window closed on "
        "2024-08-31 and nothing the run depends on changed (no stack built, no ensemble run)"
    )
    north = reused[1].regions[0]
    assert north.message == note
    assert set(north.timings) == {"reused"}
    assert f"  north: {note}" in format_summary(reused[1])
    assert sum(note in r.getMessage() for r in caplog.records) == 2
    with Inventory(config.inventory.path) as inventory:
        messages = inventory.run_regions(reused[1].run_id)["message"].tolist()
    assert messages[0].startswith(f"{note}; windows: event 2024-08-20: pre 2024-06-21/2024-08-20")
    (stored,) = cache.iterdir()
    header = json.loads(stored.read_bytes().split(b"\n", 1)[0])
    assert (header["region"], header["run_date"]) == ("north", "2024-08-31")


def _edit_manifest(manifest: Path, source: IdentifiedSource, patch: pytest.MonkeyPatch) -> None:
    manifest.write_text('{"members": []}')


def _new_catalogue(manifest: Path, source: IdentifiedSource, patch: pytest.MonkeyPatch) -> None:
    source.catalog = "catalogue 2"  # an acquisition written into the archive late


def _new_code(manifest: Path, source: IdentifiedSource, patch: pytest.MonkeyPatch) -> None:
    import monitor.run_reuse

    code = monitor.run_reuse._software()["code"]
    patch.setattr(monitor.run_reuse, "_software", lambda: {"code": code[::-1], "packages": ""})


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        ({"regions.0.filter_cut": 0.3}, "region"),
        ({"regions.0.masks": {"min_slope_deg": 10}}, "region"),
        ({"regions.0.windows.post_days": 9}, "windows"),
        ({"regions.0.orbit_pass": "ascending"}, "region"),
        ({"model.min_clear_fraction": 0.3}, "model"),
        ({"trigger.min_area_m2": 1000}, "trigger"),
        ({"quicklooks.max_per_region": 1}, "quicklooks"),
        (_edit_manifest, "manifest_sha256"),
        (_new_catalogue, "source"),
        (_new_code, "software"),
    ],
    ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", None),
)
def test_a_change_of_what_the_result_depends_on_computes_it_again(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any] | Callable[..., None],
    changed: str,
) -> None:
    source, _ = install()
    data = _data(manifest)
    config = load_config(write_config(data))
    _run(config, CLOSED + DAY)
    if callable(change):
        assert isinstance(source, IdentifiedSource)
        change(manifest, source, monkeypatch)
    else:
        for dotted, value in change.items():
            *path, last = dotted.split(".")
            block: Any = data
            for part in path:
                block = block[int(part)] if part.isdigit() else block.setdefault(part, {})
            block[last] = value
        config = load_config(write_config(data))
    with caplog.at_level(logging.INFO, logger="monitor.run"):
        summary = _run(config, CLOSED + 2 * DAY)
    assert source.calls == ["north", "south", "north", "south"]
    assert summary.regions[0].reused_from is None
    assert f"not reused: {changed} changed since; computed again" in caplog.text
    # ... and stored anew: the run after reads it back
    summary = _run(config, CLOSED + 3 * DAY)
    assert summary.regions[0].reused_from == CLOSED + 2 * DAY
    assert source.calls.count("north") == 2


def test_how_long_the_cogs_are_kept_and_where_they_are_served_keep_the_result(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
) -> None:
    """``quicklooks.keep_rasters_days`` and ``base_url`` change nothing a run draws: setting
    them does not compute an event region again, nor does the deletion of its COGs, which the
    result read back then no longer names (found by a review: the deleted COGs computed every
    event region again once every keep_rasters_days)."""
    source, _ = install()
    data = _data(manifest)
    first = _run(load_config(write_config(data)), CLOSED + DAY)
    cogs = first.regions[0].rasters
    assert len(cogs) == 2 and all(Path(p).is_file() for p in cogs)
    data["quicklooks"] |= {"keep_rasters_days": 2, "base_url": "https://example.org/ql/"}
    config = load_config(write_config(data))
    summaries = [_run(config, CLOSED + n * DAY) for n in range(2, 6)]
    assert not any(Path(p).is_file() for p in cogs)  # deleted by the run of CLOSED + 4 days
    assert [s.regions[0].reused_from for s in summaries] == [CLOSED + DAY] * 4
    assert source.calls.count("north") == 1
    assert [s.regions[0].rasters for s in summaries] == [cogs, cogs, [], []]  # 4: deleted


def test_keep_pictures_days_keeps_the_pictures_a_stored_result_names(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
) -> None:
    """Found in review: ``quicklooks.keep_pictures_days`` deleted the pictures a stored event
    result names that no landslide or alert names (those of a landslide only seen again), and
    the region was computed again every few runs (6 times in 14). The pictures of the results
    read back are kept: the region is computed once."""
    source, _ = install()
    data = _data(manifest)
    data["quicklooks"] |= {"keep_pictures_days": 2}
    config = load_config(write_config(data))
    # the day before the post window closes the landslides are drawn new (their pictures named
    # by the inventory); the first final result draws them again, seen: named by nothing else
    _run(config, CLOSED - DAY)
    summaries = [_run(config, CLOSED + n * DAY) for n in range(8)]
    assert [s.regions[0].reused_from for s in summaries] == [None] + [CLOSED] * 7
    assert source.calls.count("north") == 2
    stored = summaries[-1].regions[0].candidates
    assert stored is not None and all(Path(q).is_file() for q in stored["quicklook"])


def test_results_that_are_not_final_are_computed_every_time(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
) -> None:
    source, _ = install()
    config = load_config(write_config(_data(manifest)))
    before = CLOSED - DAY  # the post window still open (clipped to the run date)
    for day in (before, before, CLOSED, CLOSED):
        _run(config, day)
    assert source.calls.count("north") == 3
    assert not (set(source.calls) - {"north", "south"})


def test_earth_engine_results_are_final_after_the_settle_period(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
) -> None:
    """Earth Engine lists a scene once it is ingested, days after its acquisition: a closed
    window's composite can change until then."""
    source, _ = install()
    data = _data(manifest, source={"type": "gee", "project": "my-project", "event_settle_days": 5})
    config = load_config(write_config(data))
    days = [CLOSED, CLOSED + 4 * DAY, CLOSED + 5 * DAY, CLOSED + 6 * DAY]
    reused = [_run(config, day).regions[0].reused_from for day in days]
    assert reused == [None, None, None, CLOSED + 5 * DAY]
    assert source.calls.count("north") == 3


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-20] ^= 0x01  # a bit of the payload
    path.write_bytes(bytes(raw))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _not_json(path: Path) -> None:
    path.write_bytes(b"\x00" * 64)


@pytest.mark.parametrize("damage", [_flip, _truncate, _not_json])
def test_a_damaged_file_is_computed_again_and_rewritten(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], None],
) -> None:
    source, _ = install()
    config = load_config(write_config(_data(manifest)))
    first = _run(config, CLOSED)
    (stored,) = cache.iterdir()
    damage(stored)
    with caplog.at_level(logging.INFO, logger="monitor.run"):
        second = _run(config, CLOSED + DAY)
    assert source.calls.count("north") == 2
    assert second.regions[0].reused_from is None
    assert f"north: stored detections {stored} are damaged (" in caplog.text
    assert "computed again, and the file rewritten" in caplog.text
    third = _run(config, CLOSED + 2 * DAY)
    assert third.regions[0].reused_from == CLOSED + DAY
    assert source.calls.count("north") == 2
    assert third.counts("north") == {"new": 0, "grown": 0, "seen": first.regions[0].n_candidates}


def test_a_quicklook_no_longer_there_is_computed_again(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An operator who prunes old quicklook folders would leave the inventory's new entries
    (a fresh inventory file) and the report naming files that are gone."""
    source, _ = install()
    config = load_config(write_config(_data(manifest)))
    first = _run(config, CLOSED)
    candidates = first.regions[0].candidates
    assert candidates is not None
    quicklooks = candidates["quicklook"].tolist()
    assert len(quicklooks) == 2 and first.regions[0].rasters
    Path(quicklooks[1]).unlink()
    with caplog.at_level(logging.INFO, logger="monitor.run"):
        second = _run(config, CLOSED + DAY)
    assert second.regions[0].reused_from is None and source.calls.count("north") == 2
    assert "name 1 quicklook(s) no longer there" in caplog.text
    again = second.regions[0].candidates
    assert again is not None and all(Path(q).is_file() for q in again["quicklook"])


def test_a_file_that_cannot_be_written_costs_nothing_but_time(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full disk at the rename: no file, not even half of one, and the run is complete."""
    replace = os.replace

    def full(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst).parent == cache:
            raise OSError(28, "No space left on device")
        replace(src, dst)

    source, _ = install()
    config = load_config(write_config(_data(manifest)))
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", full)
        summary = _run(config, CLOSED)
    assert summary.ok and summary.regions[0].n_candidates == 2
    assert "north: its detections could not be stored for later runs in" in caplog.text
    assert list(cache.iterdir()) == []
    assert _run(config, CLOSED + DAY).regions[0].reused_from is None
    assert _run(config, CLOSED + 2 * DAY).regions[0].reused_from == CLOSED + DAY
    assert source.calls.count("north") == 2


def test_a_run_whose_every_region_is_read_back_loads_no_ensemble(
    write_config: Callable[..., Path],
    manifest: Path,
    cache: Path,
    install: Callable[..., tuple[StandInSource, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Loading the ensemble (torch, the members, their ONNX sessions) took 7-9 s of the 14-16
    s of a run whose one event region was read back."""
    manifest.write_text(DEFAULT_MANIFEST.read_text())
    _, ensemble = install()
    loads: list[object] = []
    monkeypatch.setattr(run_module, "load_ensemble", recording_loader(ensemble, loads))
    config = load_config(write_config(_data(manifest)))
    for day in (CLOSED, CLOSED + DAY):
        run_once(config, day, regions=["north"], progress=False, deliver_alerts=False)
    assert len(loads) == 2  # the first run's check and its region's detection
    run_once(config, CLOSED + 2 * DAY, progress=False, deliver_alerts=False)
    assert len(loads) == 4  # south computes
