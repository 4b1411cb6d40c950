"""The radar geometry layers of the feature image, evaluated with numpy: layover/shadow where
every scene is masked (the no-data areas of VV/VH) and one had layover/shadow there, liaDeg the
mean LIA of the unmasked scenes (of all scenes where all are masked) — the archive's rule."""

from __future__ import annotations

import ee
import numpy as np
from gee_numpy_eval import GraphEvaluator

from gee_scripts.assembly import _geometry_layers
from gee_scripts.offline import graph_tree


def test_geometry_layers_follow_the_archive_rule() -> None:
    rng = np.random.default_rng(7)
    n_scenes, shape = 3, (12, 12)
    layover = rng.random((n_scenes, *shape)) < 0.35
    shadow = ~layover & (rng.random((n_scenes, *shape)) < 0.35)
    lia = rng.uniform(5.0, 80.0, (n_scenes, *shape))
    inputs = {
        f"T/s{i}": {
            "layover": layover[i].astype(float),
            "shadow": shadow[i].astype(float),
            "liaDeg": lia[i],
        }
        for i in range(n_scenes)
    }
    pre = ee.ImageCollection.fromImages([ee.Image("T/s0"), ee.Image("T/s1")])
    post = ee.ImageCollection.fromImages([ee.Image("T/s2")])
    out = GraphEvaluator(inputs)(graph_tree(_geometry_layers(pre.merge(post))))

    # The archive's rule (monitor.sources.archive, one scene per track here).
    masked = layover | shadow
    nodata = masked.all(axis=0)
    weights = np.where(nodata[None], 1.0, ~masked)
    expected_lia = (lia * weights).sum(axis=0) / weights.sum(axis=0)
    assert nodata.sum() > 3 and (~nodata).sum() > 3  # both cases occur
    np.testing.assert_array_equal(out["layover"], (nodata & layover.any(axis=0)).astype(float))
    np.testing.assert_array_equal(out["shadow"], (nodata & shadow.any(axis=0)).astype(float))
    np.testing.assert_allclose(out["liaDeg"], expected_lia, rtol=1e-12)
    assert list(out) == ["layover", "shadow", "liaDeg"]
