"""Calendar days from what users give and what the inventory stores: one reading of dates for
the archive's writers (:class:`monitor.sources.archive_writer.RegionWriter`'s scene and ground
truth dates), the inventory's columns and the ground truth a season is scored on."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

__all__ = ["as_day", "stored_day"]


def as_day(when: object, what: str) -> date:
    """``when`` as a date: a date, a datetime (its day; in UTC where it has a time zone, as the
    catalogues date acquisitions), an ISO ``YYYY-MM-DD`` text (with a time and offset: its UTC
    day) or a numpy datetime64; anything else is named with ``what``, and so is a missing one
    (NaT: a scene would be stored under the date 'NaT', which no window holds)."""
    if isinstance(when, datetime | np.datetime64) and pd.isna(when):
        raise ValueError(f"{what}: date {when!r} is missing (NaT); give the acquisition's date")
    if isinstance(when, str):
        text = when
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            try:
                return date.fromisoformat(text[:10])
            except ValueError:
                pass
    if isinstance(when, datetime):
        return (when if when.tzinfo is None else when.astimezone(UTC)).date()
    if isinstance(when, date):
        return when
    if isinstance(when, np.datetime64):
        return pd.Timestamp(when).date()
    hint = ""
    if (
        isinstance(when, int | float | np.integer | np.floating)
        and _EPOCH_MS[0] <= when < _EPOCH_MS[1]
    ):
        # found in a walk: Earth Engine's system:time_start given as it is
        day = datetime.fromtimestamp(float(when) / 1000.0, UTC).date()
        hint = (
            f" (milliseconds since 1970, as Earth Engine's system:time_start? That is {day}: "
            "give datetime.fromtimestamp(ms / 1000, UTC) or the date's text)"
        )
    raise ValueError(f"{what}: date {when!r} is not a date or an ISO YYYY-MM-DD text{hint}")


# Milliseconds since 1970 of the Sentinel era (2014-04-03, Sentinel-1A's first scenes, to 2100)
_EPOCH_MS = (1_396_483_200_000, 4_102_444_800_000)


def stored_day(value: object, what: str = "stored date") -> date | None:
    """The day of a value read back from a table (a GeoPackage's DATE or DATETIME column, a
    pandas column): None where it is missing (None, NaN of any float, NaT of pandas or numpy,
    pandas' NA), else :func:`as_day`."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return as_day(value, what)
