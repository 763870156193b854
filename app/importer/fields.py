"""Reading one row's fields: numbers, times, lists and quantities, each error with its field.

A :class:`RowReader` never raises on bad data: it records ``(field, reason)`` and returns
None, so one pass over a row reports every problem in it at once.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, tzinfo
from typing import Any

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
TIME_HINT = "use HH:MM or ISO 8601 with an offset, e.g. 2026-11-24T09:00:00-07:00"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_time(raw: Any, tz: tzinfo, day: date) -> datetime:
    """``HH:MM`` on ``day`` in ``tz``, or an ISO 8601 time with an offset; ValueError else."""
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a time ({TIME_HINT})")
    text = raw.strip()
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

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.errors: list[tuple[str, str]] = []

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
        try:
            value = float(raw.strip().replace("_", "") if isinstance(raw, str) else raw)
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
            return parse_time(raw, tz, day)
        except ValueError as exc:
            self.error(name, str(exc))
            return None

    def names(self, name: str) -> frozenset[str]:
        """A list of names: ``a;b`` in CSV, a JSON array in JSON."""
        raw = self.values.get(name)
        if _blank(raw):
            return frozenset()
        if isinstance(raw, str):
            items = raw.split(";")
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
