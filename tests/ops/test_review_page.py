"""The review page's content, without a browser: one feature per landslide in the right status
layer, ages, popups with attributes and quicklooks, region selection, an empty inventory, markup
in the inventory escaped, the Earth Engine composite layers' graphs, and the CLI."""

from __future__ import annotations

import errno
import json
import re
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import MonitorConfig
from monitor.errors import BadInput
from monitor.ops.review import (
    age_class,
    build_review_map,
    load_review_data,
    write_review_page,
)


def _features(page: Path) -> list[dict]:
    """The GeoJSON features embedded in a written page."""
    text = page.read_text(encoding="utf-8")
    features: list[dict] = []
    for blob in re.findall(r"_add\((\{.*\})\);$", text, flags=re.M):
        data = json.loads(blob)
        features.extend(f for f in data.get("features", []) if "fid" in f["properties"])
    return features


@pytest.mark.parametrize(
    ("days", "name"),
    [(0, "new"), (7, "new"), (8, "recent"), (30, "recent"), (31, "older"), (400, "older")],
)
def test_age_classes(days: int, name: str) -> None:
    assert age_class(days)[0].startswith(name)


def test_page_has_one_feature_per_landslide_with_popup_and_quicklook(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path
) -> None:
    config, n_rows = populated_config
    page = write_review_page(config, tmp_path / "page" / "review.html")
    assert page.as_of == date(2024, 9, 14)  # the latest run date of the inventory
    assert page.by_status == {"candidate": 4, "confirmed": 1, "dismissed": 1}
    features = _features(page.path)
    assert len(features) == n_rows == 6
    ages = sorted(f["properties"]["age_class"].split()[0] for f in features)
    assert ages == ["new", "older", "older", "recent", "recent", "recent"]
    first = min(features, key=lambda f: f["properties"]["fid"])
    popup = first["properties"]["popup"]
    assert "First seen</th><td>2024-08-01 (44 days)" in popup
    # acquisitions' UTC days, said so (found walking through dates: a local date can differ)
    assert "Event between (UTC days)</th><td>2024-08-16 and 2024-08-21" in popup
    assert "Dated by (UTC days)</th><td>S2 2024-08-16 – 2024-08-21" in popup
    # the detector's second look, not the reviewer's decision: "Confirmed by optical" on a
    # dismissed landslide read as a contradiction
    assert "Second look</th><td>optical" in popup
    assert "6,400 m²" in popup or "3,600 m²" in popup
    assert popup.count("data:image/png;base64,") == 1
    # its height too (96 x 48 px shown 360 wide): a popup laid out before the picture loaded
    # opened with its top above the map (found by an analyst)
    assert "width='360' height='180'" in popup
    assert first["properties"]["status"] == "confirmed"  # offered the other decision, not this
    assert f"inventory dismiss --config {config.path} {first['properties']['fid']}" in popup
    html = page.path.read_text(encoding="utf-8")
    assert "ls-filter" in html and "landslideReview" in html and "L.control.layers" in html
    # the dismissed landslide's grey fill is in the legend (an analyst read it as an age)
    assert "<i style='background:#bdbdbd'></i>dismissed (any age)" in html

    linked = write_review_page(config, tmp_path / "linked.html", embed_quicklooks=False)
    popups = [f["properties"]["popup"] for f in _features(linked.path)]
    assert not any("base64" in p for p in popups)
    assert sum("quicklooks/2024-" in p for p in popups) == 6  # relative links to the PNGs


def test_region_selection_and_empty_inventory(
    populated_config: tuple[MonitorConfig, int], ops_config: MonitorConfig, tmp_path: Path
) -> None:
    config, _ = populated_config
    data = load_review_data(config, regions=["emilia-hills"])
    assert len(data.landslides) == 3 and list(data.regions) == ["emilia-hills"]
    with pytest.raises(BadInput, match="no region named 'nowhere'"):
        load_review_data(config, regions=["nowhere"])

    config.inventory.path.unlink()  # no run yet: the map shows the regions only
    page = write_review_page(config, tmp_path / "empty.html")
    assert page.n_landslides == 0 and page.as_of is None
    assert _features(page.path) == []
    assert "No landslides in the inventory yet" in page.path.read_text(encoding="utf-8")
    assert not config.inventory.path.exists()  # reviewing never creates the inventory


