"""The randomised training world (issue 11): priors drawn within their documented ranges and
deterministically per seed, every family generated on its own, and the split by family."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from monitor.ops import stormfree_scenes
from monitor.simulator.build import build_archive
from monitor.simulator.event_kinds import LOOKALIKES, MORPHOLOGIES
from monitor.simulator.families import FAMILIES, LOOKALIKE_SETS, family, split_families
from monitor.simulator.priors import CHOICES, PRIORS, draw_spec_knobs, draw_world
from monitor.simulator.randomised import RandomisedPlan, family_region, family_regions
from monitor.simulator.region import SimulatedRegion
from monitor.simulator.spec import LANDSCAPES, ArchiveSimulation, SimulationSpec, spec_digest
from monitor.simulator.training_data import export_training_sets, scene_of
from monitor.simulator.training_data import main as training_data_main
from monitor.sources.archive import ArchiveSource

SIMULATION = ArchiveSimulation(
    start=date(2024, 6, 1), end=date(2024, 10, 1), storms=(date(2024, 8, 17),)
)
TINY_KM = (0.8, 0.8)  # 80 x 80 pixels: room for the 8-pixel margin and a few events


def test_the_world_has_72_families_of_every_kind() -> None:
    assert len(FAMILIES) == len(LANDSCAPES) * len(LOOKALIKE_SETS) * len(MORPHOLOGIES) == 72
    used = {kind for kinds in LOOKALIKE_SETS.values() for kind in kinds}
    assert used == set(LOOKALIKES)  # every look-alike of the table is in some set
    assert family("alpine/mountain/rockfall").morphology == "rockfall"
    with pytest.raises(ValueError, match="unknown family 'alpine/x/rockfall'"):
        family("alpine/x/rockfall")


def _doc_table(marker: str) -> dict[str, list[str]]:
    """The first Markdown table after ``marker`` in docs/models.md: first cell (a `name`) ->
    the other cells."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "models.md").read_text("utf-8")
    rows: dict[str, list[str]] = {}
    after = text.split(marker, 1)[1]
    for line in after[after.index("\n|") + 1 :].splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_docs_tables_list_every_kind_prior_and_set() -> None:
    """docs/models.md describes the randomised world row by row: a morphology, look-alike or
    prior added to the code's tables (or a set changed) is documented there too."""
    assert set(_doc_table("**Landslide morphologies**")) == set(MORPHOLOGIES)
    assert set(_doc_table("**Look-alikes**")) == set(LOOKALIKES)
    assert set(_doc_table("| prior | range |")) == set(PRIORS) | set(CHOICES)
    sets = _doc_table("Look-alike sets (`LOOKALIKE_SETS` in `families.py`):")
    assert {k: tuple(v[0].split(", ")) for k, v in sets.items()} == LOOKALIKE_SETS


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_priors_are_drawn_within_their_ranges_deterministically(seed: int) -> None:
    fam = FAMILIES[(seed * 13) % len(FAMILIES)]
    area, spec = family_region(fam, seed, "r")
    again_area, again_spec = family_region(fam, seed, "r")
    assert spec == again_spec and area.geometry.equals(again_area.geometry)
    world = draw_world(spec)
    assert draw_world(spec) == world  # same seed, same world
    other = draw_world(spec.model_copy(update={"seed": spec.seed + 1}))
    assert other.values != world.values
    for key, value in world.values.items():
        lo, hi = PRIORS[key].bounds(fam.landscape)
        if key == "lake_fraction" and "reservoir_drawdown" in fam.lookalike_kinds:
            lo = 0.02  # a set with a reservoir drawdown gets a reservoir
        assert lo <= value <= hi, key
    for key in ("relief_scale", "cloud_scale", "landslide_rate_scale", "lookalike_rate_scale"):
        lo, hi = PRIORS[key].bounds(fam.landscape)
        assert lo <= getattr(spec, key) <= hi, key
    assert spec.s1_repeat_days in CHOICES["s1_repeat_days"].options
    assert area.orbit_pass in CHOICES["orbit_pass"].options
    # the drawn values reach the landscape the region is simulated with
    land = world.landscape
    assert land.slope_p90_deg == world.values["slope_p90_deg"]
    assert land.valley_spacing_m == world.values["valley_spacing_m"]
    assert land.cloud_height_m == (
        world.values["cloud_height_low_m"],
        world.values["cloud_height_high_m"],
    )
    assert world.plan.morphology == fam.morphology
    assert world.plan.lookalikes == fam.lookalike_kinds


