"""`landslide-monitor dataset from-reviews`: confirmed landslides are positives, dismissed ones
hard negatives (0 over their area), unreviewed candidates and their margin ignored, and the
background known only near what was reviewed (``dataset.known_within_m``)."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from rasterio.features import rasterize
from shapely.affinity import translate
from shapely.geometry import Point, box

from models.datasets import REVIEWED_CANDIDATES_FILE
from models.lineage import dataset_sha256
from monitor.alerts.settings import AlertRouting, AlertSettings
from monitor.cli import main
from monitor.config import load_config
from monitor.grid import reproject, utm_crs_for
from monitor.ops._dataset_inventory import REVIEW_ROLES
from monitor.ops.dataset import scenes_from_reviews
from monitor.ops.filter_refit import read_reviewed
from monitor.pipeline.object_filter import FEATURES, features_id, pack_features
from monitor.store.inventory import Inventory
from monitor.store.records import LANDSLIDE_STATUSES, RegionDetections

RUN = date(2024, 9, 16)  # monitoring windows: post 2024-08-17..2024-09-16


def _candidates(geoms: list, crs: str) -> gpd.GeoDataFrame:
    data = {
        "region": "hills",
        "area_m2": [g.area for g in geoms],
        "prob_mean": 0.8, "prob_max": 0.97, "agreement": 0.9, "dNDVI_mean": -0.35,
        "dVV_mean": -1.5, "dVH_mean": -2.0, "slope_mean": 27.0, "setting": "S1+S2",
        "pre_date": "2024-08-10", "post_date": "2024-08-27",
    }  # fmt: skip
    return gpd.GeoDataFrame(data, geometry=geoms, crs=crs)


def test_reviews_become_positives_hard_negatives_and_ignored_areas(
    dataset_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crs = utm_crs_for(10.91, 44.35)
    c = reproject(Point(10.913, 44.350), "EPSG:4326", crs)
    confirmed = box(c.x - 200, c.y - 150, c.x - 60, c.y - 40)
    dismissed = box(c.x + 40, c.y - 150, c.x + 180, c.y - 60)
    unreviewed = box(c.x - 100, c.y + 120, c.x + 20, c.y + 220)
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        run_id = inventory.start_run(RUN, ["hills"], "archive")
        cands = _candidates([confirmed, dismissed, unreviewed], crs)
        routing = AlertRouting.from_settings(AlertSettings())
        inventory.apply(run_id, [RegionDetections("hills", "ok", candidates=cands)], routing)
        fids = list(inventory.landslides()["fid"])
        # nothing reviewed yet: refused with a hint that works as typed (the review map is
        # read-only: it gives the commands; the notebook has buttons)
        out = tmp_path / "reviews"
        assert (
            main(["-q", "dataset", "from-reviews", "-c", str(dataset_config), "--out", str(out)])
            == 2
        )
        assert (
            "review candidates first (`landslide-monitor inventory confirm --config "
            f"{dataset_config} ID` or `... dismiss ...`, as the review map's popups give them, "
            "or the buttons of notebooks/review.ipynb)"
        ) in capsys.readouterr().err.replace("\n", " ")
        inventory.set_status(int(fids[0]), "confirmed")
        inventory.set_status(int(fids[1]), "dismissed")
    assert (
        main(["-q", "dataset", "from-reviews", "-c", str(dataset_config), "--out", str(out)]) == 0
    )
    record = json.loads((out / "dataset.json").read_text())
    (scene_id,) = record["scenes"]["train"]
    assert scene_id == "hills_20240916_reviews"
    with rasterio.open(out / "train" / "label" / f"{scene_id}_label.tif") as src:
        raw, transform, shape = src.read(1), src.transform, src.shape
        assert src.crs.to_string() == crs

    def burn(geom: object) -> np.ndarray:
        return rasterize([(geom, 1)], out_shape=shape, transform=transform, dtype="uint8") > 0

    assert (raw[burn(confirmed)] == 1).all()
    assert int((raw == 1).sum()) == int(burn(confirmed).sum())
    assert (raw[burn(dismissed)] == 0).all()  # a hard negative, not ignored
    # the unreviewed candidate and a 50 m margin are ignored
    assert (raw[burn(unreviewed.buffer(45))] == 255).all()
    # background is known within 100 m of the two reviewed landslides, unknown beyond: a missed
    # landslide out there is not taught as background
    near = burn(confirmed.buffer(100)) | burn(dismissed.buffer(100))
    assert (raw[near & ~burn(confirmed) & ~burn(dismissed)] == 0).all()
    assert int((raw == 0).sum()) == int(near.sum()) - int((raw[near] == 1).sum())
    assert (raw[~burn(confirmed.buffer(105)) & ~burn(dismissed.buffer(105))] == 255).all()
    prov = json.loads((out / "train" / "provenance" / f"{scene_id}.json").read_text())
    assert prov["windows"] == {"pre": "2024-06-18/2024-08-17", "post": "2024-08-17/2024-09-16"}
    assert len(prov["confirmed"]) == len(prov["dismissed"]) == len(prov["ignored"]) == 1
    # composited as the run composited them (found by a user: event mode, whose dVV differed
    # by about 1 dB from the monitoring views the reviews judged)
    from monitor.config import load_config

    region = load_config(dataset_config).region("hills")
    assert prov["stack"]["compositing"] == region.windows.compositing().describe()
    assert prov["stack"]["compositing"].startswith("monitoring")

    # known_within_m: null makes the whole scene background but the ignored margin
    config = yaml.safe_load(dataset_config.read_text())
    config.setdefault("dataset", {})["known_within_m"] = None
    everywhere = tmp_path / "everywhere.yaml"
    everywhere.write_text(yaml.safe_dump(config))
    out2 = tmp_path / "reviews-everywhere"
    assert main(["-q", "dataset", "from-reviews", "-c", str(everywhere), "--out", str(out2)]) == 0
    with rasterio.open(out2 / "train" / "label" / f"{scene_id}_label.tif") as src:
        raw = src.read(1)
    ring = burn(unreviewed.buffer(120)) & ~burn(unreviewed.buffer(60))
    assert ring.any() and (raw[ring] == 0).all()
    assert int((raw == 255).sum()) == int(burn(unreviewed.buffer(50)).sum())
    # the same from the command line (found by a user: docs/configuration.md names the option
    # beside `null`, which it refused as "invalid float value")
    out3 = tmp_path / "reviews-none"
    argv = ["-q", "dataset", "from-reviews", "-c", str(dataset_config), "--out", str(out3)]
    assert main([*argv, "--known-within-m", "none"]) == 0
    with rasterio.open(out3 / "train" / "label" / f"{scene_id}_label.tif") as src:
        assert (src.read(1) == raw).all()


def test_the_scenes_are_the_views_the_run_read_not_the_configuration_s_now(
    dataset_config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in a walk: `dataset from-reviews` built each scene on the configuration's windows,
    compositing and orbit pass as they are now, not the run's (changed windows gave other
    scenes without a word; a region switched to event mode stopped the whole command)."""
    import logging

    crs = utm_crs_for(10.91, 44.35)
    c = reproject(Point(10.913, 44.350), "EPSG:4326", crs)
    confirmed = box(c.x - 200, c.y - 150, c.x - 60, c.y - 40)
    views = {"pre": "2024-07-08/2024-08-27", "post": "2024-08-27/2024-09-16",
             "mode": "monitoring", "radar_scenes": 1, "orbit_pass": "ascending"}  # fmt: skip
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        routing = AlertRouting.from_settings(AlertSettings())
        for day, recorded in ((RUN, views), (date(2024, 9, 20), None)):
            run_id = inventory.start_run(day, ["hills"], "archive")
            shifted = confirmed if recorded else translate(confirmed, 0, 400)
            detections = RegionDetections(
                "hills", "ok", candidates=_candidates([shifted], crs), views=recorded
            )
            inventory.apply(run_id, [detections], routing)
        assert inventory.run_views() == {(1, "hills"): views}
        for fid in inventory.landslides()["fid"]:
            inventory.set_status(int(fid), "confirmed")
    out = tmp_path / "reviews"
    argv = ["-q", "dataset", "from-reviews", "-c", str(dataset_config), "--out", str(out)]
    with caplog.at_level(logging.WARNING, logger="monitor.ops._dataset_reviews"):
        assert main(argv) == 0

    def provenance(scene: str) -> dict[str, Any]:
        (path,) = out.glob(f"*/provenance/{scene}.json")
        return dict(json.loads(path.read_text()))

    prov = provenance("hills_20240916_reviews")
    assert prov["windows"] == {"pre": views["pre"], "post": views["post"]}  # not 60/30 days
    assert prov["area"]["orbit_pass"] == "ascending"
    # the second run recorded none (an inventory of an earlier release): the configuration's
    later = provenance("hills_20240920_reviews")
    assert later["windows"] == {"pre": "2024-06-22/2024-08-21", "post": "2024-08-21/2024-09-20"}
    assert "1 reviewed landslide(s) were first drawn by runs that did not record their " in (
        caplog.text
    )
    # an event region whose windows hold neither run: the unrecorded run's scene is skipped,
    # the recorded one's made (the command stopped on a ValueError)
    config = yaml.safe_load(dataset_config.read_text())
    config["regions"][0]["windows"] = {"mode": "event", "event_date": "2024-09-25"}
    event = tmp_path / "event.yaml"
    event.write_text(yaml.safe_dump(config))
    out2 = tmp_path / "reviews-event"
    assert main(["-q", "dataset", "from-reviews", "-c", str(event), "--out", str(out2)]) == 0
    record = json.loads((out2 / "dataset.json").read_text())
    assert sorted(s for split in record["scenes"].values() for s in split) == [
        "hills_20240916_reviews"
    ]


