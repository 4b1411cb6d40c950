"""A run on real imagery with the bundled ensemble says that it has seen simulated scenes only."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from shapely.geometry import box, mapping

from monitor.config import MonitorConfig
from monitor.run import warn_simulated_model

REGION = {"name": "valley", "geometry": mapping(box(9.0, 46.0, 9.05, 46.05))}


@pytest.mark.parametrize(
    ("source", "own_manifest", "warned"),
    [
        ({"type": "gee", "project": "offline-test"}, False, True),
        ({"type": "gee", "project": "offline-test"}, True, False),
        ({"type": "archive"}, False, False),
    ],
)
def test_the_bundled_ensemble_on_earth_engine_is_named_as_simulated_only(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    source: dict[str, str],
    own_manifest: bool,
    warned: bool,
) -> None:
    """Found by an adopter's review: a configuration for Earth Engine that leaves
    model.manifest out ran the bundled ensemble, trained on simulated scenes only, on real
    imagery without a word; only `python -m models info` printed the manifest's caveat."""
    data: dict[str, object] = {"source": {**source}, "regions": [REGION]}
    if source["type"] == "archive":
        data["source"] = {**source, "path": str(tmp_path)}
    if own_manifest:
        (tmp_path / "manifest.json").write_text("{}")
        data["model"] = {"manifest": str(tmp_path / "manifest.json")}
    config = MonitorConfig.model_validate(data)
    with caplog.at_level(logging.WARNING, logger="monitor.run"):
        assert warn_simulated_model(config) is warned
    messages = [r.getMessage() for r in caplog.records]
    if warned:
        (message,) = messages
        assert "bundled ensemble, trained on simulated scenes only" in message
        assert "without alert recipients first" in message
    else:
        assert messages == []