def test_spec_knobs_cover_their_ranges() -> None:
    """Over many draws the spec-level priors fill their ranges (not a constant)."""
    rng = np.random.default_rng(0)
    draws = [draw_spec_knobs(rng, "alpine") for _ in range(200)]
    cloud = np.array([d["cloud_scale"] for d in draws])
    lo, hi = PRIORS["cloud_scale"].bounds("alpine")
    assert cloud.min() >= lo and cloud.max() <= hi
    assert cloud.max() - cloud.min() > 0.9 * (hi - lo)
    assert {d["s1_repeat_days"] for d in draws} == {6, 12}


def test_every_family_can_be_generated_alone() -> None:
    """Each of the 72 families, alone, gives a region with landslides of its morphology, and
    over all families every look-alike of the table is drawn."""
    seen: set[str] = set()
    for i, fam in enumerate(FAMILIES):
        [(area, spec)] = family_regions([fam], 1, seed=i, size_km=TINY_KM)
        region = SimulatedRegion(area, spec, SIMULATION)
        truth = region.ground_truth()
        kinds = set(truth["kind"])
        assert "landslide" in kinds, fam.key
        assert kinds - {"landslide", "old_scar"} <= set(fam.lookalike_kinds), fam.key
        seen |= kinds
        if fam.morphology == "reactivated_scar":
            assert "old_scar" in kinds
            assert (
                truth.loc[truth.kind == "old_scar", "event_date"].dt.date < date(2024, 6, 1)
            ).all()
        if fam.morphology == "coseismic_cluster":
            slides = truth[truth.kind == "landslide"]
            assert len(slides) >= 60 and slides["event_date"].nunique() == 1
        storm = (date(2024, 8, 17) - SIMULATION.start).days
        surface = region.surface.at(storm + 10)
        assert surface.veg.shape == region.grid.shape
    assert set(LOOKALIKES) <= seen


def test_one_family_exports_alone_through_the_archive(tmp_path: Path) -> None:
    key = "agricultural_hills/forestry/rotational_slump"
    plan = RandomisedPlan(families=(key,), size_km=TINY_KM, storms=(date(2024, 8, 24),))
    with pytest.raises(ValueError, match="need at least 3 families"):
        plan.split_regions()  # one family cannot be split three ways
    regions = family_regions([family(key)], 1, seed=3, size_km=TINY_KM)
    build_archive(tmp_path / "archive", regions, plan.simulation(), progress=False, workers=1)
    source = ArchiveSource(tmp_path / "archive")
    scene = scene_of(source, regions[0][0], *plan.windows(date(2024, 8, 24)))
    assert scene.image.shape[0] == 15 and scene.label.sum() > 20  # its slumps are labelled
    truth = source.ground_truth(regions[0][0].name, kinds=None)
    assert set(truth["kind"]) == {"landslide", *LOOKALIKE_SETS["forestry"]}


def test_the_split_never_puts_a_family_in_two_of_train_val_test(tmp_path: Path) -> None:
    for seed in range(5):
        split = split_families(FAMILIES, seed)
        train, val, test = ({f.key for f in split.of(s)} for s in ("train", "val", "test"))
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == {f.key for f in FAMILIES}
        assert (len(val), len(test)) == (14, 14)
        # stratified: every split holds every landscape type
        for part in (train, val, test):
            assert {k.split("/")[0] for k in part} == set(LANDSCAPES)
    assert split_families(FAMILIES, 1) == split_families(FAMILIES, 1)
    assert split_families(FAMILIES, 1) != split_families(FAMILIES, 2)
    # the regions of a plan follow the split; in-family test regions are of training families
    keys = [f.key for f in FAMILIES[::8]]  # 9 families
    plan = RandomisedPlan(families=tuple(keys), size_km=TINY_KM, test_in_families=2)
    regions = plan.split_regions()
    fams = {s: {spec.family for _, spec in rs} for s, rs in regions.items()}
    assert not (fams["train"] & fams["val"]) and not (fams["train"] & fams["test"])
    assert not (fams["val"] & fams["test"])
    assert fams["test_in"] <= fams["train"] and len(fams["test_in"]) == 2
    names = [a.name for rs in regions.values() for a, _ in rs]
    assert len(names) == len(set(names))
    # extra draws (storm-free scenes for the filter): the split's families, new regions
    seeds = {spec.seed for rs in regions.values() for _, spec in rs}
    for draw in (1, 2):
        extra = plan.extra_regions("train", draw)
        assert [spec.family for _, spec in extra] == [spec.family for _, spec in regions["train"]]
        assert not {spec.seed for _, spec in extra} & seeds
        assert not {a.name for a, _ in extra} & set(names)
        seeds |= {spec.seed for _, spec in extra}
        names += [a.name for a, _ in extra]
    assert plan.extra_regions("val", 1)[0][1].family == regions["val"][0][1].family
    # each split's draws are its own: a validation draw never twins a training draw
    for draw in (1, 2):
        by_split = [
            {s.seed for _, s in plan.extra_regions(x, draw)} for x in ("train", "val", "test")
        ]
        assert not by_split[0] & by_split[1] and not by_split[0] & by_split[2]
        assert not by_split[1] & by_split[2]
    with pytest.raises(ValueError, match="numbered from 1"):
        plan.extra_regions("train", 0)


