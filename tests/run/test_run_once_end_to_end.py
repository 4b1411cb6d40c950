"""run_once end to end on a stand-in source and ensemble, with the real inventory, outbox and
run lock: numbers of detections, inventory rows, alerts, failures and reruns."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import monitor.run as run_module
from monitor.alerts.quicklook import quicklook_file
from monitor.cli.report import format_summary
from monitor.config import MonitorConfig, load_config
from monitor.pipeline.object_filter import FEATURES, features_id
from monitor.run import run_once
from monitor.run_results import RegionResult, RunSummary, log_result
from monitor.store.inventory import Inventory
from monitor.store.lock import RunLock, RunLockHeld
from tests.run.run_fixtures import (
    StandInEnsemble,
    StandInSource,
    recording_loader,
    region_polygon,
    two_region_config,
)

RUN_DATE = date(2024, 9, 15)
SCARS = {
    "north": [(5, 15, 5, 20), (30, 40, 30, 36)],  # 150 and 60 pixels
    "south": [(20, 32, 50, 60)],  # 120 pixels
}


def _config_data(manifest: Path, **extra: Any) -> dict[str, Any]:
    return two_region_config(
        manifest,
        source={"type": "archive", "path": "archive"},
        alerts={
            "webhooks": [
                # nothing listens there: alerts stay pending in the outbox
                {"name": "ops", "url": "http://127.0.0.1:9/hook", "secret_env": "D1_TEST_SECRET"}
            ],
            "retry": {"base_delay_s": 1, "max_attempts": 3},
        },
        **extra,
    )


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[StandInSource, Any]]:
    monkeypatch.setenv("D1_TEST_SECRET", "s3cret")

    def install(**options: Any) -> tuple[StandInSource, StandInEnsemble]:
        settings = options.pop("settings", ("S1", "S2", "S1+S2"))
        regions = {"north": region_polygon(0.0), "south": region_polygon(0.05)}
        source = StandInSource(regions, SCARS, **options)
        ensemble = StandInEnsemble(settings)
        monkeypatch.setattr(run_module, "open_source", lambda settings: source)
        monkeypatch.setattr(run_module, "load_ensemble", lambda model: ensemble)
        return source, ensemble

    return install


@pytest.fixture
def config(write_config: Callable[..., Path], manifest: Path) -> MonitorConfig:
    return load_config(write_config(_config_data(manifest)))


def _outbox_rows(config: MonitorConfig) -> int:
    with Inventory(config.inventory.path) as inventory, inventory.outbox() as box:
        return sum(box.counts().values())


def test_a_run_detects_writes_the_inventory_and_scores_against_ground_truth(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    stand_ins()
    summary = run_once(config, RUN_DATE, progress=False)

    assert summary.ok
    assert [r.status for r in summary.regions] == ["ok", "ok"]
    assert [r.setting for r in summary.regions] == ["S1+S2", "S1+S2"]
    assert [r.n_candidates for r in summary.regions] == [2, 1]
    assert summary.regions[0].candidates is not None
    areas = sorted(summary.regions[0].candidates["area_m2"])
    assert areas == [6000.0, 15000.0]
    assert summary.counts() == {"new": 3, "grown": 0, "seen": 0}
    evaluation = summary.evaluation
    assert evaluation is not None
    # the 2024-05-18 landslides lie before the windows and are not counted
    assert (evaluation.events, evaluation.detected, evaluation.false_alarms) == (3, 3, 0)
    assert evaluation.recall == 1.0
    assert summary.changes.alerts_queued == 3  # one webhook, three new landslides
    assert summary.delivery is not None and summary.delivery.sent == 0
    assert summary.outbox["pending"] == 3

    with Inventory(config.inventory.path) as inventory:
        landslides = inventory.landslides()
        runs = inventory.runs()
        regions = inventory.run_regions(summary.run_id)
    assert len(landslides) == 3
    assert sorted(landslides["area_m2"].round()) == [6000.0, 12000.0, 15000.0]
    assert set(landslides["setting"]) == {"S1+S2"}
    assert set(landslides["pre_date"]) == {"2024-08-12"}
    assert set(landslides["post_date"]) == {"2024-08-18"}
    assert runs["status"].tolist() == ["ok"]
    assert regions["n_new"].tolist() == [2, 1]
    # the trigger's statistics are kept with every region of every run
    assert all("triggered: vegetation loss" in m for m in regions["message"])

    text = format_summary(summary)
    assert "object recall 100% (3 of 3), 0 false alarm(s)" in text
    assert "3 queued by this run, 0 sent, 3 pending" in text
    assert str(config.inventory.path) in text
    # quicklooks are off in this configuration: the summary names no folder
    assert summary.quicklooks is None and "Quicklooks:" not in text


class SmallAreaFilter:
    """Stands in for the shipped object filter: scores objects under 8000 m² 0.1, others 0.9."""

    features = FEATURES
    cut = 0.5
    path = Path("stand-in-filter")
    ensemble = "stand-in ensemble"

    def score(self, x: np.ndarray) -> np.ndarray:
        small = x[:, FEATURES.index("log_area_m2")] < np.log10(8000.0)
        return np.where(small, 0.1, 0.9)


def test_the_filter_suppresses_without_alert_and_the_summary_gives_both_scores(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    _, ensemble = stand_ins()
    ensemble.object_filter = SmallAreaFilter()
    summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)

    north = summary.regions[0].candidates
    assert north is not None
    assert sorted(
        zip(north["area_m2"], north["suppressed"], north["filter_score"], strict=True)
    ) == [
        (6000.0, True, 0.1),
        (15000.0, False, 0.9),
    ]
    assert summary.suppressed == 1
    assert summary.counts() == {"new": 3, "grown": 0, "seen": 0}  # all three stored ...
    assert summary.changes.alerts_queued == 2  # ... the suppressed one raises no alert
    kept, everything = summary.evaluation, summary.evaluation_unfiltered
    assert kept is not None and everything is not None
    assert (kept.events, kept.detected, kept.candidates) == (3, 2, 2)
    assert (everything.events, everything.detected, everything.candidates) == (3, 3, 3)
    text = format_summary(summary)
    assert "object recall 67% (2 of 3), 0 false alarm(s) among 2 detection(s) the object" in text
    assert "Without the object filter: recall 100% (3 of 3), 0 false alarm(s) among 3" in text
    assert "the filter suppressed 1 (stored, no alert)" in text
    with Inventory(config.inventory.path) as inventory:
        table = inventory.landslides()
        logged, _ = inventory.logged_features(table["uid"])
    assert sorted(table["suppressed"].tolist()) == [0, 0, 1]
    # each landslide's observation keeps the features its run scored, named by their ensemble
    rows = [logged[uid] for uid in table["uid"]]
    assert [len(r) for r in rows] == [1, 1, 1]
    assert {made_by for ((_, made_by),) in rows} == {features_id("stand-in ensemble")}
    small = [f[FEATURES.index("log_area_m2")] < np.log10(8000.0) for ((f, _),) in rows]
    assert [bool(v) for v in small] == (table["suppressed"] == 1).tolist()


def test_the_summary_of_a_run_without_an_object_filter_claims_none(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    """Found by a new user: with an ensemble imported from checkpoints (a manifest without an
    object filter) the summary counted false alarms 'among 3 detection(s) the object filter
    kept', then again 'Without the object filter', and 'the filter suppressed 0'."""
    stand_ins()  # the stand-in ensemble has no object filter, as an imported manifest
    summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    assert summary.detections == 3
    text = format_summary(summary)
    assert (
        "object recall 100% (3 of 3), 0 false alarm(s) among 3 detection(s), none scored by an "
        "object filter (the manifest lists none)." in text
    )
    assert "object filter kept" not in text and "Without the object filter" not in text


