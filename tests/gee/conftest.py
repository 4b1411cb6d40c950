"""Fixtures of the Earth Engine unit tests: ``ee`` initialised offline from the signatures in
its own wheel (no network, no account), restored afterwards so other test folders see ``ee``
as they left it."""

from __future__ import annotations

from collections.abc import Iterator

import ee
import pytest

from gee_scripts.offline import initialize_offline


@pytest.fixture(autouse=True, scope="module")
def offline_ee() -> Iterator[None]:
    saved = (
        ee.data.getAlgorithms,
        ee.data._install_cloud_api_resource,
        ee.data.computeValue,
        ee.data.computePixels,
        ee.deprecation._FetchDataCatalogStac,
    )
    initialize_offline()
    yield
    (
        ee.data.getAlgorithms,
        ee.data._install_cloud_api_resource,
        ee.data.computeValue,
        ee.data.computePixels,
        ee.deprecation._FetchDataCatalogStac,
    ) = saved
    ee.Reset()
