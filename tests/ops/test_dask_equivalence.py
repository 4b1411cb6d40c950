"""Many regions on a Dask LocalCluster (two worker processes) give the same inventory as the
serial run; a failing region is reported and does not stop the others; the main process is the
inventory's single writer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import monitor.run as run_module
from monitor.config import load_config
from monitor.ops.distributed import DaskSettings, dask_executor
from monitor.run import run_once
from monitor.store.inventory import Inventory
from tests.ops import ops_stand_ins
from tests.ops.ops_fixtures import ARCHIVE_RUN_DATE, archive_regions, write_archive_config

_COMPARED = [
    "region",
    "area_m2",
    "prob_mean",
    "prob_max",
    "agreement",
    "dNDVI_mean",
    "setting",
    "pre_date",
    "post_date",
    "first_seen",
    "times_seen",
]


def _inventory_table(path: Path) -> pd.DataFrame:
    with Inventory(path) as inventory:
        frame = inventory.landslides()
        regions = inventory.run_regions()
    frame["wkb"] = [g.normalize().wkb_hex for g in frame.geometry]
    table = pd.DataFrame(frame[[*_COMPARED, "wkb"]]).sort_values(["region", "wkb"])
    return table.reset_index(drop=True), regions[["region", "status", "setting", "n_candidates"]]


def test_dask_local_cluster_gives_the_serial_inventory(
    small_archive: Path,
    untrained_manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # four archived regions and one the archive does not hold (fails: ArchiveError)
    regions = archive_regions(4)
    missing = dict(regions[0], name="not-archived")
    missing.pop("simulation")
    regions.append(missing)
    configs = {
        way: load_config(
            write_archive_config(
                tmp_path / way,
                small_archive,
                untrained_manifest,
                regions,
                quicklooks={"enabled": False},  # PNG rendering is not what is compared
            )
        )
        for way in ("serial", "dask")
    }
    # the deterministic stand-in ensemble in this process (restored after the test)
    monkeypatch.setattr(
        run_module, "load_ensemble", lambda model: ops_stand_ins.ThresholdEnsemble()
    )
    serial = run_once(configs["serial"], ARCHIVE_RUN_DATE, deliver_alerts=False, progress=False)
    with dask_executor(
        DaskSettings(enabled=True, n_workers=2),
        n_tasks=len(regions),
        worker_setup=ops_stand_ins.install,
    ) as executor:
        parallel = run_once(
            configs["dask"],
            ARCHIVE_RUN_DATE,
            executor=executor,
            deliver_alerts=False,
            progress=False,
        )

    for summary in (serial, parallel):
        statuses = {r.region: r.status for r in summary.regions}
        assert statuses == {
            "r01": "ok",
            "r02": "ok",
            "r03": "ok",
            "r04": "ok",
            "not-archived": "failed",
        }
        failed = next(r for r in summary.regions if r.region == "not-archived")
        assert "not-archived" in failed.message
        assert not summary.ok
    assert serial.detections == parallel.detections > 4
    assert serial.counts() == parallel.counts()

    serial_table, serial_regions = _inventory_table(configs["serial"].inventory.path)
    dask_table, dask_regions = _inventory_table(configs["dask"].inventory.path)
    assert len(serial_table) == serial.counts()["new"]
    pd.testing.assert_frame_equal(serial_table, dask_table)
    pd.testing.assert_frame_equal(serial_regions, dask_regions)
    with Inventory(configs["dask"].inventory.path) as inventory:
        assert inventory.runs()["status"].tolist() == ["partial"]
