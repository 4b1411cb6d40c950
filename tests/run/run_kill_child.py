"""Child process of test_run_killed: a run whose second region blocks until the process is
signalled. Usage: run_kill_child.py CONFIG MARKER [cli]. Without ``cli`` the run is
``run_once`` itself (SIGKILL: no handler, no cleanup); with it, the ``landslide-monitor run``
command, whose exit status the child exits with."""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, cast

import monitor.run as run_module
from monitor.cli import main
from monitor.config import load_config
from tests.run.run_fixtures import StandInEnsemble, StandInSource, region_polygon

if TYPE_CHECKING:
    from models.ensemble import Ensemble


class BlockingSource(StandInSource):
    def __init__(self, marker: Path) -> None:
        regions = {"north": region_polygon(0.0), "south": region_polygon(0.05)}
        super().__init__(regions, {"north": [(5, 15, 5, 20)], "south": [(20, 32, 50, 60)]})
        self.marker = marker

    def features(self, area, pre, post, compositing=None):
        if area.name == "south":
            self.marker.write_text("blocked in south")
            time.sleep(600)
        return super().features(area, pre, post)


if __name__ == "__main__":
    config = load_config(sys.argv[1])
    source = BlockingSource(Path(sys.argv[2]))
    run_module.open_source = lambda settings: source
    run_module.load_ensemble = lambda model: cast("Ensemble", StandInEnsemble())  # a stand-in
    if sys.argv[3:] == ["cli"]:
        sys.exit(main(["run", "--config", sys.argv[1], "--date", "2024-09-15", "-q"]))
    run_module.run_once(config, date(2024, 9, 15), progress=False)