def test_a_region_without_landslides_does_not_call_the_inventory_empty(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path
) -> None:
    """Found on a review walk: `review --region R` for a region with no landslide yet (a region
    just added) said "No landslides in the inventory yet" over an inventory that held some."""
    import sqlite3
    from contextlib import closing

    config, n_rows = populated_config
    with closing(sqlite3.connect(config.inventory.path)) as conn, conn:
        conn.execute("UPDATE landslides SET region = 'emilia-hills'")
    page = write_review_page(config, tmp_path / "one.html", regions=["wayanad-hills"])
    assert page.n_landslides == 0
    text = page.path.read_text(encoding="utf-8")
    assert "No landslides in the inventory yet" not in text
    assert "No landslides of wayanad-hills in the inventory yet" in text
    everything = write_review_page(config, tmp_path / "all.html")
    assert everything.n_landslides == n_rows
    assert "No landslides" not in everything.path.read_text(encoding="utf-8")


def test_map_is_a_geemap_folium_map() -> None:
    import geopandas as gpd

    from monitor.ops.review import ReviewData

    m = build_review_map(
        ReviewData(
            landslides=gpd.GeoDataFrame({"fid": [], "status": []}, geometry=[], crs="EPSG:4326")
        )
    )
    assert type(m).__module__ == "geemap.foliumap"


def test_earth_engine_composites_are_the_greenest_pixel_and_vv_median_of_each_window() -> None:
    import ee

    from gee_scripts.offline import find_invocations, graph_tree, initialize_offline
    from gee_scripts.review_layers import composite_layers
    from gee_scripts.settings import GeeSettings

    initialize_offline()
    settings = GeeSettings(project="test-project")
    geometry = ee.Geometry.Rectangle([10.87, 44.33, 10.93, 44.37])
    pre, post = ("2024-06-17", "2024-08-16"), ("2024-08-16", "2024-09-15")
    layers = composite_layers(geometry, pre, post, "both", settings)
    assert [label.split(" ")[:3] for label, _, _ in layers] == [
        ["Sentinel-2", "pre-event", "2024-06-17/2024-08-16"],
        ["Sentinel-1", "VV", "pre-event"],
        ["Sentinel-2", "post-event", "2024-08-16/2024-09-15"],
        ["Sentinel-1", "VV", "post-event"],
    ]
    s2_post = graph_tree(layers[2][1])
    (mosaic,) = find_invocations(s2_post, "ImageCollection.qualityMosaic")
    assert mosaic["args"]["qualityBand"] == "NDVI"
    dates = json.dumps(s2_post)
    assert "2024-08-16" in dates and "2024-09-15" in dates and "2024-06-17" not in dates
    assert layers[0][2]["bands"] == ["red", "green", "blue"]
    # The radar layer: linear power from S1_GRD_FLOAT, shown in dB (-20 to 0).
    s1_post = graph_tree(layers[3][1])
    (load,) = find_invocations(s1_post, "ImageCollection.load")
    assert load["args"]["id"] == "COPERNICUS/S1_GRD_FLOAT"
    # the median of each scene's dB, as the detector takes it: of an even number of scenes the
    # median of linear power (the mean of the middle two) is not that of dB (found in review)
    (median,) = find_invocations(s1_post, "reduce.median")
    (log10,) = find_invocations(median["args"]["collection"], "Image.log10")
    assert "ref" in log10["args"]["value"]  # inside the map over the scenes
    assert (layers[3][2]["min"], layers[3][2]["max"]) == (-20.0, 0.0)


