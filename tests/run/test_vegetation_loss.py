"""The large vegetation-loss net (monitor.pipeline.vegetation_loss): a patch of a hectare or
more that lost most of its NDVI on a vegetated slope is a candidate even where the ensemble
drew nothing; smaller, weaker, flat, cropland and cloudy patches are not, and the ensemble's own
detections keep their outline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine

from models.datasets import Scene
from models.feature_stack import MODEL_BANDS
from models.worldcover import CROP, GRASS, MOSS_LICHEN, TREE, WATER
from monitor.pipeline.chain import stack_from_scene
from monitor.pipeline.setting import SettingChoice, predict
from monitor.pipeline.vectorise import VectoriseRules, vectorise
from monitor.pipeline.vegetation_loss import (
    LOSS_DNDVI,
    MAX_POST_NDVI,
    MIN_SLOPE_DEG,
    vegetation_losses,
)

_B = {name: i for i, name in enumerate(MODEL_BANDS)}
SIZE = 100  # pixels of 10 m: 1 km x 1 km
# A patch of rows x cols pixels of 10 m: 2 ha, and 0.6 ha
LARGE = (slice(20, 60), slice(20, 25))
SMALL = (slice(70, 90), slice(70, 73))


def _stack(
    dndvi: float = -0.5,
    *,
    cover: int = GRASS,
    slope: float = 25.0,
    patches: tuple[tuple[slice, slice], ...] = (LARGE, SMALL),
) -> xr.Dataset:
    image = np.zeros((len(MODEL_BANDS), SIZE, SIZE), np.float32)
    image[_B["slope"]] = slope
    image[_B["landcover"]] = cover
    image[_B["dNDVI"]] = -0.02
    for patch in patches:
        image[_B["dNDVI"]][patch] = dndvi
    scene = Scene(
        "s", image, np.zeros((SIZE, SIZE), np.uint8), "EPSG:32632",
        Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0),
    )  # fmt: skip
    return stack_from_scene(scene)


class _Sees:
    """A stand-in ensemble: probability 0.9 on ``seen`` pixels, 0.02 elsewhere, NaN on
    ``blind`` ones (no valid input)."""

    settings = ("S1+S2",)

    def __init__(
        self, seen: tuple[slice, slice] | None = None, blind: tuple[slice, slice] | None = None
    ) -> None:
        self.seen, self.blind = seen, blind

    def predict(self, stack: xr.Dataset, setting: str, *, device: Any = None) -> xr.Dataset:
        full = np.full((stack.sizes["y"], stack.sizes["x"]), 0.02)
        if self.seen is not None:
            full[self.seen] = 0.9
        if self.blind is not None:
            full[self.blind] = np.nan
        layers = {"probability": full, "spread": full * 0, "agreement": full * 0}
        return xr.Dataset(
            {k: (("y", "x"), v) for k, v in layers.items()},
            coords=stack.coords,
            attrs={"threshold": 0.5, "setting": setting},
        )


CHOICE = SettingChoice("S1+S2", "test", 1.0, 1.0)


def _candidates(stack: xr.Dataset, ensemble: _Sees, *, on: bool = True) -> Any:
    out = predict(ensemble, stack, CHOICE, None, vegetation_loss=on)
    return vectorise(out, stack, VectoriseRules())


def test_the_pixel_rule_reads_loss_slope_and_cover() -> None:
    stack = _stack()
    mask = vegetation_losses(stack)
    assert mask[LARGE].all() and mask[SMALL].all()
    assert int(mask.sum()) == 40 * 5 + 20 * 3  # nothing outside the patches
    # a loss just short of the threshold, flat ground, cropland (harvests), a cloud (NaN)
    assert not vegetation_losses(_stack(LOSS_DNDVI + 0.01)).any()
    assert not vegetation_losses(_stack(slope=MIN_SLOPE_DEG - 0.5)).any()
    assert not vegetation_losses(_stack(cover=CROP)).any()
    assert vegetation_losses(_stack(cover=TREE)).sum() == 260
    assert not vegetation_losses(_stack(float("nan"))).any()
    assert vegetation_losses(_stack(cover=MOSS_LICHEN)).sum() == 260
    # where the stack has the post-event NDVI, a patch that kept 0.4 or more is no loss
    post = np.full((SIZE, SIZE), np.nan, np.float32)
    post[LARGE] = MAX_POST_NDVI
    post[SMALL] = MAX_POST_NDVI - 0.01
    kept = vegetation_losses(stack.assign(postNDVI=(("y", "x"), post)))
    assert not kept[LARGE].any() and kept[SMALL].all()
    assert not vegetation_losses(stack.drop_vars("landcover")).any()


def test_a_large_loss_the_ensemble_missed_becomes_an_S2_candidate() -> None:
    stack = _stack()
    found = _candidates(stack, _Sees())
    assert len(found) == 1  # the 0.6 ha patch is below the net's hectare
    row = found.iloc[0]
    assert row["setting"] == "S2"
    assert row["area_m2"] == pytest.approx(2.0e4)
    assert row["prob_mean"] == pytest.approx(0.02)
    assert row["dNDVI_mean"] == pytest.approx(-0.5)
    assert _candidates(stack, _Sees(), on=False).empty


def test_the_ensembles_own_detection_keeps_its_outline() -> None:
    """A loss that overlaps or borders a detection adds nothing: the detection's outline,
    setting and probability stay the ensemble's, whether it saw half the scar or a tenth of a
    hectare at its edge (measured alternatives cost more than they found: docs/models.md)."""
    stack = _stack(patches=(LARGE,))
    for seen, area in (
        ((slice(20, 40), slice(20, 25)), 1.0e4),
        ((slice(18, 20), slice(20, 25)), 1.0e3),
    ):
        found = _candidates(stack, _Sees(seen))
        assert len(found) == 1
        assert found.iloc[0]["area_m2"] == pytest.approx(area)
        assert found.iloc[0]["prob_mean"] == pytest.approx(0.9)
        assert found.iloc[0]["setting"] == "S1+S2"


def test_a_detection_the_rules_exclude_does_not_hide_the_scar() -> None:
    """A detection on water right beside a 2 ha loss is excluded (WorldCover water): it does not
    count as the ensemble's view of the scar, and leaves nothing: the loss is the candidate."""
    stack = _stack(patches=(LARGE,))
    cover = stack["landcover"].values.copy()
    cover[20:60, 25:40] = WATER  # right beside the loss (columns 20-24)
    stack = stack.assign(landcover=(("y", "x"), cover))
    found = _candidates(stack, _Sees((slice(20, 60), slice(25, 40))))
    assert len(found) == 1
    assert found.iloc[0]["area_m2"] == pytest.approx(2.0e4)
    assert found.iloc[0]["setting"] == "S2"