def test_a_new_review_decision_rewrites_the_scene(
    dataset_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crs = utm_crs_for(10.91, 44.35)
    c = reproject(Point(10.913, 44.350), "EPSG:4326", crs)
    slides = [
        box(c.x - 200, c.y - 150, c.x - 60, c.y - 40),
        box(c.x + 40, c.y, c.x + 180, c.y + 90),
    ]
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        run_id = inventory.start_run(RUN, ["hills"], "archive")
        routing = AlertRouting.from_settings(AlertSettings())
        inventory.apply(
            run_id, [RegionDetections("hills", "ok", candidates=_candidates(slides, crs))], routing
        )
        first, second = (int(f) for f in inventory.landslides()["fid"])
        inventory.set_status(first, "confirmed")
    argv = [
        "-q",
        "dataset",
        "from-reviews",
        "-c",
        str(dataset_config),
        "--out",
        str(tmp_path / "r"),
    ]
    assert main(argv) == 0
    label = tmp_path / "r" / "train" / "label" / "hills_20240916_reviews_label.tif"
    with rasterio.open(label) as src:
        assert (src.read(1) == 255).any()  # the unreviewed one
    assert main(argv) == 0
    assert "; 1 already done" in capsys.readouterr().out  # nothing changed: resumed
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        inventory.set_status(second, "confirmed")
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("1 scene(s) written")  # rewritten, not resumed
    with rasterio.open(label) as src:
        raw = src.read(1)
    # both reviewed now: nothing unreviewed is ignored, only the ground beyond 100 m of them
    reviewed = rasterize(
        [(g.buffer(100), 1) for g in slides], out_shape=raw.shape, transform=src.transform
    )
    assert not (raw[reviewed > 0] == 255).any() and (raw[reviewed == 0] == 255).all()
    assert int((raw == 1).sum()) == (140 * 110 + 140 * 90) // 100


def test_a_later_runs_candidate_relabels_an_earlier_scene(
    dataset_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an operator rerunning from-reviews into the same folder after a daily run, no
    review changed: every scene was written again and the lineage of members fine-tuned on it
    stopped verifying (docs/models.md said only a new review decision rewrites a scene). A later
    run's unreviewed candidate is ignored over the earlier scenes too."""
    crs = utm_crs_for(10.91, 44.35)
    c = reproject(Point(10.913, 44.350), "EPSG:4326", crs)
    reviewed = box(c.x - 200, c.y - 150, c.x - 60, c.y - 40)
    later = box(c.x - 40, c.y - 150, c.x + 40, c.y - 70)  # 20 m east of it, in its known ring
    routing = AlertRouting.from_settings(AlertSettings())
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        run_id = inventory.start_run(date(2024, 9, 10), ["hills"], "archive")
        cands = _candidates([reviewed], crs)
        inventory.apply(run_id, [RegionDetections("hills", "ok", candidates=cands)], routing)
        (fid,) = (int(f) for f in inventory.landslides()["fid"])
        inventory.set_status(fid, "confirmed")
    out = tmp_path / "r"
    argv = ["-q", "dataset", "from-reviews", "-c", str(dataset_config), "--out", str(out)]
    assert main(argv) == 0
    label = out / "train" / "label" / "hills_20240910_reviews_label.tif"
    with rasterio.open(label) as src:
        before, transform = src.read(1), src.transform
    digest, _ = dataset_sha256(out)
    capsys.readouterr()
    with Inventory(tmp_path / "inventory.gpkg") as inventory:  # the next daily run
        run_id = inventory.start_run(RUN, ["hills"], "archive")
        cands = _candidates([later], crs)
        inventory.apply(run_id, [RegionDetections("hills", "ok", candidates=cands)], routing)
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("1 scene(s) written")  # not resumed
    with rasterio.open(label) as src:
        after = src.read(1)
    on_later = rasterize([(later, 1)], out_shape=after.shape, transform=transform) > 0
    assert (before[on_later] == 0).all() and (after[on_later] == 255).all()
    assert dataset_sha256(out)[0] != digest


def test_the_scene_key_follows_the_known_background() -> None:
    """A scene written with other label rules is not resumed (``known_within_m`` changed)."""
    from monitor.ops._dataset_core import SceneJob
    from monitor.sources.base import AreaOfInterest, Window

    area = AreaOfInterest("a", box(10.0, 44.0, 10.01, 44.01))
    window = Window(date(2024, 6, 1), date(2024, 7, 1))
    slide = box(10.002, 44.002, 10.003, 44.003)
    plain = SceneJob("s", area, window, window, "g", positive=[slide])
    near = SceneJob("s", area, window, window, "g", positive=[slide], background=255,
                    known=[slide.buffer(0.001)])  # fmt: skip
    wider = SceneJob("s", area, window, window, "g", positive=[slide], background=255,
                     known=[slide.buffer(0.002)])  # fmt: skip
    assert len({plain.key(), near.key(), wider.key()}) == 3
    assert plain.key() == SceneJob("s", area, window, window, "g", positive=[slide]).key()


def _features(value: float) -> bytes:
    return pack_features(np.full(len(FEATURES), value, np.float32))


def test_the_reviewed_detections_features_go_to_their_split_as_the_runs_scored_them(
    dataset_config: Path, tmp_path: Path
) -> None:
    """Every observation of a reviewed landslide that kept the filter's features becomes a row of
    its split's table, labelled by the review and named by what computed it: the largest
    detection's features where several matched, nothing for a run without a filter, and a refit
    reads only the rows of its own ensemble, each landslide counting once."""
    crs = utm_crs_for(10.91, 44.35)
    c = reproject(Point(10.913, 44.350), "EPSG:4326", crs)
    confirmed = box(c.x - 200, c.y - 150, c.x - 60, c.y - 40)
    sliver = box(c.x - 60, c.y - 60, c.x - 40, c.y - 40)  # touches it: the same landslide
    dismissed = box(c.x + 40, c.y - 150, c.x + 180, c.y - 60)
    unreviewed = box(c.x - 100, c.y + 120, c.x + 20, c.y + 220)
    routing = AlertRouting.from_settings(AlertSettings())
    path = tmp_path / "inventory.gpkg"
    ours, theirs = features_id("ours"), features_id("theirs")
    with Inventory(path) as inventory:
        runs: list[tuple[date, list[float | None], str]] = [
            (RUN, [1.0, 9.0, 2.0, 3.0], ours),
            (date(2024, 9, 19), [4.0, 9.0, None, 5.0], ours),
            (date(2024, 9, 22), [6.0, 9.0, 7.0, 8.0], theirs),  # after other members came in
        ]
        for run_date, values, made_by in runs:
            cands = _candidates([confirmed, sliver, dismissed, unreviewed], crs)
            cands["filter_features"] = [None if v is None else _features(v) for v in values]
            cands["filter_features_id"] = [None if v is None else made_by for v in values]
            run_id = inventory.start_run(run_date, ["hills"], "archive")
            inventory.apply(run_id, [RegionDetections("hills", "ok", candidates=cands)], routing)
        frame = inventory.landslides()
        assert len(frame) == 3
        inventory.set_status(int(frame["fid"].iloc[0]), "confirmed")
        inventory.set_status(int(frame["fid"].iloc[1]), "dismissed")
        logged, other = inventory.logged_features(frame["uid"])
        assert other == 0
        # the confirmed one: the big box's features on every date, never the sliver's (9)
        first = logged[frame["uid"].iloc[0]]
        assert [(r[0], i) for r, i in first] == [(1.0, ours), (4.0, ours), (6.0, theirs)]
        assert [r[0] for r, _ in logged[frame["uid"].iloc[1]]] == [2.0, 7.0]  # none on 09-19
    config = load_config(dataset_config)
    out = tmp_path / "reviews"
    report = scenes_from_reviews(config, out, progress=False)
    assert report.logged == {"train": (3, 2)}
    assert "the filter features of 3 confirmed and 2 dismissed" in report.format()
    table = read_reviewed(out / "train", ours)
    assert table.other == 2  # the rows of the other ensemble
    assert table.x.shape == (3, len(FEATURES)) and table.x.dtype == np.float32
    rows = zip(table.x[:, 0].tolist(), table.positive.tolist(), table.weight.tolist(), strict=True)
    # the confirmed landslide's two rows share its weight
    assert sorted(rows) == [(1.0, True, 0.5), (2.0, False, 1.0), (4.0, True, 0.5)]
    assert read_reviewed(out / "train", theirs).x[:, 0].tolist() == [6.0, 7.0]
    assert not (out / "val" / REVIEWED_CANDIDATES_FILE).exists()
    # the dataset's lineage hash is the scenes': a run that adds observations changes the table,
    # not the scenes that members were fine-tuned on
    digest, files = dataset_sha256(out)
    assert files == 2  # input and label
    with Inventory(path) as inventory:
        cands = _candidates([confirmed], crs)
        cands["filter_features"], cands["filter_features_id"] = [_features(5.5)], ours
        run_id = inventory.start_run(date(2024, 9, 25), ["hills"], "archive")
        inventory.apply(run_id, [RegionDetections("hills", "ok", candidates=cands)], routing)
    assert scenes_from_reviews(config, out, progress=False).logged == {"train": (4, 2)}
    assert dataset_sha256(out) == (digest, 2)
    # a row of another length (a version with other features) is left out, counted
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "UPDATE landslide_observations SET filter_features = ? WHERE run_date = '2024-09-25'",
            (b"\0" * 8,),
        )
    conn.close()
    with Inventory(path) as inventory:
        logged, other = inventory.logged_features(frame["uid"])
    assert other == 1 and len(logged[frame["uid"].iloc[0]]) == 3
    assert scenes_from_reviews(config, out, progress=False).logged == {"train": (3, 2)}
    # a table of the wrong width is refused with the file named
    np.savez(
        out / "train" / REVIEWED_CANDIDATES_FILE,
        features=table.x[:, :3],
        positive=table.positive,
        features_id=[ours] * 3,
        landslide=["a", "b", "c"],
    )
    with pytest.raises(ValueError, match=r"reviewed_candidates\.npz"):
        read_reviewed(out / "train", ours)


def test_the_inventory_is_only_read(
    dataset_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user: `dataset from-reviews` opened the inventory for writing (schema
    statements, a new file header), so it changed the file it only reads and an empty file
    became an 86 kB GeoPackage with no landslide. It now leaves the file byte for byte, and a
    file that holds no inventory is named."""
    crs = utm_crs_for(10.91, 44.35)
    c = reproject(Point(10.913, 44.350), "EPSG:4326", crs)
    path = tmp_path / "inventory.gpkg"
    with Inventory(path) as inventory:
        run_id = inventory.start_run(RUN, ["hills"], "archive")
        cands = _candidates(
            [
                box(c.x - 200, c.y - 150, c.x - 60, c.y - 40),
                box(c.x + 40, c.y - 150, c.x + 180, c.y - 60),
            ],
            crs,
        )
        inventory.apply(
            run_id,
            [RegionDetections("hills", "ok", candidates=cands)],
            AlertRouting.from_settings(AlertSettings()),
        )
        first, second = (int(f) for f in inventory.landslides()["fid"])
        inventory.set_status(first, "confirmed")
        inventory.set_status(second, "dismissed")
    before = path.read_bytes()
    out = tmp_path / "reviews"
    assert (
        main(["-q", "dataset", "from-reviews", "-c", str(dataset_config), "--out", str(out)]) == 0
    )
    assert path.read_bytes() == before

    path.write_bytes(b"")
    capsys.readouterr()
    assert (
        main(["-q", "dataset", "from-reviews", "-c", str(dataset_config), "--out", str(out)]) == 2
    )
    err = capsys.readouterr().err
    assert f"inventory {path} is empty (0 bytes): restore it from a backup" in err
    assert path.read_bytes() == b""


def test_none_is_the_null_of_known_within_m_alone(dataset_config: Path) -> None:
    """Found in review: `none` was read as the null of every option, so a layer or a column
    named `none` was dropped."""
    from argparse import Namespace

    from monitor.config import load_config
    from monitor.ops.dataset import _settings

    config = load_config(dataset_config)
    settings = _settings(config, Namespace(layer="none", known_within_m="none"))
    assert settings.layer == "none" and settings.known_within_m is None


def test_an_inventory_export_given_to_dataset_export_labels_its_reviews(
    dataset_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's walk: `dataset export` read the monitor's own `inventory export`
    as an inventory of landslides, and labelled its dismissed false alarms and its unreviewed
    candidates 1. Now its confirmed entries are the landslides, dismissed ones background (0)
    and unreviewed ones ignored (255) where a scene holds them, each counted."""
    crs = utm_crs_for(10.91, 44.35)
    c = reproject(Point(10.913, 44.350), "EPSG:4326", crs)
    confirmed = box(c.x - 200, c.y - 150, c.x - 60, c.y - 40)
    dismissed = box(c.x + 40, c.y - 150, c.x + 180, c.y - 60)
    unreviewed = box(c.x - 100, c.y + 120, c.x + 20, c.y + 220)
    cands = _candidates([confirmed, dismissed, unreviewed], crs).assign(
        s2_event_after="2024-08-16", s2_event_before="2024-08-18"
    )
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        run_id = inventory.start_run(RUN, ["hills"], "archive")
        routing = AlertRouting.from_settings(AlertSettings())
        inventory.apply(run_id, [RegionDetections("hills", "ok", candidates=cands)], routing)
        fids = list(inventory.landslides()["fid"])
        inventory.set_status(int(fids[0]), "confirmed")
        inventory.set_status(int(fids[1]), "dismissed")
        uids = list(inventory.landslides()["uid"])
        exported = inventory.export(tmp_path / "inv.geojson")
    out = tmp_path / "ds"
    argv = ["-q", "dataset", "export", "--config", str(dataset_config), "--inventory"]
    options = ["--date-column", "event_before", "--id-column", "uid", "--views", "event"]
    assert main([*argv, str(exported), *options, "--out", str(out)]) == 0
    record = json.loads((out / "dataset.json").read_text())
    [(split, [scene_id])] = [(k, ids) for k, ids in record["scenes"].items() if ids]
    assert scene_id == f"hills_20240818_{uids[0]}"
    skipped = record["inventory"]["skipped_ids"]
    assert skipped == {
        "dismissed in the inventory (a false alarm): no scene of its own, labelled 0 where "
        "another's scene holds it": [uids[1]],
        "candidate in the inventory (not reviewed): no scene of its own, labelled 255 (ignore) "
        "where another's scene holds it": [uids[2]],
    }
    with rasterio.open(out / split / "label" / f"{scene_id}_label.tif") as src:
        raw, transform, shape = src.read(1), src.transform, src.shape

    def burn(geom: object) -> np.ndarray:
        return rasterize([(geom, 1)], out_shape=shape, transform=transform, dtype="uint8") > 0

    assert burn(dismissed).any() and burn(unreviewed).any()  # all three in the scene
    assert int((raw == 1).sum()) == int(burn(confirmed).sum())
    assert (raw[burn(confirmed)] == 1).all()
    assert (raw[burn(dismissed)] == 0).all()
    assert int((raw == 255).sum()) == int(burn(unreviewed).sum())
    assert (raw[burn(unreviewed)] == 255).all()
    # a polygon file with other statuses, or none, is an inventory of landslides as before
    assert set(REVIEW_ROLES) == set(LANDSLIDE_STATUSES)  # every status has its role
    # found in review: one blank or misspelt status made the whole file landslides again
    edited = gpd.read_file(exported)
    edited["status"] = ["Confirmed", None, "candidate"]  # a blank cell, read as NaN
    edited.to_file(tmp_path / "edited.geojson", driver="GeoJSON")
    capsys.readouterr()
    assert main([*argv, str(tmp_path / "edited.geojson"), *options, "--out", str(out)]) == 2
    # named by its uid too (--id-column uid), what a user searches the file for
    assert (
        "column status, not a review status (candidate, confirmed, dismissed) in a file of "
        f"them, as an `inventory export` holds: feature 2 (uid {edited['uid'][1]}): none"
    ) in capsys.readouterr().err
    frame = gpd.read_file(exported).assign(status="mapped")
    frame.to_file(tmp_path / "other.geojson", driver="GeoJSON")
    out2 = tmp_path / "ds2"
    assert main([*argv, str(tmp_path / "other.geojson"), *options, "--out", str(out2)]) == 0
    record = json.loads((out2 / "dataset.json").read_text())
    assert sum(len(ids) for ids in record["scenes"].values()) == 3


@pytest.mark.parametrize(
    ("record", "by"),
    [({"command": "export"}, "`dataset export`"), ({"region": "r1"}, "another tool")],
)
def test_a_folder_another_command_wrote_is_refused(
    tmp_path: Path, record: dict[str, str], by: str
) -> None:
    """Found by a walkthrough: `dataset from-reviews --out` a copy of a `dataset export`
    folder mixed 13 review scenes into its 184, overwrote its dataset.json, and the report's
    hint (--prune) would have deleted the exported scenes. A folder whose record names another
    command, or none (the simulator's training sets), is refused before anything is written."""
    from types import SimpleNamespace

    from monitor.errors import BadInput
    from monitor.ops._dataset_write import write_jobs

    out = tmp_path / "left-out"
    (out / "train" / "input").mkdir(parents=True)
    (out / "train" / "input" / "s1_input.tif").write_bytes(b"an exported scene")
    (out / "dataset.json").write_text(json.dumps(record))
    source: Any = SimpleNamespace(name="archive")
    with pytest.raises(BadInput, match=f"says {by} wrote it, not `dataset from-reviews`"):
        write_jobs([], source, out, dataset_record={"command": "from-reviews"}, prune=True)
    assert json.loads((out / "dataset.json").read_text()) == record  # untouched
    assert (out / "train" / "input" / "s1_input.tif").exists()
    # the same command resumes its own folder; one without a record (a first run cut off
    # before writing it) is taken
    if record.get("command") == "export":
        write_jobs([], source, out, dataset_record={"command": "export"})
    (out / "dataset.json").write_text("{not json")  # damaged: said so, not "another tool"
    with pytest.raises(BadInput, match=r"dataset\.json cannot be read"):
        write_jobs([], source, out, dataset_record={"command": "from-reviews"})
    (out / "dataset.json").unlink()
    write_jobs([], source, out, dataset_record={"command": "from-reviews"})
    assert json.loads((out / "dataset.json").read_text())["command"] == "from-reviews"
