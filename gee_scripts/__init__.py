"""Earth Engine side of the monitor: the only package that imports ``ee``.

Modules take plain arguments (an ``ee.Geometry``, ISO dates, a grid's CRS/transform/shape),
never monitor objects; ``monitor.sources.gee.GeeSource`` drives them.

- :mod:`~gee_scripts.settings` the ``source: {type: gee}`` configuration block (no ``ee``)
- :mod:`~gee_scripts.auth` service-account key or application-default credentials, endpoint
- :mod:`~gee_scripts.coverage` which asset serves each static band, by the region's latitudes
- :mod:`~gee_scripts.sentinel2` cloud/shadow masks, NDVI, greenest-pixel composite, counts
- :mod:`~gee_scripts.sentinel1` GRD filters, edge mask, speckle filter, dB medians, counts
- :mod:`~gee_scripts.terrain_flattening` Vollrath et al. (2020) angular terrain flattening
- :mod:`~gee_scripts.context` DEM, slope, WorldCover, Köppen-Geiger, canopy height
- :mod:`~gee_scripts.assembly` the availability probe and the 29-band feature image
- :mod:`~gee_scripts.fetch` xee fetch onto the region grid, bands -> feature stack
- :mod:`~gee_scripts.export` batch export to Cloud Storage or Drive
- :mod:`~gee_scripts.review_layers` the review map's pre/post true-colour and VV composites
- :mod:`~gee_scripts.retry` the one retry layer: failures classified by message and status,
  bounded backoff, deadlines inside attempts
- :mod:`~gee_scripts.offline` ``ee`` without a server: offline init, graph walking, a
  stand-in that serves arrays for ``computeValue``/``computePixels``

See ``docs/earth_engine.md``.
"""
