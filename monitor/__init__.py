"""Landslide monitor: daily detection of new landslides from Sentinel-1/2 change features."""

import models as _models

__version__ = "0.1.0"

if getattr(_models, "__file__", None) is None:
    # a folder named models in the working directory, without an __init__.py, found before the
    # project's package (``python -m`` puts the working directory first on the import path, and
    # an editable install's import hook comes after it): every module below would fail on it
    # with a TypeError far from the cause
    raise ImportError(
        f"the folder {', '.join(map(str, _models.__path__))} hides landslide-monitor's `models` "
        "package (`python -m` reads the working directory first): run the command from another "
        "folder, or rename that folder"
    )
