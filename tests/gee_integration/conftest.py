"""Integration tests against the real Earth Engine: skipped unless credentials are configured
(as Xee's own integration tests do).

Run them with an account (see docs/earth_engine.md):

    export EE_PROJECT=my-cloud-project
    export EE_SERVICE_ACCOUNT_KEY=/path/to/key.json   # or: gcloud auth application-default login
    .venv/bin/python -m pytest tests/gee_integration -m integration -v
"""

from __future__ import annotations

import os

import pytest

from gee_scripts.settings import GeeSettings

_CREDENTIAL_VARIABLES = ("EE_SERVICE_ACCOUNT_KEY", "GOOGLE_APPLICATION_CREDENTIALS")


def _configured() -> str | None:
    """Why the tests may run (a credential source), or None."""
    for name in _CREDENTIAL_VARIABLES:
        if os.environ.get(name, "").strip():
            return name
    if os.environ.get("EE_INTEGRATION", "") == "1":  # application-default credentials
        return "EE_INTEGRATION"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _configured():
        return
    skip = pytest.mark.skip(
        reason="no Earth Engine credentials: set EE_SERVICE_ACCOUNT_KEY (a key file), "
        "GOOGLE_APPLICATION_CREDENTIALS, or EE_INTEGRATION=1 with application-default "
        "credentials, and EE_PROJECT"
    )
    for item in items:
        if "gee_integration" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def gee_settings() -> GeeSettings:
    from gee_scripts.auth import initialize

    settings = GeeSettings(
        chunk_px=256,
        max_workers=4,
        assets={"kg_climate": os.environ["EE_KG_CLIMATE_ASSET"]}
        if os.environ.get("EE_KG_CLIMATE_ASSET")
        else {},
    )
    initialize(settings)
    return settings
