"""What an import found: per file the rows read, imported and rejected, and why.

An :class:`Issue` names the file, the row (CSV: the line the record starts on, the header
being row 1; JSON: the item's index in its list), the field and the reason. Reports are
plain data: the CLI prints them, ``to_dict`` makes them JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

#: Refusal reasons kept per file (every refused row is still counted): a file refused row
#: by row must not fill memory with its reasons.
MAX_ISSUES = 10_000


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with a row (or, with ``row=None``, with the whole file)."""

    file: str
    row: int | None
    field: str
    reason: str
    where: str = ""

    @property
    def location(self) -> str:
        """``file:row`` as a user would look it up (``file`` alone for file-level issues)."""
        if self.row is None:
            return self.file
        return f"{self.file}:{self.where or self.row}"

    def __str__(self) -> str:
        return f"{self.location} {self.field}: {self.reason}"

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "row": self.row,
            "where": self.where or (str(self.row) if self.row is not None else ""),
            "field": self.field,
            "reason": self.reason,
        }


@dataclass(slots=True)
class FileReport:
    """One file's outcome; filled while the file is read, validated and stored."""

    file: str
    kind: str = ""
    format: str = ""  # how it was read when not plain UTF-8 with commas (encoding, delimiter)
    rows_read: int = 0
    accepted: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    error: str = ""
    issues: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    rejected_rows: int = 0
    issues_left_out: int = 0  # reasons beyond MAX_ISSUES, counted only
    _last_rejected: str | None = None

    @property
    def rejected(self) -> int:
        """Rows refused (all of them when the file itself could not be read)."""
        return self.rows_read if self.error else self.rejected_rows

    def reject(self, row: int, field_name: str, reason: str, where: str = "") -> None:
        """Refuse a row for one reason (a row's reasons come one after the other)."""
        key = where or str(row)
        if key != self._last_rejected:
            self.rejected_rows += 1
            self._last_rejected = key
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(Issue(self.file, row, field_name, reason, where))
        else:
            self.issues_left_out += 1

    def warn(
        self, reason: str, *, row: int | None = None, field_name: str = "", where: str = ""
    ) -> None:
        self.warnings.append(Issue(self.file, row, field_name, reason, where))

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "kind": self.kind,
            "format": self.format or "UTF-8",
            "rows_read": self.rows_read,
            "imported": self.accepted,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "error": self.error,
            "rejections": [i.to_dict() for i in self.issues],
            "rejections_left_out": self.issues_left_out,
            "warnings": [w.to_dict() for w in self.warnings],
        }


@dataclass(frozen=True, slots=True)
class DayCheck:
    """A whole-day sanity check of one depot's day: a warning when ``ok`` is false."""

    depot_id: str
    day: date
    name: str
    ok: bool
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "depot_id": self.depot_id,
            "day": self.day.isoformat(),
            "check": self.name,
            "ok": self.ok,
            "message": self.message,
        }


@dataclass(slots=True)
class ImportReport:
    """The whole import: file reports in reading order plus the whole-day checks."""

    day: date | None = None
    database: str = ""
    files: list[FileReport] = field(default_factory=list)
    day_checks: list[DayCheck] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    @property
    def file_errors(self) -> list[FileReport]:
        return [f for f in self.files if f.error]

    @property
    def imported(self) -> int:
        return sum(f.accepted for f in self.files)

    @property
    def empty(self) -> bool:
        """Nothing went in: no file had a good row (an empty import is not a success)."""
        return self.imported == 0

    @property
    def exit_code(self) -> int:
        """0 all rows imported, 1 some rows rejected or nothing imported, 2 a file could not
        be read at all."""
        if self.file_errors:
            return 2
        return 1 if self.rejected or self.empty else 0

    def to_dict(self) -> dict[str, object]:
        return {
            "day": self.day.isoformat() if self.day else None,
            "database": self.database,
            "rows_read": sum(f.rows_read for f in self.files),
            "imported": self.imported,
            "rejected": self.rejected,
            "empty": self.empty,
            "exit_code": self.exit_code,
            "files": [f.to_dict() for f in self.files],
            "day_checks": [c.to_dict() for c in self.day_checks],
        }

    def render(self) -> str:
        """The readable report the CLI prints."""
        lines: list[str] = []
        head = "Import"
        if self.database:
            head += f" into {self.database}"
        if self.day:
            head += f" (day {self.day.isoformat()})"
        lines.append(head)
        for f in self.files:
            lines.extend(_render_file(f))
        if self.day_checks:
            lines.append("Whole-day checks:")
            for c in self.day_checks:
                mark = "ok  " if c.ok else "WARN"
                lines.append(f"  {mark} {c.depot_id} {c.day.isoformat()} {c.name}: {c.message}")
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        """The last line: rows read, imported, refused; says so when nothing went in."""
        read = sum(f.rows_read for f in self.files)
        summary = f"Result: {_rows(read)} read, {self.imported} imported, {self.rejected} rejected"
        if self.file_errors:
            summary += f", {len(self.file_errors)} file(s) could not be read"
        if self.empty:
            summary += ". Nothing was imported"
        return summary + "."


def _render_file(f: FileReport) -> list[str]:
    if f.error:
        return [f"{f.file}: NOT READ - {f.error}"]
    how = f"{f.kind}; {f.format}" if f.format else f.kind
    lines = [
        f"{f.file} ({how}): {_rows(f.rows_read)} read, {f.accepted} imported "
        f"({f.inserted} inserted, {f.updated} updated, {f.unchanged} unchanged), "
        f"{f.rejected} rejected"
    ]
    lines.extend(f"  {issue}" for issue in f.issues)
    if f.issues_left_out:
        lines.append(f"  ... and {f.issues_left_out} more reasons (not listed)")
    lines.extend(
        f"  warning: {w.location} {w.field + ': ' if w.field else ''}{w.reason}" for w in f.warnings
    )
    return lines


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"
