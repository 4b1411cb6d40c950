"""The radar geometry layers of the feature image, evaluated with numpy against the archive's own
rule (``monitor.sources.archive_composite.Radar.add_geometry``): layover/shadow where every
track is masked (the no-data areas of VV/VH) and one had layover/shadow there, liaDeg the mean
over tracks of each track's LIA, of the unmasked tracks (of all tracks where all are masked)."""

from __future__ import annotations

import ee
import numpy as np

from gee_scripts.assembly import _geometry_layers
from gee_scripts.offline import graph_tree
from monitor.sources.archive_composite import Radar
from monitor.sources.terrain_flattening import TrackGeometry
from tests.gee.gee_numpy_eval import GraphEvaluator


def test_geometry_layers_follow_the_archive_rule() -> None:
    """Found in a review against the papers: Earth Engine averaged the LIA over scenes, the
    archive over tracks, so a track seen three times in the windows and one seen once gave a
    mean of 30 degrees there and 40 here (liaDeg is a model band of the radar settings)."""
    rng = np.random.default_rng(7)
    shape = (12, 12)
    tracks = {15: 3, 88: 1, 117: 2}  # relative orbit: scenes in the two windows
    geometry = {}
    for track in tracks:
        layover = rng.random(shape) < 0.35
        zeros = np.zeros(shape, np.float32)
        geometry[track] = TrackGeometry(
            theta_i_deg=zeros,
            alpha_r_deg=zeros,
            alpha_az_deg=zeros,
            lia_deg=rng.uniform(5.0, 80.0, shape),
            layover=layover,
            shadow=~layover & (rng.random(shape) < 0.35),
        )
    inputs, properties, images = {}, {}, []
    for track, n in tracks.items():
        g = geometry[track]
        for i in range(n):
            name = f"T/s{track}_{i}"
            inputs[name] = {
                "layover": g.layover.astype(float),
                "shadow": g.shadow.astype(float),
                "liaDeg": g.lia_deg,  # a track's scenes share its geometry, as in the archive
            }
            properties[name] = {"relativeOrbitNumber_start": track}
            images.append(ee.Image(name))
    pre = ee.ImageCollection.fromImages(images[:3])
    post = ee.ImageCollection.fromImages(images[3:])
    graph = graph_tree(_geometry_layers(pre.merge(post)))
    out = GraphEvaluator(inputs, properties=properties)(graph)

    archive = Radar(*shape)
    archive.add_geometry(list(geometry.values()))
    masked = np.stack([g.layover | g.shadow for g in geometry.values()])
    nodata = np.asarray(masked.all(axis=0))
    assert nodata.sum() > 3 and (~nodata).sum() > 3  # both cases occur
    np.testing.assert_array_equal(out["layover"], archive.layover)
    np.testing.assert_array_equal(out["shadow"], archive.shadow)
    np.testing.assert_allclose(out["liaDeg"], archive.lia, rtol=1e-12)
    # the mean over scenes (the rule before) is another figure here
    counts = np.array(list(tracks.values()), float)[:, None, None]
    lia = np.stack([g.lia_deg for g in geometry.values()])
    weights = np.where(nodata[None], 1.0, ~masked) * counts
    assert np.abs((lia * weights).sum(axis=0) / weights.sum(axis=0) - archive.lia).max() > 5.0
    assert list(out) == ["layover", "shadow", "liaDeg"]
