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
