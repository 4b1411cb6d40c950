"""What every section of the configuration shares: the strict model base and the path type.

Private to :mod:`monitor.config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo

__all__ = ["ConfigPath", "StrictModel", "resolve_path"]


class StrictModel(BaseModel):
    """A section that refuses unknown fields, so that a typo never falls back to a default."""

    model_config = ConfigDict(extra="forbid")


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir", "."))


def resolve_path(path: Path, info: ValidationInfo) -> Path:
    """``path`` with ``~`` expanded, relative to the ``base_dir`` of the validation context."""
    path = path.expanduser()
    return path if path.is_absolute() else (_base_dir(info) / path)


# A path in the configuration: ``~`` expanded, relative to the configuration file's folder.
ConfigPath = Annotated[Path, AfterValidator(resolve_path)]
