"""Reading one row's fields: numbers, times, lists and quantities, each error with its field.

A :class:`RowReader` never raises on bad data: it records ``(field, reason)`` and returns
None, so one pass over a row reports every problem in it at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
TIME_HINT = "use HH:MM or ISO 8601 with an offset, e.g. 2026-11-24T09:00:00-07:00"
#: A day written with slashes or dots (24/11/2026, 11.24.2026): which is the month is unknown.
_SLASHED_DAY = re.compile(r"\d{1,2}[/.]\d{1,2}[/.]\d{4}")
_TOKENS = {"dd": (r"(?P<d>\d{1,2})", "%d"), "mm": (r"(?P<m>\d{1,2})", "%m"),
           "yyyy": (r"(?P<y>\d{4})", "%Y")}  # fmt: skip


@dataclass(frozen=True)
class DateFormat:
    """How times with a date are written, e.g. ``dd/mm/yyyy`` (then ``24/11/2026 09:00``
    is 09:00 on 24 November in the depot's time zone). Tokens ``dd``, ``mm``, ``yyyy``, each
    once, separated by ``/``, ``.`` or ``-``."""

    text: str

    def __post_init__(self) -> None:
        parts = re.split(r"([/.\-])", self.text.strip().lower())
        tokens, seps = parts[::2], set(parts[1::2])
        if sorted(tokens) != ["dd", "mm", "yyyy"] or len(seps) != 1:
            raise ValueError(
                f"date format {self.text!r}: write dd, mm and yyyy once each, separated by "
                "one of / . - (e.g. dd/mm/yyyy)"
            )

    @property
    def _parts(self) -> list[str]:
        return re.split(r"([/.\-])", self.text.strip().lower())

    @property
    def strptime(self) -> str:
        return "".join(_TOKENS[p][1] if p in _TOKENS else p for p in self._parts)

    @property
    def pattern(self) -> str:
        return "".join(_TOKENS[p][0] if p in _TOKENS else re.escape(p) for p in self._parts)

    def search(self, text: str) -> Iterator[str]:
        """Every date written in this format inside ``text``."""
        for match in re.finditer(self.pattern, text):
            yield match.group(0)

    def parse(self, text: str, tz: tzinfo) -> datetime | None:
        """``<date> HH:MM[:SS]`` in this format as a time in ``tz``; None when it is not
        written that way; ValueError when it is but names no real day or clock time."""
        match = re.fullmatch(self.pattern + r"[ T]+" + _CLOCK.pattern, text)
        if match is None:
            if re.fullmatch(self.pattern, text):
                raise ValueError(f"{text!r} is a date without a time ({self.text} HH:MM)")
            return None
        year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
        hour, minute, second = (int(g or 0) for g in match.groups()[-3:])
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=tz)
        except ValueError:
            raise ValueError(f"{text!r} is not a real day and time ({self.text} HH:MM)") from None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_time(raw: Any, tz: tzinfo, day: date, date_format: DateFormat | None = None) -> datetime:
    """``HH:MM`` on ``day`` in ``tz``, an ISO 8601 time with an offset, or (with
    ``date_format``) a date in that format and ``HH:MM`` in ``tz``; ValueError else."""
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a time ({TIME_HINT})")
    text = raw.strip()
    if date_format is not None:
        moment = date_format.parse(text, tz)
        if moment is not None:
            return moment
    elif _SLASHED_DAY.match(text):
        raise ValueError(
            f"{text!r}: is that day-first or month-first? Name the date format "
            "(--date-format dd/mm/yyyy or mm/dd/yyyy)"
        )
    clock = _CLOCK.fullmatch(text)
    if clock:
        hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"{text!r} is not a clock time ({TIME_HINT})")
        return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=tz)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time ({TIME_HINT})") from None
    if "T" not in text.upper() and " " not in text:
        raise ValueError(f"{text!r} is a date without a time ({TIME_HINT})")
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset, so its moment is unknown ({TIME_HINT})")
    return moment


class RowReader:
    """Typed access to one row's raw values, collecting a reason per bad field."""

    def __init__(
        self,
        values: dict[str, Any],
        *,
        decimal_comma: bool = False,
        date_format: DateFormat | None = None,
    ) -> None:
        self.values = values
        self.errors: list[tuple[str, str]] = []
        self.decimal_comma = decimal_comma  # "12,5" is 12.5 (files not separated by commas)
        self.date_format = date_format

    def error(self, name: str, reason: str) -> None:
        self.errors.append((name, reason))

    def has(self, name: str) -> bool:
        return not _blank(self.values.get(name))

    def text(self, name: str, *, required: bool = False, default: str = "") -> str:
        raw = self.values.get(name)
        if _blank(raw):
            if required:
                self.error(name, "missing (required)")
            return default
        if isinstance(raw, (dict, list)):
            self.error(name, f"expected text, got {type(raw).__name__}")
            return default
        return str(raw).strip()

    def number(
        self, name: str, *, required: bool = False, default: float | None = None
    ) -> float | None:
        """A finite, non-negative number."""
        return self._number(name, self.values.get(name), required, default, negative_ok=False)

    def coordinate(self, name: str) -> float | None:
        """A required finite number that may be negative (range checked by the caller)."""
        return self._number(name, self.values.get(name), True, None, negative_ok=True)

    def _number(
        self, name: str, raw: Any, required: bool, default: float | None, *, negative_ok: bool
    ) -> float | None:
        if _blank(raw):
            if required:
                self.error(name, "missing (required)")
            return default
        if isinstance(raw, bool):
            self.error(name, f"{raw!r} is not a number")
            return None
        if isinstance(raw, str):
            text = raw.strip().replace("_", "")
            if "," in text:
                if not self.decimal_comma:
                    self.error(name, f"{raw!r} is not a number (write decimals with a '.')")
                    return None
                if "." in text:
                    self.error(
                        name,
                        f"{raw!r} is not a number: write it without thousands separators "
                        "(e.g. 1234,5)",
                    )
                    return None
                text = text.replace(",", ".")
            raw_number: Any = text
        else:
            raw_number = raw
        try:
            value = float(raw_number)
        except (TypeError, ValueError):
            self.error(name, f"{raw!r} is not a number")
            return None
        if not math.isfinite(value):
            self.error(name, f"{raw!r} is not a finite number")
            return None
        if value < 0 and not negative_ok:
            self.error(name, f"{raw!r} is negative; it must be 0 or more")
            return None
        return value

    def whole(self, name: str, *, default: int = 0) -> int | None:
        """A whole number >= 0 (``3`` or ``3.0``; not ``3.5``)."""
        value = self.number(name, default=float(default))
        if value is None:
            return None
        if value != int(value):
            self.error(name, f"{self.values.get(name)!r} is not a whole number")
            return None
        return int(value)

    def time(self, name: str, tz: tzinfo, day: date, *, required: bool = False) -> datetime | None:
        raw = self.values.get(name)
        if _blank(raw):
            if required:
                self.error(name, "missing (required)")
            return None
        try:
            return parse_time(raw, tz, day, self.date_format)
        except ValueError as exc:
            self.error(name, str(exc))
            return None

    def names(self, name: str) -> frozenset[str]:
        """A list of names: ``a;b`` in CSV (``a,b`` too where the file is ``;``-separated),
        a JSON array in JSON."""
        raw = self.values.get(name)
        if _blank(raw):
            return frozenset()
        if isinstance(raw, str):
            items = re.split("[;,]" if self.decimal_comma else ";", raw)
        elif isinstance(raw, list) and all(isinstance(i, str) for i in raw):
            items = raw
        else:
            self.error(name, f"expected names separated by ';' or a list of text, got {raw!r}")
            return frozenset()
        return frozenset(i.strip() for i in items if i.strip())

    def quantities(self, prefix: str) -> dict[str, float]:
        """``<prefix>_<dim>`` columns and/or a ``<prefix>`` object ``{"kg": 120}``."""
        amounts: dict[str, float] = {}
        structured = self.values.get(prefix)
        if isinstance(structured, dict):
            for dim, raw in structured.items():
                value = self._number(f"{prefix}.{dim}", raw, False, None, negative_ok=False)
                if value is not None and str(dim).strip():
                    amounts[str(dim).strip().lower()] = value
        elif not _blank(structured):
            self.error(prefix, f'expected an object like {{"kg": 120}}, got {structured!r}')
        for key in self.values:
            if key.startswith(prefix + "_") and len(key) > len(prefix) + 1:
                value = self.number(key)
                if value is not None and self.has(key):
                    amounts[key[len(prefix) + 1 :]] = value
        return amounts
