"""``notebooks/review.ipynb`` runs top to bottom on an inventory (widgets built without a
kernel), and its buttons confirm and dismiss candidates through ``Inventory.set_status``."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from monitor.alerts.settings import AlertRouting, AlertSettings
from monitor.config import MonitorConfig
from monitor.ops.review_session import ReviewSession
from monitor.store.inventory import Inventory, RegionDetections
from tests.ops.ops_fixtures import candidates_for

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "review.ipynb"


def _code_cells() -> list[str]:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def _run_notebook(config: MonitorConfig, monkeypatch: pytest.MonkeyPatch) -> ReviewSession:
    """The notebook's code cells run on ``config``, as Jupyter runs them; its session."""
    monkeypatch.setenv("LANDSLIDE_CONFIG", str(config.path))
    namespace: dict[str, object] = {}
    for source in _code_cells():
        exec(compile(source, str(NOTEBOOK), "exec"), namespace)
    session = namespace["session"]
    assert isinstance(session, ReviewSession)
    return session


def test_the_notebook_runs_before_any_run_has_written_the_inventory(
    populated_config: tuple[MonitorConfig, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an analyst: before the first run its first cell ended in KeyError: the empty
    inventory's frame held fid, status and geometry alone, not the columns the cell shows."""
    config, _ = populated_config
    config.inventory.path.unlink()
    session = _run_notebook(config, monkeypatch)
    frame = session.landslides()
    assert len(frame) == 0 and {"region", "first_seen", "prob_mean", "alerted_on"} <= set(frame)
    assert not config.inventory.path.exists()


def test_notebook_runs_and_its_buttons_write_decisions(
    populated_config: tuple[MonitorConfig, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, n_rows = populated_config
    session = _run_notebook(config, monkeypatch)
    assert len(session.landslides()) == n_rows
    assert session.decisions == []

    map_, panel = session._map, session._widgets  # built by session.widget() in the notebook
    assert type(map_).__module__ == "geemap.geemap"  # the interactive (ipyleaflet) map
    candidates = session.landslides().query("status == 'candidate'")["fid"].tolist()
    target = int(candidates[0])
    # a click on the polygon selects it and fills the panel
    feature = next(f for f in session.geojson()["features"] if f["properties"]["fid"] == target)
    session._on_click(feature=feature)
    assert panel["chooser"].value == target
    assert f"Landslide {target}" in panel["details"].value
    assert panel["quicklook"].value[:8] == b"\x89PNG\r\n\x1a\n"
    # the image widget shows the quicklook; the attributes beside it hold no second, file:
    # linked copy, which a notebook served over http cannot load (a broken image; found by a
    # new user)
    assert "<img" not in panel["details"].value

    confirm, dismiss, back = panel["buttons"]
    assert [b.description for b in panel["buttons"]] == ["Confirm", "Dismiss", "Back to candidate"]
    confirm.click()
    with Inventory(config.inventory.path) as inventory:
        assert inventory.get(target)["status"] == "confirmed"
    # the map layer is restyled: the confirmed outline
    styles = {
        f["properties"]["fid"]: f["properties"]["style"] for f in session._layer.data["features"]
    }
    assert styles[target]["color"] == "#54278f"
    assert "confirmed" in panel["message"].value

    panel["chooser"].value = int(candidates[1])
    dismiss.click()
    back.click()
    with Inventory(config.inventory.path) as inventory:
        assert inventory.get(int(candidates[1]))["status"] == "candidate"
        statuses = inventory.landslides()["status"].value_counts().to_dict()
    assert statuses == {"candidate": 3, "confirmed": 2, "dismissed": 1}
    assert session.decisions == [
        (target, "candidate", "confirmed"),
        (int(candidates[1]), "candidate", "dismissed"),
        (int(candidates[1]), "dismissed", "candidate"),
    ]
    with pytest.raises(KeyError, match="not in this review"):
        session.select(99999)


def test_the_panel_says_what_a_dismissal_withdrew(
    populated_config: tuple[MonitorConfig, int],
) -> None:
    """Found by a new user: `inventory dismiss` says how many waiting alerts it withdrew, the
    notebook's Dismiss only logged it; its message now says so too."""
    config, _ = populated_config
    hook = {"name": "ops", "url": "http://127.0.0.1:9/hook", "secret_env": "LM_TEST_SECRET"}
    routing = AlertRouting.from_settings(AlertSettings(webhooks=[hook]))
    day = date(2024, 9, 20)
    with Inventory(config.inventory.path) as inventory:  # a new landslide, its alert waiting
        run_id = inventory.start_run(day, ["emilia-hills"], "archive")
        found = candidates_for(config, "emilia-hills", [(2600, 300, 60)], day)
        detections = [RegionDetections("emilia-hills", setting="S1+S2", candidates=found)]
        (change,) = inventory.apply(run_id, detections, routing).new
    fid, waiting = int(change.fid), 1
    session = ReviewSession(config)
    session.panel()
    session.select(fid)
    session._decide_from_button("dismissed")
    assert session.withdrawn == waiting > 0
    message = session._widgets["message"].value
    assert f"{waiting} alert(s) of it still waiting in the outbox withdrawn" in message
    session._decide_from_button("candidate")  # taken back: the alert goes out after all
    message = session._widgets["message"].value
    assert session.withdrawn == 0 and "withdrawn" not in message
    assert f"{waiting} alert(s) of it that the dismissal withdrew before they went are" in message


def test_a_decision_in_code_is_refused_for_a_landslide_outside_the_review(
    populated_config: tuple[MonitorConfig, int],
) -> None:
    """Found on a review walk: a session over one region (``ReviewSession(config,
    regions=[...])``, as the notebook offers) wrote ``decide(status, fid)`` for a landslide of
    another region, one the reviewer never saw; ``select`` refused the same fid."""
    config, _ = populated_config
    with Inventory(config.inventory.path) as inventory:
        frame = inventory.landslides()
    elsewhere = frame[frame["region"] != "emilia-hills"].iloc[0]
    fid, before = int(elsewhere["fid"]), str(elsewhere["status"])
    target = "dismissed" if before != "dismissed" else "confirmed"
    session = ReviewSession(config, regions=["emilia-hills"])
    with pytest.raises(KeyError, match=f"landslide {fid} is not in this review"):
        session.decide(target, fid)
    with Inventory(config.inventory.path) as inventory:
        assert inventory.get(fid)["status"] == before
    assert session.decisions == []


def test_a_landslide_is_named_in_code_by_its_fid_as_text_or_its_uid(
    populated_config: tuple[MonitorConfig, int],
) -> None:
    """Found on a review walk: ``decide("dismissed", "3")`` and ``decide("dismissed", uid)``
    (the ids `inventory export` and the command line give) said "landslide 3 is not in this
    review" of a landslide the review showed."""
    config, _ = populated_config
    session = ReviewSession(config)
    first, second = (session.landslides().iloc[i] for i in (0, 1))
    assert session.select(str(first["uid"]))["fid"] == first["fid"]
    assert session.selected == int(first["fid"])
    session.decide("dismissed", f" {int(second['fid'])} ")
    session.decide("confirmed", str(first["uid"]).upper())  # either case, as the CLI takes it
    with Inventory(config.inventory.path) as inventory:
        assert inventory.get(int(second["fid"]))["status"] == "dismissed"
        assert inventory.get(int(first["fid"]))["status"] == "confirmed"
    assert [d[0] for d in session.decisions] == [int(second["fid"]), int(first["fid"])]
    with pytest.raises(KeyError, match="landslide not-a-uid is not in this review"):
        session.decide("dismissed", "not-a-uid")


@pytest.mark.parametrize("first", ["foliumap", "geemap"])
def test_both_geemap_backends_in_one_process(first: str) -> None:
    """A notebook that writes the HTML page and shows the interactive map uses both of geemap's
    backends in one interpreter, in either order."""
    import subprocess
    import sys

    second = "geemap" if first == "foliumap" else "foliumap"
    code = (
        "from monitor.ops.review import import_geemap_backend as imp\n"
        f"a = imp({first!r}).Map(ee_initialize=False)\n"
        f"b = imp({second!r}).Map(ee_initialize=False)\n"
        "print(type(a).__module__, type(b).__module__)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [f"geemap.{first}", f"geemap.{second}"]


def test_the_panel_shows_no_file_that_is_no_png(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path
) -> None:
    """As the page: a hand-edited quicklook path to another file (a key) put its bytes in the
    image widget, which a saved notebook keeps."""
    from tests.ops.ops_fixtures import edit_inventory_by_hand

    config, n_rows = populated_config
    secret = tmp_path / "service-account.json"
    secret.write_text('{"private_key": "TOPSECRET"}')
    assert edit_inventory_by_hand(config, {"quicklook": str(secret)}) == n_rows
    session = ReviewSession(config)
    session.panel()
    session.select(int(session.landslides()["fid"].iloc[0]))
    assert session._widgets["quicklook"].value == b""


def test_the_panel_says_why_it_shows_no_quicklook(
    populated_config: tuple[MonitorConfig, int], tmp_path: Path
) -> None:
    """Found on a review walk: the page's popup says 'no quicklook' or 'quicklook missing:
    PATH' (pruned PNGs, a moved folder); the notebook's panel left its image empty and said
    nothing, so a reviewer could not tell a missing file from one still loading."""
    from tests.ops.ops_fixtures import edit_inventory_by_hand

    config, n_rows = populated_config
    gone = tmp_path / "quicklooks" / "2024-09-01" / "emilia-hills" / "pruned é.png"
    assert edit_inventory_by_hand(config, {"quicklook": str(gone)}) == n_rows
    session = ReviewSession(config)
    session.panel()
    fids = [int(f) for f in session.landslides()["fid"]]
    session.select(fids[0])
    assert session._widgets["quicklook"].value == b""
    assert f"quicklook missing: {gone}" in session._widgets["details"].value

    with closing(sqlite3.connect(config.inventory.path)) as conn, conn:  # none recorded
        conn.execute("UPDATE landslides SET quicklook = NULL WHERE fid = ?", (fids[1],))
    session = ReviewSession(config)
    session.panel()
    session.select(fids[1])
    assert "no quicklook" in session._widgets["details"].value
