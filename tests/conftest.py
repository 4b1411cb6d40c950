"""Settings for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.onnx_engine import CACHE_ENV


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Graphs exported for ONNX Runtime go to one directory per test session, never into the
    user's cache; subprocesses inherit it. A member is exported once per session and shape."""
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("onnx-cache")))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _fresh_resources() -> None:
    """Each test starts with an empty process cache of sources and ensembles
    (monitor.run_inputs.RESOURCES): a test that loaded the real default ensemble into it left it
    there for the next test of the worker, whose stand-in (Ensemble.load patched) was then
    never called: detect --stack's test drew 98 pixels instead of 100 whenever pytest-xdist
    dealt it after the configuration tests."""
    from monitor.run_inputs import RESOURCES

    RESOURCES.clear()
