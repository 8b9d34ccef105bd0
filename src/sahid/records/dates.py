"""Dates with precision (DESIGN §4): what a documenter knows, no more.

A witness may know the minute ("2025-01-18T12:30"), the day, only the month ("2018-07")
or only the year; any of them may be approximate ("~2013"). The stored form is the
ISO-8601 prefix the user gave, so nothing is invented. ``bounds`` turns a date into the
first and last instant it may mean, which is what range filters compare.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sahid.errors import InputError

PRECISIONS = ("minute", "day", "month", "year")
_FORM = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})(?:[T ](?P<H>\d{2}):(?P<M>\d{2}))?)?)?"
)


@dataclass(frozen=True)
class FuzzyDate:
    """An ISO prefix (``2025``, ``2025-01``, ``2025-01-18``, ``2025-01-18T12:30``)."""

    text: str
    approximate: bool = False

    @property
    def precision(self) -> str:
        return {4: "year", 7: "month", 10: "day"}.get(len(self.text), "minute")

    def bounds(self) -> tuple[str, str]:
        """First and last minute covered, as sortable ``YYYY-MM-DDTHH:MM`` strings."""
        t = self.text
        y = int(t[:4])
        if len(t) == 4:
            return f"{t}-01-01T00:00", f"{t}-12-31T23:59"
        if len(t) == 7:
            last = calendar.monthrange(y, int(t[5:7]))[1]
            return f"{t}-01T00:00", f"{t}-{last:02d}T23:59"
        if len(t) == 10:
            return f"{t}T00:00", f"{t}T23:59"
        return t, t

    def as_json(self) -> str:
        return ("~" if self.approximate else "") + self.text


def parse_date(value: str, field: str, *, now: datetime | None = None) -> FuzzyDate:
    """Parse a user's date; a leading ``~`` or trailing ``?`` marks it approximate."""
    raw = value.strip()
    approximate = raw.startswith("~") or raw.endswith("?")
    raw = raw.strip("~?").strip()
    m = _FORM.fullmatch(raw)
    if m is None:
        raise InputError(
            f"{field}: {value!r} is not a date; use YYYY, YYYY-MM, YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM (prefix ~ if approximate)"
        )
    y, mo, d, hh, mm = (m.group(k) for k in ("y", "m", "d", "H", "M"))
    try:
        datetime(int(y), int(mo or 1), int(d or 1), int(hh or 0), int(mm or 0), tzinfo=UTC)
    except ValueError:
        raise InputError(f"{field}: {value!r} is not a real calendar date or time") from None
    text = y + (f"-{mo}" if mo else "") + (f"-{d}" if d else "") + (f"T{hh}:{mm}" if hh else "")
    date = FuzzyDate(text, approximate)
    limit = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M")
    if date.bounds()[0] > limit:
        raise InputError(f"{field}: {value!r} is in the future; check the date")
    return date


def from_json(value: str) -> FuzzyDate:
    """The stored form back (trusted: it was validated when written)."""
    return FuzzyDate(value.lstrip("~"), value.startswith("~"))
