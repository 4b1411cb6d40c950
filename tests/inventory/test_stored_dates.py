"""One reading of stored dates (``monitor._dates``) for the inventory's columns, the runs table
and ground truth: what each kind of value read back from a GeoPackage or pandas gives."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from monitor._dates import as_day, stored_day


@pytest.mark.parametrize(
    "value",
    [
        "2024-08-17",
        "2024-08-17T23:59:59",
        "2024-08-17T12:00:00Z",
        date(2024, 8, 17),
        datetime(2024, 8, 17, 6, 30),
        pd.Timestamp("2024-08-17 06:30"),
        np.datetime64("2024-08-17T06:30"),
        # a time zone east of UTC: the acquisition's UTC day, as the catalogues date them
        datetime(2024, 8, 18, 1, 0, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_every_stored_form_gives_its_day(value: object) -> None:
    assert stored_day(value) == date(2024, 8, 17)
    assert as_day(value, "x") == date(2024, 8, 17)


@pytest.mark.parametrize(
    "missing", [None, float("nan"), np.float32("nan"), pd.NaT, np.datetime64("NaT"), pd.NA]
)
def test_a_missing_value_is_none_not_an_error(missing: object) -> None:
    assert stored_day(missing) is None


def test_a_bad_value_is_named() -> None:
    with pytest.raises(ValueError, match=r"first_seen: date '17/08/2024' is not a date"):
        stored_day("17/08/2024", "first_seen")
    with pytest.raises(ValueError, match=r"run_date: date .* is missing \(NaT\)"):
        as_day(np.datetime64("NaT"), "run_date")
    assert as_day(datetime(2024, 8, 17, 23, 0, tzinfo=UTC), "x") == date(2024, 8, 17)


def test_earth_engine_s_milliseconds_are_named_with_the_day_they_are() -> None:
    """Found in a walk: a scene dated by Earth Engine's system:time_start (milliseconds since
    1970) was told only "not a date or an ISO YYYY-MM-DD text"."""
    with pytest.raises(ValueError) as refused:
        as_day(1724112000000, "S1 scene 0")
    assert str(refused.value) == (
        "S1 scene 0: date 1724112000000 is not a date or an ISO YYYY-MM-DD text (milliseconds "
        "since 1970, as Earth Engine's system:time_start? That is 2024-08-20: give "
        "datetime.fromtimestamp(ms / 1000, UTC) or the date's text)"
    )
    with pytest.raises(ValueError) as refused:
        as_day(20240820, "S1 scene 0")  # no such hint for a number that is not one
    assert str(refused.value).endswith("is not a date or an ISO YYYY-MM-DD text")
