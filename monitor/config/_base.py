"""What every section of the configuration shares: the strict model base and the path type.

Private to :mod:`monitor.config`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo

__all__ = ["ConfigPath", "StrictModel", "refuse_variables", "resolve_path"]


class StrictModel(BaseModel):
    """A section that refuses unknown fields, so that a typo never falls back to a default."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _base_dir(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir", "."))


# $NAME or ${NAME}: a shell's variable, which the configuration does not expand
_VARIABLE = re.compile(r"\$(?:\{[A-Za-z_]\w*\}|[A-Za-z_]\w*)")


def refuse_variables(path: Path) -> Path:
    """``path``, refused with a :class:`ValueError` where it names an environment variable: it
    would be read as a folder of that name (``$HOME/inv.gpkg`` made ``./$HOME/``), silently;
    and where it holds a NUL character, which no file system allows (it was "ValueError:
    embedded null byte" without a field, found in a config audit)."""
    if "\0" in str(path):
        raise ValueError(f"{str(path)!r} holds a NUL character (\\0), which no path can hold")
    if _VARIABLE.search(str(path)):
        raise ValueError(
            f"{path}: environment variables are not expanded in the configuration; write the "
            "path itself (~ is expanded, and a relative path is read from base_dir, by default "
            "the configuration's folder)"
        )
    return path


def resolve_path(path: Path, info: ValidationInfo) -> Path:
    """``path`` with ``~`` expanded, relative to the ``base_dir`` of the validation context;
    :class:`ValueError` where it names an environment variable (:func:`refuse_variables`)."""
    path = refuse_variables(path).expanduser()
    return path if path.is_absolute() else (_base_dir(info) / path)


# A path in the configuration: ``~`` expanded, relative to base_dir (by default the
# configuration file's folder).
ConfigPath = Annotated[Path, AfterValidator(resolve_path)]