def test_the_summary_says_which_false_alarms_lie_on_older_landslides(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    """A run weeks after a storm sees its slides again: they lie in the pre window, so they are
    not landslides of the run's post window, but neither are they look-alikes. The summary said
    '46 false alarm(s) among 46' of such a run (found by a new user); it says how many are older
    slides."""
    from dataclasses import replace

    from monitor.pipeline.evaluation import Evaluation

    _, ensemble = stand_ins()
    ensemble.object_filter = SmallAreaFilter()  # both lines: with the filter and without
    summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    first = summary.regions[0]
    summary.regions[0] = replace(
        first,
        evaluation=Evaluation(2, 1, 46, 45, 44),
        evaluation_unfiltered=Evaluation(2, 1, 50, 49, 45),
    )
    summary.regions[1:] = [
        replace(r, evaluation=None, evaluation_unfiltered=None) for r in summary.regions[1:]
    ]
    text = format_summary(summary)
    assert (
        "45 false alarm(s) (44 on older landslides, of the pre window) among 46 detection(s)"
        in text
    )
    assert "49 false alarm(s) (45 on older landslides, of the pre window) among 50;" in text


def test_the_run_says_which_windows_each_region_used(
    write_config: Callable[..., Path],
    manifest: Path,
    stand_ins: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found walking through an event mapping: an event region's post window is clipped to the
    run date (13 of its 30 days here), yet neither the log, the report nor the run's record in
    the inventory said which windows a region's stack was composited from; they do now."""
    data = _config_data(manifest)
    data["regions"][0]["windows"] = {"mode": "event", "event_date": "2024-09-01"}
    config = load_config(write_config(data))
    stand_ins()
    with caplog.at_level(logging.INFO, logger="monitor.run"):
        summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)

    event = (
        "event 2024-09-01: pre 2024-07-03/2024-09-01, post 2024-09-02/2024-09-15 "
        "(13 of the 30 post-event days: clipped to the run date)"
    )
    monitoring = "monitoring (latest): pre 2024-06-17/2024-08-16, post 2024-08-16/2024-09-15"
    assert [r.windows for r in summary.regions] == [event, monitoring]
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("north: 2 candidate(s)") and event in m for m in logged)
    assert any(m.startswith("south: 1 candidate(s)") and monitoring in m for m in logged)
    text = format_summary(summary)
    assert "Windows (start/end, the end day excluded):" in text
    assert f"  north: {event}" in text and f"  south: {monitoring}" in text
    with Inventory(config.inventory.path) as inventory:
        messages = inventory.run_regions(summary.run_id)["message"].tolist()
    assert [f"windows: {event}" in messages[0], f"windows: {monitoring}" in messages[1]] == [
        True,
        True,
    ]


