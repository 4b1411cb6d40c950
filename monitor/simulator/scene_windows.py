"""The windows of the scenes a storm gives a training set: what the two window modes of a run
would compare (docs/configuration.md, "windows"), for both training worlds.

- the ``event`` scene: a pre window ending the day before the storm and a post window starting
  on it, greenest-pixel and median composites (Ganerød et al.). A run in event mode starts its
  post window the day after the event (``EventWindows.windows_for``: the event's hour is not
  known); the simulator's slides of the storm day show in that day's acquisitions, so this
  window holds one day more than a run's (docs/models.md, "The shipped default");
- one ``monitoring`` scene per lag: the windows of a daily run that many days after the storm,
  with the latest clear observation and the last Sentinel-1 scenes of each track against the
  baseline, so that the first looks after an event, with one or two post-event scenes, are in
  the training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from monitor.simulator.spec import ArchiveSimulation
from monitor.sources.base import EVENT, MONITORING, Compositing, Window

__all__ = ["MONITORING_LAGS_DAYS", "StormSeason", "storm_views", "storm_windows"]

# Days after each storm of the monitoring scenes: a daily run's first looks (one Sentinel-2
# revisit and one Sentinel-1 repeat after the storm) and a later one.
MONITORING_LAGS_DAYS: tuple[int, ...] = (6, 12, 24)


def storm_windows(storm: date, pre_days: int, post_days: int) -> tuple[Window, Window]:
    """The event scene's windows: ``pre_days`` before the storm, ``post_days`` from it."""
    pre = Window(storm - timedelta(days=pre_days), storm)
    post = Window(storm, storm + timedelta(days=post_days))
    return pre, post


def storm_views(
    storm: date, pre_days: int, post_days: int, lags: tuple[int, ...] = MONITORING_LAGS_DAYS
) -> list[tuple[Window, Window, Compositing]]:
    """The scenes of one storm: its event scene, then one monitoring scene per lag."""
    out = [(*storm_windows(storm, pre_days, post_days), EVENT)]
    for lag in lags:
        run = storm + timedelta(days=lag)
        post = Window(run - timedelta(days=post_days), run)
        pre = Window(post.start - timedelta(days=pre_days), post.start)
        out.append((pre, post, MONITORING))
    return out


@dataclass(frozen=True)
class StormSeason:
    """The simulated season of a training-set plan (both worlds) and the scenes of its storms."""

    start: date = date(2024, 3, 1)
    end: date = date(2024, 11, 1)
    storms: tuple[date, ...] = (date(2024, 5, 18), date(2024, 8, 24))
    pre_days: int = 60
    post_days: int = 30
    # days after each storm of the monitoring scenes (a daily run's first looks, and later)
    monitoring_lags_days: tuple[int, ...] = MONITORING_LAGS_DAYS

    def simulation(self) -> ArchiveSimulation:
        return ArchiveSimulation(start=self.start, end=self.end, storms=self.storms)

    def windows(self, storm: date) -> tuple[Window, Window]:
        return storm_windows(storm, self.pre_days, self.post_days)

    def views(self, storm: date) -> list[tuple[Window, Window, Compositing]]:
        """The scenes of one storm (:func:`storm_views`)."""
        return storm_views(storm, self.pre_days, self.post_days, self.monitoring_lags_days)
