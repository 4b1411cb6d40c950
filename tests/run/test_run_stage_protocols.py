"""The seams between the run and its stages: a source scores only when it is a
:class:`GroundTruth` (structurally, checked with ``isinstance``), a source without ground truth
is never asked for it, and the ``model:`` section is the :class:`SettingPolicy` of the setting
choice."""

from __future__ import annotations

from datetime import date
from typing import Any

import geopandas as gpd
import pytest

import monitor.run as run_module
from monitor.config import ModelSettings
from monitor.grid import region_grid
from monitor.pipeline.evaluation import GroundTruth, region_truth
from monitor.pipeline.setting import NoUsableSetting, SettingPolicy, choose_setting
from monitor.sources.archive import ArchiveSource
from monitor.sources.base import Window
from tests.run.run_fixtures import StandInEnsemble, StandInSource, make_stack, region_polygon

RUN_DATE = date(2024, 9, 15)
PRE = Window(date(2024, 6, 17), date(2024, 8, 16))
POST = Window(date(2024, 8, 16), date(2024, 9, 15))


class _NoTruthSource:
    """The stand-in source without its ground truth (as Earth Engine's source is)."""

    name = "archive"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        inner = StandInSource(*args, **kwargs)
        self.features = inner.features
        self.first_acquisition = inner.first_acquisition


def test_ground_truth_is_structural() -> None:
    regions = {"north": region_polygon(0.0)}
    assert isinstance(StandInSource(regions, {}), GroundTruth)
    assert not isinstance(_NoTruthSource(regions, {}), GroundTruth)
    assert issubclass(ArchiveSource, GroundTruth)  # ground_truth(region_name, kinds=...)


def test_a_source_without_ground_truth_is_not_asked(
    write_config, manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.config import load_config
    from tests.run.test_run_once_end_to_end import SCARS, _config_data

    monkeypatch.setenv("D1_TEST_SECRET", "s3cret")
    config = load_config(write_config(_config_data(manifest)))
    source = _NoTruthSource({"north": region_polygon(0.0)}, SCARS)
    monkeypatch.setattr(run_module, "open_source", lambda settings: source)
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: StandInEnsemble())
    result = run_module.detect_region(config, config.region("north"), RUN_DATE)
    assert result.status == "ok" and result.n_candidates == 2
    assert result.evaluation is None and "evaluation" not in result.timings


def test_region_truth_is_none_where_the_source_has_no_truth_of_the_region() -> None:
    class Empty:
        def ground_truth(self, region: str) -> gpd.GeoDataFrame:
            raise LookupError(f"region {region!r} has no ground truth")

    assert region_truth(Empty(), "north") is None


def test_the_model_section_is_the_setting_policy() -> None:
    policy: SettingPolicy = ModelSettings(setting="S1")  # structurally: no subclassing
    stack = make_stack(region_grid(region_polygon(0.0)), clear=0.0)
    choice = choose_setting(stack, ("S1", "S1+S2"), policy)
    assert choice.setting == "S1" and choice.fallback is None
    assert choice.reason.startswith("fixed by model.setting (clear optical 0%, radar 100%")


def test_no_usable_setting_says_what_each_setting_of_the_ensemble_needs() -> None:
    """Found on a walkthrough: an ensemble of S2 and S1+S2 on a cloudy stack with its radar
    whole was told "needed clear optical >= 20% or radar >= 50%", as if the radar would do;
    no setting it has runs on radar alone."""
    stack = make_stack(region_grid(region_polygon(0.0)), clear=0.1)
    with pytest.raises(NoUsableSetting) as refused:
        choose_setting(stack, ("S2", "S1+S2"), ModelSettings())
    assert str(refused.value) == (
        "no setting of the ensemble (S2, S1+S2) has enough data: clear optical 10%, radar 100% "
        "of the pixels; S1+S2 needs radar >= 50% and clear optical >= 20%; S2 needs clear "
        "optical >= 20%"
    )
    # no optical view at all: the settings that need it are named, and nothing is left over
    with pytest.raises(NoUsableSetting) as refused:
        choose_setting(make_stack(region_grid(region_polygon(0.0)), clear=0.0), ("S2",),
                       ModelSettings())  # fmt: skip
    assert str(refused.value).endswith("empty bands: dNDVI; not S2 (needs dNDVI)")
