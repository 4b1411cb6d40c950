"""``landslide-monitor schedule`` as a child process of the SIGTERM test: the real ``serve`` with
its signal handling, a clock fixed at ``argv[2]`` (ISO datetime) for the catch-up passes, and
runs in ``ops_run_child.py`` (the stand-in ensemble; the slow source if ``OPS_SLOW_MARKER``)."""

import logging
import sys
from datetime import date, datetime
from pathlib import Path

from monitor.config import load_config
from monitor.ops.schedule import CliRunner, completed_run_dates, default_jobstore_url, serve

HERE = Path(__file__).resolve().parent


class StandInRunner(CliRunner):
    def command(self, run_date: date) -> list[str]:
        args = ["--config", str(self.config_path), "--date", run_date.isoformat(), "--no-alerts"]
        return [sys.executable, str(HERE / "ops_run_child.py"), *args]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    config = load_config(sys.argv[1])
    fixed_now = datetime.fromisoformat(sys.argv[2])
    inventory = config.inventory.path
    assert config.path is not None  # loaded from a file
    sys.exit(
        serve(
            config.schedule,
            default_jobstore_url(inventory),
            lambda: completed_run_dates(inventory),
            StandInRunner(config.path),
            now=lambda: fixed_now,
        )
    )