def test_in_monitoring_the_post_layers_are_what_the_detector_compared() -> None:
    """The post layer was a greenest-pixel composite in every mode: in monitoring it showed the
    vegetation of the days before a fresh scar the detector had seen, and a reviewer could
    dismiss a true landslide. It is the latest clear observation, and the radar the mean in dB
    of the last scenes per track; the baseline stays the greenest pixel."""
    import ee

    from gee_scripts.offline import find_invocations, graph_tree, initialize_offline
    from gee_scripts.review_layers import composite_layers
    from gee_scripts.settings import GeeSettings
    from models.change_statistics import Compositing

    initialize_offline()
    geometry = ee.Geometry.Rectangle([10.87, 44.33, 10.93, 44.37])
    pre, post = ("2024-06-17", "2024-08-16"), ("2024-08-16", "2024-09-15")
    watch = Compositing("monitoring", radar_scenes=2)
    layers = composite_layers(
        geometry, pre, post, "both", GeeSettings(project="test-project"), watch
    )
    labels = [label for label, _, _ in layers]
    assert labels[0].endswith("(greenest pixel)") and labels[2].endswith("(latest clear)")
    assert labels[3].endswith("(mean of the last 2 per track)")

    def quality_band(image: ee.Image) -> str:
        (mosaic,) = find_invocations(graph_tree(image), "ImageCollection.qualityMosaic")
        return str(mosaic["args"]["qualityBand"])

    assert (quality_band(layers[0][1]), quality_band(layers[2][1])) == ("NDVI", "day")
    s1_post = json.dumps(graph_tree(layers[3][1]))
    assert '"reduce.mean"' in s1_post and '"reduce.median"' not in s1_post
    assert "acquisition_day" in s1_post and "relativeOrbitNumber_start" in s1_post
    # per pixel, the last 2 passes of each track that saw it (found in review: untested here)
    kept = [
        c["args"]["image2"]["args"]["value"]
        for c in find_invocations(graph_tree(layers[3][1]), "Image.lt")
        if c["args"]["image1"].get("fn") == "Image.unmask"
    ]
    assert kept == [2]
    # both windows over the tracks both saw at each pixel (found on a walk: another track's
    # baseline made the tracks' difference a change): a view of the image's track in the other
    # window, or none of any
    for layer in (layers[1][1], layers[3][1]):
        seen = [
            c["args"]["image2"]["args"]["value"]
            for c in find_invocations(graph_tree(layer), "Image.gt")
            if c["args"]["image1"].get("fn") == "Image.unmask"
        ]
        assert seen == [0, 0]