def test_no_loss_is_added_where_the_ensemble_has_no_input() -> None:
    """Pixels without a prediction (NaN: no valid input there) are not the net's: of a 2 ha
    loss, 1.05 ha has none, and the 0.95 ha left is below the net's hectare."""
    stack = _stack(patches=(LARGE,))
    found = _candidates(stack, _Sees(blind=(slice(20, 41), slice(20, 25))))
    assert found.empty


def test_the_hectare_counts_what_the_snow_rule_leaves() -> None:
    """Fresh snow lowers the NDVI as a slide does; the snow rule takes its pixels out of every
    object. A 2 ha loss whose lower 1.2 ha is under bright, snow-flat pixels keeps 0.8 ha: below
    the net's hectare, so nothing is added (the ensemble drew nothing there)."""
    stack = _stack(patches=(LARGE,))
    rgb = np.full((3, SIZE, SIZE), 0.05, np.float32)
    post_ndvi = np.full((SIZE, SIZE), 0.7, np.float32)
    post_ndvi[LARGE] = 0.2  # bare: the 0.8 ha left is no object the region's rules drop
    rgb[:, 36:60, 20:25] = 0.6  # white: blue/red 1, brightness 0.6
    post_ndvi[36:60, 20:25] = 0.02
    stack = stack.assign(post_rgb=(("rgb", "y", "x"), rgb), postNDVI=(("y", "x"), post_ndvi))
    assert _candidates(stack, _Sees()).empty
    rgb[:, 36:60, 20:25] = 0.05  # no snow: the whole 2 ha, its post-event NDVI low
    clear = stack.assign(post_rgb=(("rgb", "y", "x"), rgb))
    found = _candidates(clear, _Sees())
    assert len(found) == 1 and found.iloc[0]["area_m2"] == pytest.approx(2.0e4)


def test_the_filter_is_fitted_without_the_nets_candidates_when_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """``filter_fit --no-net-in-training`` collects the training folders' candidates with the
    net off and the validation and test folders' with it on, as a run draws them."""
    from monitor.config import ModelSettings
    from monitor.ops import filter_fit

    seen: dict[str, bool] = {}

    class _Stop(Exception):
        pass

    def collect(folders: Any, model: Any, policy: ModelSettings, rules: Any) -> Any:
        seen[str(folders[0])] = policy.vegetation_loss
        return filter_fit.Candidates()

    def fit(x: Any, y: Any) -> Any:
        raise _Stop

    manifest = tmp_path / "manifest.json"
    policy = ModelSettings(engine="onnxruntime", device="cpu")
    monkeypatch.setattr(filter_fit, "chain_inputs", lambda path: (None, policy, VectoriseRules()))
    monkeypatch.setattr(filter_fit, "collect", collect)
    monkeypatch.setattr(filter_fit, "fit_classifier", fit)
    for net, expected in ((False, False), (True, True)):
        with pytest.raises(_Stop):
            filter_fit.fit_filter(
                [tmp_path / "train"], [tmp_path / "val"], [tmp_path / "test"], manifest,
                net_in_training=net,
            )  # fmt: skip
        assert seen == {
            str(tmp_path / "train"): expected,
            str(tmp_path / "val"): True,
            str(tmp_path / "test"): True,
        }