def test_a_region_ok_on_a_source_no_longer_fed_is_warned_of(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found on a walk: a run 26 days past the archive's newest acquisition logged its regions
    ok and said nothing; only `status --check` read the line its record kept."""
    stale = (
        "post window 2024-09-25/2024-10-25: its newest acquisition, 2024-09-29, is 25 days "
        "before its last day, where Sentinel-1 and Sentinel-2 revisit within 12: is the "
        "source still fed?"
    )
    fed = RegionResult("north", RUN_DATE, "ok", setting="S2", data_status="S2 post: clouds")
    with caplog.at_level(logging.INFO, logger="monitor.run"):
        log_result(fed)
        log_result(replace(fed, data_status=f"{stale}; S2 post: clouds"))
    warned = [(r.levelno, r.getMessage()) for r in caplog.records if r.levelno > logging.INFO]
    assert warned == [(logging.WARNING, f"north: {stale}")]


def test_the_summary_says_how_many_detections_joined_another_of_their_landslide() -> None:
    """Found on a walk: a run printed "detections 4, new 3, grown 0, seen 0": two of its
    detections lay within the matching tolerance of each other and made one entry. A failed
    region's detections, which made none, are not counted among them."""
    import geopandas as gpd
    from shapely.geometry import Point

    from monitor.store.records import Change, Changes

    def drawn(n: int) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(geometry=[Point(i, 0) for i in range(n)], crs="EPSG:32632")

    regions = [
        RegionResult("north", RUN_DATE, "ok", setting="S2", candidates=drawn(4)),
        RegionResult("south", RUN_DATE, "failed", candidates=drawn(2)),
    ]
    changes = Changes(
        1, RUN_DATE, [Change(i, f"u{i}", "north", "new", 900.0, None) for i in range(3)]
    )
    summary = RunSummary(
        1, RUN_DATE, "archive", regions, changes, None, {}, {}, Path("i.gpkg"), None
    )
    lines = format_summary(summary).splitlines()
    assert (
        "1 detection(s) matched the same landslide as another (within 10 m of its outline: one "
        "inventory entry)" in lines
    )
    summary.changes.changes.append(Change(3, "u3", "north", "new", 900.0, None))
    assert not any("as another" in line for line in format_summary(summary).splitlines())


def test_the_same_date_twice_adds_no_row_and_no_alert(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    stand_ins()
    first = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    rows_after_first = _outbox_rows(config)
    second = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)

    assert first.counts() == {"new": 3, "grown": 0, "seen": 0}
    assert second.counts() == {"new": 0, "grown": 0, "seen": 3}
    assert second.changes.alerts_queued == 0
    assert _outbox_rows(config) == rows_after_first == 3
    with Inventory(config.inventory.path) as inventory:
        landslides = inventory.landslides()
        assert len(landslides) == 3
        assert landslides["times_seen"].tolist() == [1, 1, 1]
        assert inventory.runs()["status"].tolist() == ["ok", "ok"]


def test_a_failing_region_does_not_stop_the_others(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    stand_ins(fail=["north"])
    summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    assert not summary.ok
    north, south = summary.regions
    assert north.status == "failed" and "simulated failure of region north" in north.message
    assert south.status == "ok" and south.n_candidates == 1
    assert summary.counts() == {"new": 1, "grown": 0, "seen": 0}
    with Inventory(config.inventory.path) as inventory:
        assert inventory.runs()["status"].tolist() == ["partial"]
        assert inventory.run_regions(summary.run_id)["status"].tolist() == ["failed", "ok"]
    assert "north: failed: RuntimeError: simulated failure" in format_summary(summary)


def test_redo_failed_runs_only_the_regions_no_run_of_the_date_completed(
    tmp_path: Path,
    config: MonitorConfig,
    stand_ins: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found in a walkthrough of 37 regions: a rerun of a day one region had failed computed
    all 37 again (20 s for one region's work); `run --redo-failed` runs the one."""
    from monitor.cli import main
    from monitor.store.runs import regions_to_redo

    source, _ = stand_ins(fail=["north"])
    assert regions_to_redo(config.inventory.path, RUN_DATE, ["north", "south"]) == [
        "north", "south"]  # fmt: skip  # never run
    run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    assert regions_to_redo(config.inventory.path, RUN_DATE, ["north", "south"]) == ["north"]
    source.fail = []
    argv = ["run", "--config", str(tmp_path / "config.yaml"), "--date", str(RUN_DATE),
            "--no-alerts", "--redo-failed", "-q"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "north" in out and "south" not in out  # the summary's table: the redone region
    with Inventory(config.inventory.path) as inventory:
        runs = inventory.runs()
        assert runs["status"].tolist() == ["ok", "partial"]  # newest first
        assert inventory.run_regions(int(runs["run_id"].iloc[0]))["region"].tolist() == ["north"]
    assert regions_to_redo(config.inventory.path, RUN_DATE, ["north", "south"]) == []
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(
        "every region completed 2024-09-15 (ok or without data): nothing to redo"
    )
    # another date is its own
    assert regions_to_redo(config.inventory.path, date(2024, 9, 16), ["south"]) == ["south"]
    # a completed run recorded before per-region records completed every region, as the
    # scheduler's ledger counts it
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(config.inventory.path)) as conn, conn:
        conn.execute(
            "INSERT INTO runs (run_date, source, regions, status, started_at) "
            "VALUES ('2024-09-16', 'archive', 'north,south', 'ok', '2024-09-16T06:00:00')"
        )
    assert regions_to_redo(config.inventory.path, date(2024, 9, 16), ["south"]) == []


def test_no_data_region_is_recorded_not_failed(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    stand_ins(unavailable=["south"])
    summary = run_once(config, RUN_DATE, regions=["south"], progress=False, deliver_alerts=False)
    assert summary.ok
    assert [r.status for r in summary.regions] == ["no-data"]
    assert "no Sentinel-1 or Sentinel-2 data" in summary.regions[0].message


def test_quiet_region_is_not_sent_to_the_ensemble(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    source, ensemble = stand_ins()
    source.scars = {}
    summary = run_once(config, RUN_DATE, regions=["north"], progress=False, deliver_alerts=False)
    (north,) = summary.regions
    assert north.status == "ok" and north.n_candidates == 0
    assert north.trigger is not None and not north.trigger.triggered
    assert north.trigger.vegetation_loss_m2 == 0.0
    assert ensemble.calls == []
    with Inventory(config.inventory.path) as inventory:
        (message,) = inventory.run_regions(summary.run_id)["message"]
    assert "not triggered: vegetation loss 0 m², backscatter change 0 m²" in message


def test_a_region_no_sensor_saw_is_no_data_not_a_quiet_day(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    """No clear optical view and no post-event radar scene (a run after the last acquisition):
    the trigger sees no change, but nothing was looked at, so the region is no-data."""
    source, ensemble = stand_ins(clear=0.0)
    source.scars = {}
    features = source.features

    def blind(*args: Any, **kwargs: Any) -> Any:
        stack = features(*args, **kwargs)
        stack["s1_count_post"][:] = 0.0
        return stack

    source.features = blind
    summary = run_once(config, RUN_DATE, regions=["north"], progress=False, deliver_alerts=False)
    (north,) = summary.regions
    assert north.status == "no-data" and ensemble.calls == []
    assert "no sensor has enough data: clear optical 0%, radar 0% of the pixels" in north.message
    source.features = features  # radar scenes again: a quiet day
    summary = run_once(config, RUN_DATE, regions=["north"], progress=False, deliver_alerts=False)
    assert [r.status for r in summary.regions] == ["ok"]


def test_cloudy_pixels_fall_back_to_radar(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    # the west 40 % of the region is clear: S1+S2 there; the "south" scar (columns 50-60 of
    # ~120) lies in the cloudy east and is found by the radar-only fallback
    _, ensemble = stand_ins(clear=0.4)
    config.model.min_clear_fraction = 0.3
    summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    north, south = summary.regions
    assert ensemble.calls == ["S1+S2", "S1", "S1+S2", "S1"]
    assert north.candidates is not None and south.candidates is not None
    assert north.candidates["setting"].tolist() == ["S1+S2", "S1+S2"]
    assert south.candidates["setting"].tolist() == ["S1"]
    assert south.candidates["area_m2"].tolist() == [12000.0]

    config.model.min_clear_fraction = 0.5  # not enough clear sky: radar only
    ensemble.calls.clear()
    summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    assert ensemble.calls == ["S1", "S1"]
    assert [r.setting for r in summary.regions] == ["S1", "S1"]


def test_a_held_lock_refuses_the_run(
    config: MonitorConfig, stand_ins: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before the ensemble is loaded: a refused run spent seconds loading it first."""
    source, ensemble = stand_ins()
    loaded: list[object] = []
    monkeypatch.setattr(run_module, "load_ensemble", recording_loader(ensemble, loaded))
    config.inventory.path.parent.mkdir(parents=True, exist_ok=True)
    with RunLock(config.inventory.path), pytest.raises(RunLockHeld, match="another run"):
        run_once(config, RUN_DATE, progress=False)
    assert (source.calls, loaded) == ([], [])


def test_a_run_is_refused_where_its_inventory_was_and_is_gone(
    config: MonitorConfig, stand_ins: Callable[..., Any]
) -> None:
    """Found by an SRE's walk: with the inventory deleted, the next run started a new one and
    queued the alerts of every landslide the receiver already held, under new keys."""
    from monitor.store.lock import InventoryMissing

    stand_ins()
    assert run_once(config, RUN_DATE, progress=False, deliver_alerts=False).changes.alerts_queued
    config.inventory.path.unlink()
    with pytest.raises(InventoryMissing, match="is not there, but a command that used it"):
        run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    assert not config.inventory.path.exists()


def test_a_setting_the_ensemble_lacks_is_refused_before_the_run_also_with_dask(
    config: MonitorConfig, stand_ins: Callable[..., Any], manifest: Path
) -> None:
    """Found in review: with Dask (an executor) the workers load the ensemble, so a
    `model.setting` it lacks was refused by every region on its worker, after its stack was
    fetched; the manifest's settings are checked before the run is recorded (no torch)."""
    from concurrent.futures import ThreadPoolExecutor

    from models.ensemble import DEFAULT_MANIFEST
    from monitor.errors import BadInput

    source, _ = stand_ins()
    model = config.model.model_copy(update={"manifest": DEFAULT_MANIFEST, "setting": "all"})
    config = config.model_copy(update={"model": model})
    with ThreadPoolExecutor(1) as executor, pytest.raises(BadInput) as err:
        run_once(config, RUN_DATE, executor=executor, progress=False)
    assert str(err.value).startswith("model.setting is 'all' but the ensemble ")
    assert str(err.value).endswith("has only S1, S2, S1+S2: set one of those, or auto")
    assert source.calls == [] and not config.inventory.path.exists()
    # a manifest that is none (the fixture's "{}") is named there too, not by every worker
    broken = config.model.model_copy(update={"manifest": manifest, "setting": "auto"})
    with ThreadPoolExecutor(1) as executor, pytest.raises(BadInput, match=r"^model\.manifest: "):
        run_once(config.model_copy(update={"model": broken}), RUN_DATE, executor=executor)
    assert source.calls == [] and not config.inventory.path.exists()


def test_a_source_without_ground_truth_is_not_scored(
    config: MonitorConfig, stand_ins: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = stand_ins()

    def no_truth(region: str) -> None:
        raise LookupError(f"region {region!r} has no ground truth")

    monkeypatch.setattr(source, "ground_truth", no_truth)
    summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    assert summary.ok and summary.evaluation is None
    assert [r.n_candidates for r in summary.regions] == [2, 1]
    assert "ground truth" not in format_summary(summary)


def test_detect_region_writes_only_quicklooks_and_cogs_and_pickles(
    write_config: Callable[..., Path],
    manifest: Path,
    stand_ins: Callable[..., Any],
    tmp_path: Path,
) -> None:
    data = _config_data(manifest)
    data["quicklooks"] = {"dir": "ql", "max_per_region": 1}
    config = load_config(write_config(data))
    stand_ins()
    before = {p for p in tmp_path.rglob("*") if p.is_file()}
    result = run_module.detect_region(config, config.region("north"), RUN_DATE)
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - before

    folder = tmp_path / "ql" / "2024-09-15" / "north"
    cogs = {folder / "north_probability.tif", folder / "north_spread.tif"}
    assert result.candidates is not None
    picture = folder / quicklook_file(1, result.candidates.geometry.iloc[0])
    assert written == {picture} | cogs
    assert set(map(Path, result.rasters)) == cogs
    assert result.candidates["quicklook"].tolist() == [str(picture), None]
    copy = pickle.loads(pickle.dumps(result))
    assert copy.n_candidates == 2 and copy.evaluation == result.evaluation
    assert copy.candidates.geometry.geom_equals(result.candidates.geometry).all()


def test_keep_rasters_days_deletes_old_runs_cogs_and_keeps_their_quicklooks(
    write_config: Callable[..., Path],
    manifest: Path,
    stand_ins: Callable[..., Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found sizing a deployment: each run writes its regions' probability and spread COGs,
    about 8 MB per 100 km² and run, never deleted (3 GB a year for one such region). With
    ``quicklooks.keep_rasters_days`` a run deletes those of run dates more than that many days
    before its own; the PNGs, which alerts and the inventory name, and other files stay."""
    data = _config_data(manifest)
    data["quicklooks"] = {"dir": "ql", "max_per_region": 1, "keep_rasters_days": 3}
    config = load_config(write_config(data))
    stand_ins()
    days = [date(2024, 9, 10), date(2024, 9, 11), date(2024, 9, 12)]
    for day in days:
        run_once(config, day, progress=False, deliver_alerts=False)
    stranger = tmp_path / "ql" / "2024-09-10" / "north" / "notes.tif"
    stranger.write_bytes(b"mine")  # not the run's: stays
    folder = {day: tmp_path / "ql" / day.isoformat() for day in days}
    for day in days:
        for region in ("north", "south"):
            assert (folder[day] / region / f"{region}_probability.tif").is_file()
    with caplog.at_level(logging.INFO, logger="monitor.run"):
        run_once(config, RUN_DATE, progress=False, deliver_alerts=False)

    cogs = {p.relative_to(tmp_path).as_posix() for p in (tmp_path / "ql").rglob("*_*.tif")}
    # 09-10 and 09-11 are more than 3 days before 09-15; 09-12 and 09-15 are kept
    assert cogs == {
        f"ql/{day}/{region}/{region}_{layer}.tif"
        for day in ("2024-09-12", "2024-09-15")
        for region in ("north", "south")
        for layer in ("probability", "spread")
    }
    assert stranger.read_bytes() == b"mine"
    assert len(list((folder[days[0]] / "north").glob("candidate-001-*.png"))) == 1
    assert "deleted 8 COG(s) of runs before 2024-09-12" in caplog.text


def test_an_unwritable_quicklooks_folder_keeps_the_detections(
    write_config: Callable[..., Path],
    manifest: Path,
    stand_ins: Callable[..., Any],
    tmp_path: Path,
) -> None:
    (tmp_path / "blocked").write_text("a file where the quicklooks' parent folder should be")
    data = _config_data(manifest)
    data["quicklooks"] = {"dir": "blocked/ql"}  # mkdir fails, for root too (NotADirectoryError)
    config = load_config(write_config(data))
    stand_ins()
    summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    assert [r.status for r in summary.regions] == ["ok", "ok"]
    assert [r.n_candidates for r in summary.regions] == [2, 1]
    assert summary.counts()["new"] == 3
    for result in summary.regions:
        assert result.candidates is not None
        assert result.candidates["quicklook"].isna().all()
        assert result.rasters == []  # nor the probability/spread COGs
    with Inventory(config.inventory.path) as inventory:
        assert len(inventory.landslides()) == 3


def test_a_full_disk_while_writing_the_cogs_keeps_the_detections_and_alerts(
    write_config: Callable[..., Path],
    manifest: Path,
    stand_ins: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by a new user: GDAL reports a full disk as its own write error, no OSError, so a
    spread COG that did not fit failed the region (no detections, no alerts) where a quicklook
    that did not fit is left out with a warning; its .part stayed on the full disk."""
    import rasterio
    from rasterio._err import CPLE_AppDefinedError

    real_open = rasterio.open

    def open_on_a_full_disk(path: Any, mode: str = "r", **kwargs: Any) -> Any:
        if mode == "w" and str(path).endswith("_spread.tif.part"):
            Path(path).write_bytes(b"II*\x00 the first strips")
            raise CPLE_AppDefinedError(1, 1, "TIFFAppendToStrip:Write error at scanline 512")
        return real_open(path, mode, **kwargs)

    monkeypatch.setattr(rasterio, "open", open_on_a_full_disk)
    import collections
    import shutil

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, (1 << 30) - 4096, 4096))
    data = _config_data(manifest)
    data["quicklooks"] = {"dir": "ql"}
    config = load_config(write_config(data))
    stand_ins()
    summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)

    assert [r.status for r in summary.regions] == ["ok", "ok"]
    assert [r.n_candidates for r in summary.regions] == [2, 1]
    assert summary.changes.alerts_queued == 3 and summary.outbox["pending"] == 3
    for result in summary.regions:
        assert result.rasters == []
        assert result.candidates is not None and result.candidates["quicklook"].notna().all()
    folder = tmp_path / "ql" / "2024-09-15"
    assert sorted(p.name for p in folder.rglob("*.tif*")) == []  # no half pair, no .part
    assert len(list(folder.rglob("*.png"))) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    # GDAL's "Write error" is told a full disk by the free space (found in a crash walkthrough),
    # and the run's summary says what was not written, not the log alone
    said = (
        f"probability/spread COGs not written in {folder / 'north'}: TIFFAppendToStrip:Write "
        "error at scanline 512; the file system has 4 KiB free: it is full"
    )
    assert f"north: {said}" in warnings
    assert summary.regions[0].not_written == [f"the {said}"]
    from monitor.cli.report import format_summary

    text = format_summary(summary)
    assert f"Not written (the detections and their alerts are kept):\n  north: the {said}" in text
    with Inventory(config.inventory.path) as inventory:
        assert len(inventory.landslides()) == 3


def test_a_landslide_outside_the_region_polygon_is_left_out(
    write_config: Callable[..., Path], manifest: Path, stand_ins: Callable[..., Any]
) -> None:
    """Found by a new user: the stack covers the polygon's bounding box, and a scar in a corner
    outside a valley-shaped region was stored and alerted. The north region here is its square
    without the north-west corner (about 280 m x 280 m), where its first scar lies."""
    from shapely.geometry import Polygon, mapping

    w, s, e, n = region_polygon(0.0).bounds
    notched = Polygon([(w, s), (e, s), (e, n), (w + 0.0035, n), (w + 0.0035, n - 0.0025),
                       (w, n - 0.0025)])  # fmt: skip
    data = _config_data(manifest)
    data["regions"][0]["geometry"] = mapping(notched)
    config = load_config(write_config(data))
    stand_ins()
    square = load_config(write_config(_config_data(manifest)))
    whole = run_module.detect_region(square, square.region("north"), RUN_DATE)
    result = run_module.detect_region(config, config.region("north"), RUN_DATE)
    assert whole.n_candidates == 2 and result.n_candidates == 1
    assert result.candidates is not None
    assert float(result.candidates["area_m2"].iloc[0]) < 7_000  # the 60-pixel scar stays


def test_the_summary_s_windows_are_said_once_per_distinct_windows() -> None:
    """Found in a walkthrough of 37 regions: the summary's Windows block held 37 lines, all
    alike. Regions that share their windows share a line; all of them, over three, are counted."""
    from types import SimpleNamespace

    from monitor.cli.report import _windows_lines

    def summary(*pairs: tuple[str, str]) -> Any:
        regions = [SimpleNamespace(region=r, windows=w) for r, w in pairs]
        return SimpleNamespace(regions=regions)

    same = "monitoring (latest): pre 2024-06-17/2024-08-16, post 2024-08-16/2024-09-15"
    many = summary(*[(f"r{i:02d}", same) for i in range(37)])
    assert _windows_lines(many) == [f"  all 37 regions: {same}"]
    failed = summary(*[(f"r{i:02d}", same if i else "") for i in range(37)])
    assert _windows_lines(failed) == [f"  all 37 but r00: {same}"]  # r00 failed (a review)
    other = "event 2024-09-01: pre 2024-07-03/2024-09-01, post 2024-09-02/2024-09-15"
    mixed = summary(("a", same), ("b", other), ("c", same), ("d", ""))
    assert _windows_lines(mixed) == [f"  a, c: {same}", f"  b: {other}"]
    assert _windows_lines(summary(("north", same))) == [f"  north: {same}"]


def test_a_run_hands_each_region_the_inventory_s_outlines_for_its_pictures(
    config: MonitorConfig, stand_ins: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pictures go to new detections first (found in a walkthrough of 147 daily runs): each
    region's detection is given the outlines the inventory holds of that region, in its grid's
    CRS, none on the first run."""
    stand_ins()
    given: dict[tuple[date, str], list[tuple[int, bytes]]] = {}
    real = run_module.write_quicklooks

    def recording(stack: Any, candidates: Any, *args: Any, **kwargs: Any) -> Any:
        given[(kwargs["run_date"], kwargs["region"])] = list(kwargs["known"])
        return real(stack, candidates, *args, **kwargs)

    monkeypatch.setattr(run_module, "write_quicklooks", recording)
    run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    later = date(2024, 9, 20)
    run_once(config, later, progress=False, deliver_alerts=False)
    assert given[(RUN_DATE, "north")] == [] and given[(RUN_DATE, "south")] == []
    with Inventory(config.inventory.path) as inventory:
        table = inventory.landslides()
    for region in ("north", "south"):
        mine = table[table["region"] == region]
        assert len(given[(later, region)]) == len(mine) > 0
        assert {epsg for epsg, _ in given[(later, region)]} == set(mine["local_epsg"])


def test_keep_pictures_days_deletes_the_old_pictures_nothing_names(
    write_config: Callable[..., Path],
    manifest: Path,
    stand_ins: Callable[..., Any],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found in a walkthrough of 147 daily runs: 257 MB of pictures, 5 of every 6 named by no
    landslide and no alert (the daily pictures of landslides already known). With
    ``quicklooks.keep_pictures_days`` a run deletes those of run dates more than that many days
    before its own; the pictures the inventory or an alert names, other files, and the
    pictures of recent runs stay, and folders left empty go."""
    data = _config_data(manifest)
    data["quicklooks"] = {"dir": "ql", "keep_pictures_days": 3, "keep_rasters_days": 3}
    config = load_config(write_config(data))
    stand_ins()
    days = [date(2024, 9, 10), date(2024, 9, 11), date(2024, 9, 12)]
    for day in days:
        run_once(config, day, progress=False, deliver_alerts=False)
    ql = tmp_path / "ql"
    before = {p.relative_to(ql).as_posix() for p in ql.rglob("candidate-*.png")}
    assert len(before) == 9  # 3 detections a day, each drawn every day
    stranger = ql / "2024-09-11" / "north" / "my-map.png"
    stranger.write_bytes(b"mine")
    with Inventory(config.inventory.path) as inventory:
        named = inventory.named_pictures()
    assert named and all(name.startswith("2024-09-10/") for name in named)  # first drawn
    with caplog.at_level(logging.INFO, logger="monitor.run"):
        run_once(config, RUN_DATE, progress=False, deliver_alerts=False)

    after = {p.relative_to(ql).as_posix() for p in ql.rglob("candidate-*.png")}
    old = {name for name in before if name < "2024-09-12"}
    assert after == (before - old) | named | {n for n in after if n.startswith("2024-09-15/")}
    assert named <= after and not (old - named) & after
    assert stranger.read_bytes() == b"mine"
    assert not (ql / "2024-09-11" / "south").exists()  # emptied of COGs and PNGs: removed
    assert (ql / "2024-09-11" / "north").is_dir()  # the stranger's file keeps it
    assert f"deleted {len(old - named)} picture(s) of runs before 2024-09-12" in caplog.text


def test_pictures_that_cannot_be_pruned_cost_the_run_nothing(
    write_config: Callable[..., Path],
    manifest: Path,
    stand_ins: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A picture that cannot be deleted (a read-only folder, say) is logged; the run detects,
    writes the inventory and completes as without ``quicklooks.keep_pictures_days``."""
    data = _config_data(manifest)
    data["quicklooks"] = {"dir": "ql", "keep_pictures_days": 3}
    config = load_config(write_config(data))
    stand_ins()

    def refused(*args: Any) -> tuple[int, int]:
        raise PermissionError(13, "Permission denied", "ql/2024-09-01/north")

    monkeypatch.setattr(run_module, "prune_pictures", refused)
    with caplog.at_level(logging.WARNING, logger="monitor.run"):
        summary = run_once(config, RUN_DATE, progress=False, deliver_alerts=False)
    assert summary.ok and summary.counts()["new"] == 3
    assert "quicklooks.keep_pictures_days: old pictures not deleted: [Errno 13]" in caplog.text