def test_export_writes_the_four_splits_and_their_families(tmp_path: Path) -> None:
    keys = (
        "forested_mountains/forestry/translational",
        "alpine/mountain/debris_flow",
        "agricultural_hills/farmland/rotational_slump",
    )
    plan = RandomisedPlan(
        families=keys,
        size_km=(0.6, 0.6),
        test_in_families=1,
        storms=(date(2024, 8, 24),),
        monitoring_lags_days=(12,),
    )
    ids = export_training_sets(tmp_path / "out", plan, workers=1, progress=False)
    # one region per split, two scenes each: the storm's event scene and a monitoring scene
    assert {s: len(v) for s, v in ids.items()} == {"train": 2, "val": 2, "test": 2, "test_in": 2}
    assert ids["train"][1].endswith("_20240905_monitoring")
    record = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert record["world"] == "randomised"
    split = {s: set(record["families"][s]) for s in ("train", "val", "test")}
    assert split["train"] | split["val"] | split["test"] == set(keys)
    for s in ("train", "val", "test", "test_in"):
        assert (tmp_path / "out" / s / "input" / f"{ids[s][0]}_input.tif").exists()
    # the in-family test region is of a training family, the test region of the held-out one
    region_family = record["region_family"]
    [test_in] = record["regions"]["test_in"]
    [test] = record["regions"]["test"]
    assert region_family[test_in] in split["train"]
    assert region_family[test] in split["test"]
    # storm-free scenes of the training split, with two extra draws simulated on the way
    sf = tmp_path / "stormfree"
    stormfree_scenes.export_stormfree_scenes(
        tmp_path / "out", "train", sf, plan=plan, draws=2, workers=1
    )
    extra = [a.name for d in (1, 2) for a, _ in plan.extra_regions("train", d)]
    written = sorted(p.name.removesuffix("_input.tif") for p in (sf / "input").iterdir())
    assert written == sorted(
        f"{name}_{post.start:%Y%m%d}"
        for name in (*record["regions"]["train"], *extra)
        for _, post in stormfree_scenes.WINDOWS
    )
    # the same export again (resumed) is not refused; fewer draws into the same folder would
    # leave the second draw's scenes there: refused
    stormfree_scenes.export_stormfree_scenes(tmp_path / "out", "train", sf, plan=plan, draws=2)
    with pytest.raises(ValueError, match="this export would not write"):
        stormfree_scenes.export_stormfree_scenes(tmp_path / "out", "train", sf, plan=plan, draws=1)
    with pytest.raises(ValueError, match="randomised world"):
        stormfree_scenes.export_stormfree_scenes(tmp_path / "out", "train", sf, draws=1)
    with pytest.raises(SystemExit) as exit_info:  # the command line says why, exit status 2
        stormfree_scenes.main(
            [
                "--training",
                str(tmp_path / "out"),
                "--world",
                "randomised",
                "--split",
                "train",
                "--draws",
                "-1",
                "--out",
                str(tmp_path / "other"),
            ]
        )
    assert exit_info.value.code == 2
    # a folder that is not this plan's world: named before anything is simulated
    with pytest.raises(ValueError, match="lacks 1 of the 'train' split's regions"):
        stormfree_scenes.export_stormfree_scenes(
            tmp_path / "elsewhere", "train", sf, plan=plan, draws=1
        )
    assert not (tmp_path / "elsewhere").exists()


