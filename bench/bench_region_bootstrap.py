"""The intervals of an evaluation report recomputed from its per-scene counts, with scenes drawn
one by one (the bootstrap before the cluster bootstrap) and with whole groups drawn
(:func:`models.metrics.paired_f1_difference` as ``python -m models evaluate`` now calls it): no
model runs. The shipped default's ``models/default/report.json`` was written before reports
recorded each scene's group; its scenes are named as ``monitor.simulator.training_data.scene_id``
names them (``<region>_<date>[_monitoring]``), so there the group is the id's region, unless
``--data`` names the scenes' folder (its records, :mod:`models.scene_groups`). Seeded (the
report's own seed, 0), a second or two.

    .venv/bin/python bench/bench_region_bootstrap.py [--report models/default/report.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evaluate import format_interval
from models.metrics import Confusion, paired_f1_difference
from models.scene_groups import scene_groups

ROOT = Path(__file__).resolve().parents[1]
# monitor.simulator.training_data.scene_id: the region, the post window's day, the mode
_SCENE_ID = re.compile(r"(?P<region>.+)_\d{8}(_monitoring)?")


def report_groups(report: dict[str, Any], data: Path | None) -> tuple[list[str], str]:
    """The group of every scene of ``report`` (in its order) and where it was read: the
    report's own (``per_scene`` rows' ``group``), ``data``'s records, or the ids' regions."""
    ids: list[str] = list(report["scenes"])
    rows = next(iter(report["settings"].values()))["per_scene"]
    if all("group" in row for row in rows):
        return [row["group"] for row in rows], "the report's per-scene groups"
    if data is not None:
        groups = scene_groups(data, ids)
        return list(groups.groups), groups.describe()
    matches = [_SCENE_ID.fullmatch(i) for i in ids]
    odd = [i for i, m in zip(ids, matches, strict=True) if m is None]
    if odd:
        raise ValueError(
            f"scene ids not of the simulator's form <region>_<YYYYMMDD>[_monitoring]: "
            f"{', '.join(odd[:5])}; pass --data with the scenes' folder"
        )
    return [m["region"] for m in matches if m is not None], "the ids' region (scene_id's form)"


def _counts(rows: list[dict[str, Any]], model: str) -> list[Confusion]:
    return [Confusion(*(int(r[model][k]) for k in ("tp", "fp", "fn", "tn"))) for r in rows]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--report", type=Path, default=ROOT / "models/default/report.json")
    p.add_argument("--data", type=Path, help="the report's scene folder, to read its groups")
    args = p.parse_args(argv)
    if not args.report.is_file():
        p.error(f"--report {args.report}: no such file")
    report = json.loads(args.report.read_text())
    try:
        groups, where = report_groups(report, args.data)
    except ValueError as err:  # DatasetError too: a record of --data that cannot be read
        p.error(f"--report {args.report}: {err}")
    print(f"{args.report}: {len(groups)} scenes in {len(set(groups))} groups, from {where}")
    print()
    print("| setting | ensemble minus | F1 difference | scenes drawn one by one | n | "
          "groups drawn whole | n | scenes won |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for setting, r in report["settings"].items():
        rows = r["per_scene"]
        for other in (k for k in r["pooled"] if k != "ensemble"):
            a, b = _counts(rows, "ensemble"), _counts(rows, other)
            scenes = paired_f1_difference(a, b)
            whole = paired_f1_difference(a, b, groups=groups)
            print(
                f"| {setting} | {other} | {whole['difference']:+.3f} | "
                f"{format_interval(scenes)} | {scenes['groups']} | "
                f"{format_interval(whole)} | {whole['groups']} | "
                f"{whole['wins']} of {whole['scenes']} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
