"""Which scenes of a Ganerød-layout folder belong together: the groups that the bootstrap of
``python -m models evaluate`` and ``compare`` resamples whole
(:func:`models.metrics.paired_f1_difference`).

Scenes of one region are not independent evidence: the simulated world gives every region's
storms an event view and monitoring views at several lags, which show the same landslides, and
an export of an inventory gives every item an event view and monitoring views. Resampled one by
one, such scenes count one landslide several times and the interval comes out too narrow. A
scene's group is read from what wrote the folder (``models`` never imports ``monitor``):

1. its provenance record (:func:`models.datasets.provenance_path`), ``group``: the split group
   of ``dataset export`` and ``dataset from-reviews`` (an event, an item, or the connected
   scenes that overlap; a reviewed region);
2. the region of the simulator's ``dataset.json`` (:data:`models.datasets.DATASET_RECORD_FILE`
   in the folder or its parent, ``regions``: split -> region names) whose name begins the
   scene's id: ``monitor.simulator.training_data.scene_id`` names a scene
   ``<region>_<date>[_monitoring]``;
3. none: the scene is a group of its own (as if independent), which is logged and reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.datasets import DATASET_RECORD_FILE, DatasetError, first_names, provenance_path

__all__ = ["SceneGroups", "scene_groups"]

log = logging.getLogger(__name__)

PROVENANCE = "provenance records"
REGIONS = "dataset.json regions"


@dataclass(frozen=True)
class SceneGroups:
    """The group of every scene (``groups[i]`` is ``ids[i]``'s) and where they were read."""

    ids: tuple[str, ...]
    groups: tuple[str, ...]
    sources: tuple[str, ...]  # PROVENANCE and/or REGIONS, in that order; empty when none
    ungrouped: tuple[str, ...]  # scenes with no recorded group, each a group of its own

    @property
    def count(self) -> int:
        """The number of groups."""
        return len(set(self.groups))

    def describe(self) -> str:
        """One line for a report: how many groups, read from where, and the scenes without."""
        where = " and ".join(self.sources) or "nothing recorded"
        groups = "1 group" if self.count == 1 else f"{self.count} groups"
        line = f"{groups} of {len(self.ids)} scenes (from {where})"
        if self.ungrouped:
            line += (
                f"; {len(self.ungrouped)} scene(s) record no group and are resampled each on its "
                "own, as if independent: the intervals are too narrow where scenes share "
                "landslides (the views of one event)"
            )
        return line

    def to_dict(self) -> dict[str, Any]:
        """The record a report keeps (``scene_groups``), with :meth:`describe`'s line."""
        return {
            "description": self.describe(),
            "groups": self.count,
            "scenes": len(self.ids),
            "sources": list(self.sources),
            "ungrouped": list(self.ungrouped),
        }


def scene_groups(folder: Path, ids: Sequence[str]) -> SceneGroups:
    """The groups of the scenes ``ids`` of ``folder`` (see the module); a scene whose group is
    not recorded is its own group, and a warning says how many."""
    folder = Path(folder)
    recorded = {i: _provenance_group(folder, i) for i in ids}
    # the simulator's record is read only for scenes without a provenance record's group
    regions = _recorded_regions(folder) if None in recorded.values() else []
    groups: list[str] = []
    used: set[str] = set()
    ungrouped: list[str] = []
    for scene_id in ids:
        group = recorded[scene_id]
        if group is not None:
            used.add(PROVENANCE)
        else:
            group = _region_of(scene_id, regions)
            if group is not None:
                used.add(REGIONS)
        if group is None:
            ungrouped.append(scene_id)
            group = f"scene:{scene_id}"  # never the name of a recorded group
        groups.append(group)
    found = SceneGroups(
        tuple(ids),
        tuple(groups),
        tuple(s for s in (PROVENANCE, REGIONS) if s in used),
        tuple(ungrouped),
    )
    if ungrouped:
        log.warning(
            "%s: %d of %d scenes record no group (no 'group' in provenance/<id>.json, no region "
            "of %s that begins the id): each is resampled on its own, as if independent, and the "
            "intervals are too narrow where scenes share landslides: %s",
            folder, len(ungrouped), len(ids), DATASET_RECORD_FILE, first_names(ungrouped),
        )  # fmt: skip
    return found


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read the record: {err}") from err


def _provenance_group(folder: Path, scene_id: str) -> str | None:
    path = provenance_path(folder, scene_id)
    if not path.is_file():
        return None
    record = _read_json(path)
    group = record.get("group") if isinstance(record, Mapping) else None
    return None if group is None or group == "" else str(group)


def _recorded_regions(folder: Path) -> list[str]:
    """The region names of the nearest ``dataset.json`` (the folder's, else its parent's, where
    the simulator writes it beside the split folders), longest first; none without one."""
    for path in (folder / DATASET_RECORD_FILE, folder.parent / DATASET_RECORD_FILE):
        if not path.is_file():
            continue
        record = _read_json(path)
        regions = record.get("regions") if isinstance(record, Mapping) else None
        if regions is None:
            return []
        if not isinstance(regions, Mapping) or not all(
            isinstance(names, list) and all(isinstance(n, str) for n in names)
            for names in regions.values()
        ):
            raise DatasetError(
                f"{path}: 'regions' is not a table of split -> region names: {regions!r:.80}"
            )
        names = {n for split in regions.values() for n in split}
        return sorted(names, key=lambda n: (-len(n), n))
    return []


def _region_of(scene_id: str, regions: Sequence[str]) -> str | None:
    """The longest of ``regions`` that begins ``scene_id`` followed by ``_``."""
    return next((r for r in regions if scene_id.startswith(f"{r}_")), None)