def test_presets_keep_their_digest_and_meta() -> None:
    """The family field is left out of the digest when unset: preset archives do not rebuild."""
    spec = SimulationSpec(landscape="alpine", seed=23)
    # the digest this spec had before SimulationSpec gained the family field (simulator 7)
    assert spec_digest("POINT (0 0)", spec, SIMULATION) == (
        "447f4a09feb056e1717cb27e17d824413db1db95852a43d3c0f728cbff43e2df"
    )
    with_family = spec.model_copy(update={"family": "alpine/mountain/rockfall"})
    assert spec_digest("POINT (0 0)", spec, SIMULATION) != spec_digest(
        "POINT (0 0)", with_family, SIMULATION
    )
    with pytest.raises(ValueError, match="is of landscape"):
        draw_world(spec.model_copy(update={"family": "agricultural_hills/mountain/rockfall"}))


def test_too_few_families_are_a_usage_error_before_anything_is_simulated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found on a walkthrough: one `--family` ended in a traceback ("need at least 3 families
    to split") after the archive folder was made."""
    out = tmp_path / "data"
    argv = ["--world", "randomised", "--out", str(out), "--family",
            "forested_mountains/forestry/debris_flow"]  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        training_data_main(argv)
    assert stopped.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(
            "error: --family: need at least 3 families to split, got 1: name three or more "
            "(train, validation and test take whole families)"
        )
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--size-km", "1", "1"], "--size-km: not an option of --world presets"),
        (["--world", "randomised", "--test-regions", "1"],
         "--test-regions: not an option of --world randomised"),
        (["--train-regions", "-1"], "argument --train-regions: '-1': must be at least 0"),
        # found in review: a traceback of the invalid region it made
        (["--world", "randomised", "--size-km", "0", "0"],
         "--size-km 0 0: give MIN and MAX, 0 < MIN <= MAX (km)"),
    ],
)  # fmt: skip
def test_options_of_the_other_world_or_negative_counts_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    """Found in a walkthrough: --size-km, --family and --per-family were ignored with the
    presets world (regions of 2.5-3.5 km were made for --size-km 1 1), the region counts with
    the randomised one, and --train-regions -1 wrote an empty dataset with status 0."""
    out = tmp_path / "data"
    with pytest.raises(SystemExit) as stopped:
        training_data_main(["--out", str(out), *argv])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(said)
    assert not out.exists()


def test_an_out_that_is_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a walkthrough: a traceback ending in FileExistsError."""
    (tmp_path / "f.txt").write_text("hi")
    with pytest.raises(SystemExit) as stopped:
        training_data_main(["--out", str(tmp_path / "f.txt"), "--test-regions", "1"])
    assert stopped.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(f"error: --out {tmp_path / 'f.txt'}: a file, not a folder")
    )


class _DefaultSigterm(AssertionError):
    """SIGTERM reached the handler the test set before the command: the command let it kill
    the process (the default action) instead of ending through its clean-up."""


@pytest.mark.parametrize(
    ("command", "builder", "argv", "said"),
    [
        ("training_data", "export_training_sets", ["--test-regions", "1"],
         "interrupted by SIGTERM; run it again to go on (built regions are reused)"),
        ("stormfree_scenes", "export_stormfree_scenes", ["--training", "t"],
         "interrupted by SIGTERM; run it again to go on (written scenes are kept)"),
    ],
)  # fmt: skip
def test_sigterm_ends_a_training_build_through_its_clean_up(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    builder: str,
    argv: list[str],
    said: str,
) -> None:
    """Found in review: `archive build` turned SIGTERM (a batch queue's, a supervisor's) into
    the stop its workers are ended by, but the training world's two builds died of it at once,
    their simulation processes left running, and stormfree_scenes answered Ctrl-C with a
    traceback. Both now end with 128 + 15, a line, and the handler they found back."""
    import importlib
    import os
    import signal
    import time

    module = importlib.import_module(
        "monitor.simulator.training_data"
        if command == "training_data"
        else f"monitor.ops.{command}"
    )
    cleaned: list[str] = []

    def stopped_build(*args: object, **kwargs: object) -> object:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the signal's handler runs at once, in this main thread
        finally:
            cleaned.append("workers ended")
        raise AssertionError("the build went on after SIGTERM")

    def default_action(signum: int, frame: object) -> None:
        raise _DefaultSigterm

    monkeypatch.setattr(module, builder, stopped_build)
    previous = signal.signal(signal.SIGTERM, default_action)
    try:
        status = module.main([*argv, "--out", str(tmp_path / "out")])
        assert signal.getsignal(signal.SIGTERM) is default_action  # given back
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert status == 128 + signal.SIGTERM
    assert cleaned == ["workers ended"]
    assert capsys.readouterr().err.splitlines()[-1] == f"python -m {module.__name__}: {said}"