def test_review_cli_writes_the_page_and_refuses_an_unknown_region(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = populated_config
    out = tmp_path / "cli.html"
    assert main(["review", "--config", str(config.path), "--output", str(out)]) == 0
    assert "6 landslides: 4 candidate, 1 confirmed, 1 dismissed" in capsys.readouterr().out
    assert len(_features(out)) == 6
    assert main(["review", "--config", str(config.path), "--region", "nowhere"]) == 2
    assert "no region named 'nowhere'" in capsys.readouterr().err
    # a region removed from the configuration keeps its entries, which its name still shows
    # (found by an agency's walk: refused as 'no region named', though `inventory list` had it)
    import yaml

    assert config.path is not None
    data = yaml.safe_load(config.path.read_text())
    data["regions"] = [r for r in data["regions"] if r["name"] != "emilia-hills"]
    removed = config.path.with_name("without_emilia.yaml")
    removed.write_text(yaml.safe_dump(data))
    out_removed = tmp_path / "removed.html"
    argv = ["review", "--config", str(removed), "--region", "emilia-hills", "-o", str(out_removed)]
    assert main(argv) == 0
    assert {f["properties"]["region"] for f in _features(out_removed)} == {"emilia-hills"}
    assert len(_features(out_removed)) == 3
    # found by an SRE's walk: a folder on a read-only mount gave a raw OSError, exit 1
    import monitor.ops.review as review_module

    def read_only(path: Path, write: object) -> Path:
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(review_module, "write_atomically", read_only)
        assert main(["review", "--config", str(config.path), "--output", str(out)]) == 2
    assert f"cannot write the review page {out}: Read-only file system" in (capsys.readouterr().err)

    # a folder gets review.html in it; a name that is not .html, or a folder that cannot be
    # made, is bad input before any work, named
    folder = tmp_path / "pages"
    folder.mkdir()
    assert main(["review", "--config", str(config.path), "-o", str(folder)]) == 0
    assert len(_features(folder / "review.html")) == 6
    assert f"review page: {(folder / 'review.html').resolve()}" in capsys.readouterr().out
    made = f"{tmp_path / 'new-pages'}/"  # a trailing separator: a folder, made
    assert main(["review", "--config", str(config.path), "-o", made]) == 0
    assert (tmp_path / "new-pages" / "review.html").is_file()
    capsys.readouterr()
    assert main(["review", "--config", str(config.path), "-o", str(tmp_path / "page.png")]) == 2
    assert "page.png: the review page is an HTML file; name it .html" in capsys.readouterr().err
    # found by a new user: .htm passed this check and the page's writer then refused it,
    # 'ValueError: The output file extension must be html.', exit status 1
    assert main(["review", "--config", str(config.path), "-o", str(tmp_path / "page.htm")]) == 2
    assert "page.htm: the review page is an HTML file; name it .html" in capsys.readouterr().err
    assert not (tmp_path / "page.htm").exists()
    # a new folder without its trailing slash is told how to ask for one (an analyst)
    assert main(["review", "--config", str(config.path), "-o", str(tmp_path / "newdir")]) == 2
    assert f"name it .html, or {tmp_path / 'newdir'}/ for a folder to make" in (
        capsys.readouterr().err
    )
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert main(["review", "--config", str(config.path), "-o", str(blocked / "x.html")]) == 2
    assert "x.html: cannot make its folder" in capsys.readouterr().err


def test_review_earth_engine_flag_without_an_earth_engine_source_is_bad_input(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # found on a review walk: `review --earth-engine` on the demo (archive source) built the
    # page, then ended with "error: ValueError: Earth Engine layers need ..." and exit 1 (an
    # unexpected error), though it is an argument that does not fit the configuration
    config, _ = populated_config
    out = tmp_path / "ee.html"
    argv = ["review", "--config", str(config.path), "-o", str(out), "--earth-engine"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--earth-engine: Earth Engine layers need `source: {type: gee}`" in err
    assert "ValueError" not in err
    assert not out.exists()  # refused before any work


def test_earth_engine_layers_are_added_per_region_when_the_source_is_gee(
    tmp_path: Path, untrained_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gee_scripts import auth
    from gee_scripts.offline import initialize_offline
    from monitor.config import load_config
    from monitor.ops.review import add_ee_composites
    from tests.ops.ops_fixtures import write_config

    path = write_config(tmp_path, untrained_manifest)
    path.write_text(
        path.read_text().replace(
            "{type: archive, path: archive}", "{type: gee, project: demo-project}"
        )
    )
    config = load_config(path)
    initialize_offline()
    initialized = []
    monkeypatch.setattr(auth, "initialize", lambda settings: initialized.append(settings.project))

    class RecordingMap:
        def __init__(self) -> None:
            self.layers: list[tuple[str, dict, bool]] = []
            self.images: list[Any] = []

        def add_layer(self, image, vis, name, shown=True):
            self.layers.append((name, vis, shown))
            self.images.append(image)

    m = RecordingMap()
    names = add_ee_composites(m, config, date(2024, 9, 15), regions=["emilia-hills"])
    assert initialized == ["demo-project"]
    assert names == [name for name, _, _ in m.layers]
    assert names == [
        "emilia-hills: Sentinel-2 pre-event 2024-06-17/2024-08-16 (greenest pixel)",
        "emilia-hills: Sentinel-1 VV pre-event 2024-06-17/2024-08-16 (mean)",
        "emilia-hills: Sentinel-2 post-event 2024-08-16/2024-09-15 (latest clear)",
        "emilia-hills: Sentinel-1 VV post-event 2024-08-16/2024-09-15"
        " (mean of the last 1 per track)",
    ]  # the region's monitoring composites (the demo's default)
    assert all(shown is False for _, _, shown in m.layers)  # off until the reviewer ticks them
    # the optical layers take the detector's mask of ground in self-shadow (each scene's sun
    # on the region's DEM), so a slope facing away from a low sun shows the view the detector
    # kept; the radar layers read no sun
    from gee_scripts.offline import find_invocations, graph_tree

    def reads_the_sun(image: Any) -> bool:
        gets = find_invocations(graph_tree(image), "Element.get")
        return any(c["args"]["property"] == "MEAN_SOLAR_ZENITH_ANGLE" for c in gets)

    assert [reads_the_sun(image) for image in m.images] == [True, False, True, False]


def test_markup_in_the_inventory_and_region_names_reaches_the_page_escaped(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path
) -> None:
    from tests.ops.ops_fixtures import HOSTILE_REGION, HOSTILE_TEXT, edit_inventory_by_hand

    config, n_rows = populated_config
    assert edit_inventory_by_hand(config, HOSTILE_TEXT) == n_rows == 6
    data = load_review_data(config)
    data.regions[HOSTILE_REGION] = data.regions.pop("emilia-hills")
    page = tmp_path / "hostile.html"
    build_review_map(data, title="<img src=x onerror=alert(3)>").save(str(page))

    features = _features(page)
    assert len(features) == 6
    for feature in features:
        props = feature["properties"]
        # the HTML that Leaflet will set as innerHTML holds no tag from the data
        for html_text in (props["popup"], props["tooltip"]):
            assert "<img src=x" not in html_text and "<script" not in html_text
            assert "<svg" not in html_text and "' onerror=" not in html_text
        assert props["tooltip"].startswith(f"#{props['fid']} &lt;img src=x onerror=")
        for field in ("region", "setting"):
            assert escape(HOSTILE_TEXT[field]) in props["popup"]
        assert escape(HOSTILE_TEXT["quicklook"]) in props["popup"]  # "quicklook missing: ..."
        assert props["region"] == HOSTILE_TEXT["region"]  # as data (JSON), it is kept verbatim
    text = page.read_text(encoding="utf-8")
    # no hostile string appears raw anywhere in the file (scripts hold it JSON-escaped)
    for hostile in (*HOSTILE_TEXT.values(), HOSTILE_REGION, "<img src=x onerror=alert(3)>"):
        assert hostile not in text
    # the watched regions' tooltips are escaped HTML carried as JSON, bound by the page's script
    blobs = [json.loads(b) for b in re.findall(r"_add\((\{.*\})\);$", text, flags=re.M)]
    tooltips = [
        f["properties"]["tooltip"]
        for blob in blobs
        for f in blob.get("features", [])
        if "name" in f["properties"]
    ]
    assert sorted(tooltips) == sorted(
        f"watched region {escape(name)}" for name in ("wayanad-hills", HOSTILE_REGION)
    )


def test_a_quicklook_path_to_a_file_that_is_no_png_is_not_embedded(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path
) -> None:
    """The page embeds each quicklook's bytes so it can be mailed or archived; a hand-edited
    inventory whose quicklook names another file (a service-account key) put that file, in
    base64, in the page."""
    import base64

    from tests.ops.ops_fixtures import edit_inventory_by_hand

    config, n_rows = populated_config
    secret = tmp_path / "service-account.json"
    secret.write_text('{"private_key": "-----BEGIN PRIVATE KEY-----TOPSECRET"}')
    assert edit_inventory_by_hand(config, {"quicklook": str(secret)}) == n_rows == 6
    page = write_review_page(config, tmp_path / "review.html")
    text = page.path.read_text(encoding="utf-8")
    assert base64.b64encode(secret.read_bytes()).decode() not in text
    popups = [f["properties"]["popup"] for f in _features(page.path)]
    assert all(f"quicklook is not a PNG: {escape(str(secret))}" in p for p in popups)
    linked = write_review_page(config, tmp_path / "linked.html", embed_quicklooks=False)
    assert "service-account.json'" not in linked.path.read_text(encoding="utf-8")  # no link


def test_popup_shows_the_object_filter_score_and_suppression() -> None:
    from monitor.ops.review_data import _popup_html

    row = {"fid": 7, "region": "r", "status": "candidate", "filter_score": 0.123, "suppressed": 1}
    popup = _popup_html(row, None, False, None, None)
    assert "Object filter</th><td>0.12 (suppressed: no alert)</td>" in popup
    kept = _popup_html({**row, "suppressed": 0, "filter_score": 0.91}, None, False, None, None)
    assert "Object filter</th><td>0.91</td>" in kept
    old = _popup_html({"fid": 8}, None, False, None, None)  # an inventory without the columns
    assert "Object filter</th><td>–</td>" in old
    # found on a review walk: a suppressed landslide the reviewer confirmed is alerted when it is
    # detected again (docs/alerts.md, Suppressed), yet its popup still said "no alert"
    confirmed = _popup_html({**row, "status": "confirmed"}, None, False, None, None)
    text = "Object filter</th><td>0.12 (suppressed; confirmed: alerted when detected)</td>"
    assert text in confirmed and "suppressed: no alert" not in confirmed
    dismissed = _popup_html({**row, "status": "dismissed"}, None, False, None, None)
    assert "Object filter</th><td>0.12 (suppressed: no alert)</td>" in dismissed
    # a disaster agency's walk: an entry alerted, then flagged by a later revision (as entries
    # were before 2026-12-07), read "suppressed: no alert" though its alert had gone out
    alerted = _popup_html({**row, "alerted_on": "2024-09-09"}, None, False, None, None)
    assert "Object filter</th><td>0.12 (below the cut; alerted on 2024-09-09)</td>" in alerted


def test_a_page_of_suppressed_landslides_never_alerted_is_written(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path
) -> None:
    """Found by a geological survey's walk: `review` failed ("alerted_on: date nan is not a
    date") on every inventory holding a suppressed landslide never alerted, nearly any run's:
    the inventory's empty alerted_on reads as NaN, which the popup took for a date."""
    from tests.ops.ops_fixtures import edit_inventory_by_hand

    config, n_rows = populated_config
    fields = {"suppressed": "1", "filter_score": "0.05", "alerted_on": None}
    assert edit_inventory_by_hand(config, fields) == n_rows == 6
    page = write_review_page(config, tmp_path / "review.html")
    popups = [f["properties"]["popup"] for f in _features(page.path)]
    assert len(popups) == 6
    said = [re.findall(r"Object filter</th><td>([^<]*)</td>", p) for p in popups]
    # the fixture's one confirmed landslide is alerted when it is detected again
    assert sorted(said) == [["0.05 (suppressed: no alert)"]] * 5 + [
        ["0.05 (suppressed; confirmed: alerted when detected)"]
    ]


def test_popup_says_a_reviewer_s_alert_and_an_unknown_lower_bound() -> None:
    """Found by an analyst: a landslide a reviewer confirmed before its second look, then
    alerted by the next run, read "Second look: not yet (no alert sent)"; a bracket without a
    lower bound read "S1 – – 2024-08-17"."""
    from monitor.ops.review_data import _popup_html

    row = {"fid": 9, "status": "confirmed", "s1_event_before": "2024-08-17",
           "event_before": "2024-08-17"}  # fmt: skip
    waiting = _popup_html(row, None, False, None, None)
    assert "Second look</th><td>not yet (no alert sent)" in waiting
    assert "Dated by (UTC days)</th><td>S1 ? – 2024-08-17" in waiting
    # and the bracket above it ("– and 2024-08-17"; found in a walkthrough)
    assert "Event between (UTC days)</th><td>? and 2024-08-17" in waiting
    alerted = _popup_html({**row, "alerted_on": "2024-08-25"}, None, False, None, None)
    assert "Second look</th><td>not yet (alerted on 2024-08-25, confirmed by a reviewer)" in (
        alerted
    )
    done = _popup_html({**row, "alerted_on": "2024-08-25", "confirmation": "optical"}, None,
                       False, None, None)  # fmt: skip
    assert "Second look</th><td>optical" in done


def test_popup_age_of_a_landslide_first_seen_after_the_as_of_date() -> None:
    """Found by a new user: `review --as-of` before a landslide's first run printed its age as
    '(-15 days)'."""
    from monitor.ops.review_data import _popup_html

    row = {"fid": 7, "region": "r", "status": "candidate", "first_seen": "2024-08-16"}
    assert "2024-08-16 (15 days after the as-of date)" in _popup_html(row, -15, False, None, None)
    assert "2024-08-16 (3 days)" in _popup_html(row, 3, False, None, None)
    assert "-15" not in _popup_html(row, -15, False, None, None)


def test_a_moved_inventory_shows_the_quicklooks_beside_it(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path
) -> None:
    """The inventory stores where the run wrote each picture; moved with its quicklooks (a new
    disk, a restored backup), the page reads them from the configured folder."""
    import shutil

    from monitor.config import load_config
    from monitor.ops.review_data import load_review_data

    config, _ = populated_config
    assert config.path is not None
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("monitor.yaml", "inventory.gpkg", "quicklooks"):
        source = config.path.parent / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, moved / name)
    shutil.rmtree(config.path.parent / "quicklooks")
    data = load_review_data(load_config(moved / "monitor.yaml"))
    pictures = [p for p in data.landslides["quicklook"] if p]
    assert len(pictures) == 6
    assert all(Path(p).is_file() and Path(p).is_relative_to(moved) for p in pictures)
    page = write_review_page(load_config(moved / "monitor.yaml"), moved / "review.html")
    assert "quicklook missing" not in page.path.read_text(encoding="utf-8")


def test_the_review_page_reads_the_inventory_without_writing_it(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path
) -> None:
    """Found by a new user: `review` opened the inventory for writing (schema upgrade, alert
    withdrawals, a new file header each time) without the run lock, and failed on a read-only
    mount. The page now leaves the file byte for byte as it was."""
    import hashlib

    config, _ = populated_config
    path = config.inventory.path
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert main(["review", "--config", str(config.path), "-o", str(tmp_path / "p.html")]) == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert (tmp_path / "p.html").stat().st_size > 0


def test_a_page_that_cannot_be_written_whole_leaves_the_earlier_page(
    populated_config: tuple[MonitorConfig, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found in the crash walk: a full disk (or a kill) while the page was written left the
    first part of the HTML in place of the earlier page, a page without its map."""
    import errno

    import branca.element

    config, _ = populated_config
    page = tmp_path / "review.html"
    assert main(["review", "--config", str(config.path), "-o", str(page)]) == 0
    earlier = page.read_bytes()

    def half_then_full(self, outfile, close_file=True, **kwargs):
        html = self.get_root().render(**kwargs).encode("utf8")
        with open(outfile, "wb") as fid:
            fid.write(html[: len(html) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(branca.element.Element, "save", half_then_full)
    # a page that cannot be written is bad input, named (as an export's is), exit 2
    assert main(["review", "--config", str(config.path), "-o", str(page)]) == 2
    assert f"cannot write the review page {page}: No space left on device" in (
        capsys.readouterr().err
    )
    assert page.read_bytes() == earlier
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".html")] == ["review.html"]


def test_popup_offers_the_decisions_open_from_the_landslide_s_status() -> None:
    """Found on a review walk: every popup offered `confirm` and `dismiss`, a confirmed
    landslide its own confirmation again, and none showed the undo (`inventory candidate`)."""
    import re

    from monitor.ops.review_data import _popup_html

    def offered(status: str) -> list[str]:
        popup = _popup_html({"fid": 7, "status": status}, None, False, None, None)
        return re.findall(r"<code>landslide-monitor inventory (\w+) 7</code>", popup)

    assert offered("candidate") == ["confirm", "dismiss"]
    assert offered("confirmed") == ["dismiss", "candidate"]
    assert offered("dismissed") == ["confirm", "candidate"]
