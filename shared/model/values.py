"""Value types of the data model: min/max pairs, ISO 8601 durations and intervals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated

import isodate
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


# Counts and sizes (cores, GiB, GPUs) stay within a 32-bit signed integer: what every database and
# platform API the agents talk to can hold.
MAX_COUNT = 2**31 - 1


class MinMax(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    max: int | None = Field(default=None, ge=0, le=MAX_COUNT)

    @model_validator(mode="after")
    def _ordered(self) -> MinMax:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    @classmethod
    def exactly(cls, value: int) -> MinMax:
        return cls(min=value, max=value)


# The model's range of time. Every instant and duration a request carries must lie inside it, so that any
# sum a planner or agent makes of them (start + duration + preparing + releasing) stays far within what
# `datetime` holds (year 9999): a value outside is a 422 naming the field, never an OverflowError later.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
LONGEST = timedelta(days=36_525)  # 100 years


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration as a timedelta; years and months count from now."""
    if "Y" in text or "M" in text.split("T", 1)[0]:
        return _parse_duration(text)  # calendar units: relative to now, so never cached
    return _parse_fixed_duration(text)


@lru_cache(maxsize=1024)
def _parse_fixed_duration(text: str) -> timedelta:
    return _parse_duration(text)  # the same few strings recur in every offer


def _parse_duration(text: str) -> timedelta:
    try:
        value = isodate.parse_duration(text)
        if isinstance(value, isodate.Duration):
            value = value.totimedelta(start=datetime.now(UTC))
    except OverflowError:
        raise ValueError(f"duration '{text}' is longer than 100 years") from None
    except (isodate.ISO8601Error, ValueError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"'{text}' is not an ISO 8601 duration (e.g. PT2H)") from exc
    if value < timedelta(0):
        raise ValueError(f"duration '{text}' is negative")
    if value > LONGEST:
        raise ValueError(f"duration '{text}' is longer than 100 years")
    return value


def format_duration(value: timedelta) -> str:
    return isodate.duration_isoformat(value)


def parse_instant(text: str) -> datetime:
    return _instant(text)


def _instant(text: str) -> datetime:
    try:
        value = isodate.parse_datetime(text) if "T" in text else _midnight(isodate.parse_date(text))
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        inside = EARLIEST <= value < LATEST  # comparing converts to UTC: 0001-01-01T00:00+01:00 overflows
    except (isodate.ISO8601Error, ValueError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"'{text}' is not an ISO 8601 instant") from exc
    if not inside:
        raise ValueError(f"instant '{text}' is outside the years {EARLIEST.year} to {LATEST.year - 1}")
    return value


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_interval(text: str) -> tuple[datetime, datetime]:
    """ISO 8601 interval (start/end, start/duration, duration/end, or one instant) as (start, end)."""
    parts = text.split("/")
    if len(parts) == 1:
        start = _instant(parts[0])
        return start, start
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"'{text}' is not an ISO 8601 interval (e.g. 2026-01-01T10:00Z/PT2H)")
    first, second = parts
    if first.startswith("P"):
        end = _instant(second)
        return end - parse_duration(first), end
    start = _instant(first)
    end = start + parse_duration(second) if second.startswith("P") else _instant(second)
    if end < start:
        raise ValueError(f"interval '{text}' ends before it starts")
    return start, end


def format_interval(start: datetime, duration: timedelta) -> str:
    return f"{format_instant(start)}/{format_duration(duration)}"


@lru_cache(maxsize=4096)  # a document's instants recur (its offers share most of theirs); datetimes are immutable
def format_instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


def _check_interval(text: str) -> str:
    parse_interval(text)
    return text


IsoDuration = Annotated[str, AfterValidator(_check_duration)]
IsoInterval = Annotated[str, AfterValidator(_check_interval)]
