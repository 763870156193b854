"""From bytes to records: encoding, delimiter and JSON shape checks, row numbering.

Nothing here knows what a field means. A file that cannot be read as the import format
(not UTF-8, another delimiter, broken JSON) raises :class:`FileFormatError` with a message
that says what was found and where; rows come out as :class:`Record` with the number a
user would look up.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

#: The kinds of file, in the order an import reads them.
KINDS: tuple[str, ...] = ("depots", "vehicles", "drivers", "orders")

_KIND_IN_NAME = re.compile(r"(?<![a-z])(depot|vehicle|driver|order)s?(?![a-z])")
_ISO_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}")
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "vertical bar"}


class FileFormatError(ValueError):
    """The file as a whole is not in the import format (what was found, and where)."""


@dataclass(frozen=True, slots=True)
class Source:
    """A file's name as the user gave it and its raw bytes."""

    name: str
    data: bytes

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()


@dataclass(frozen=True, slots=True)
class Record:
    """One row: its number (CSV line / JSON index), how to show it, and its raw values."""

    row: int
    where: str
    values: dict[str, Any]
    problem: str = ""


@dataclass(slots=True)
class ParsedFile:
    """A readable file's records per kind, plus notes about columns or keys it ignored."""

    records: dict[str, list[Record]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)


def kind_from_name(name: str) -> str | None:
    """``orders_wave2.csv`` -> ``orders``; None when the name tells no kind."""
    match = _KIND_IN_NAME.search(Path(name).stem.lower())
    return f"{match.group(1)}s" if match else None


def collect_sources(paths: Iterable[str | Path]) -> list[Source]:
    """Read files, and every ``*.csv``/``*.json`` inside folders; OSError for a missing path."""
    found: dict[Path, str] = {}  # a file named twice (itself and its folder) is read once
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".json"))
            for p in inside:
                found.setdefault(p.resolve(), str(p))
        elif path.exists():
            found.setdefault(path.resolve(), str(raw))
        else:
            raise FileNotFoundError(f"{raw}: no such file or folder")
    return [Source(name, resolved.read_bytes()) for resolved, name in found.items()]


def decode_utf8(data: bytes) -> str:
    """The text of a UTF-8 file (a BOM is fine); FileFormatError naming the bad byte."""
    offset = 0
    if data.startswith(codecs.BOM_UTF8):
        offset = len(codecs.BOM_UTF8)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileFormatError("not UTF-8: the file is UTF-16 (it starts with a UTF-16 BOM)")
    try:
        return data[offset:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = offset + exc.start
        line = data[:at].count(b"\n") + 1
        raise FileFormatError(
            f"not UTF-8: byte 0x{data[at]:02x} at byte offset {at} (line {line}) "
            "is not valid UTF-8; save the file as UTF-8"
        ) from None


def day_named_in(sources: Iterable[Source]) -> date | None:
    """The calendar day of the first ISO 8601 time written in the files, if any."""
    for source in sources:
        for match in _ISO_DAY.finditer(source.data.decode("utf-8", errors="replace")):
            try:
                return date.fromisoformat(match.group(1))
            except ValueError:
                continue  # not a real date (that row is reported on its own)
    return None


def parse_source(source: Source) -> ParsedFile:
    """Records of a CSV or JSON file; FileFormatError when the file cannot be read at all."""
    if source.suffix == ".csv":
        kind = kind_from_name(source.name)
        if kind is None:
            raise FileFormatError(_unknown_kind_message())
        columns, records = _read_csv(decode_utf8(source.data))
        return ParsedFile({kind: records}, columns={kind: columns})
    if source.suffix == ".json":
        return _read_json(source.name, decode_utf8(source.data))
    raise FileFormatError(f"unknown file type {source.suffix!r}: only .csv and .json are read")


def _unknown_kind_message() -> str:
    return (
        "cannot tell what the file holds: its name must contain depots, vehicles, drivers "
        "or orders (e.g. orders_wave2.csv)"
    )


def _read_csv(text: str) -> tuple[tuple[str, ...], list[Record]]:
    first_line = text.split("\n", 1)[0]
    commas = first_line.count(",")
    for delimiter, label in _OTHER_DELIMITERS.items():
        found = first_line.count(delimiter)
        if found and found >= commas:
            shown = "\\t" if delimiter == "\t" else delimiter
            raise FileFormatError(
                f"wrong delimiter: the header is separated by {label} ('{shown}'), "
                "this format needs commas (',')"
            )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise FileFormatError("the file is empty: a header row is needed") from None
    columns = tuple(h.strip().lower() for h in header)
    seen: set[str] = set()
    for column in columns:
        if not column:
            raise FileFormatError("the header has an empty column name")
        if column in seen:
            raise FileFormatError(f"the header names column {column!r} twice")
        seen.add(column)
    return columns, list(_csv_records(reader, columns))


def _csv_records(reader: Any, columns: tuple[str, ...]) -> Iterator[Record]:
    last_line = reader.line_num
    for values in reader:
        start = last_line + 1
        last_line = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue  # blank lines are not rows
        problem = ""
        if len(values) != len(columns):
            problem = f"has {len(values)} values but the header has {len(columns)} columns"
        row = dict(zip(columns, (v.strip() for v in values), strict=False))
        yield Record(start, str(start), row, problem)


def _read_json(name: str, text: str) -> ParsedFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    parsed = ParsedFile()
    if isinstance(data, list):
        kind = kind_from_name(name)
        if kind is None:
            raise FileFormatError(_unknown_kind_message() + ", or hold an object with those keys")
        parsed.records[kind] = _json_records(data, "")
        return parsed
    if not isinstance(data, dict):
        raise FileFormatError("JSON must hold a list of objects or an object of lists")
    for key in data:
        if key not in KINDS:
            parsed.notes.append(f"key {key!r} is not part of the format, ignored")
    for kind in KINDS:
        if kind not in data:
            continue
        if not isinstance(data[kind], list):
            raise FileFormatError(f"{kind!r} must be a list of objects")
        parsed.records[kind] = _json_records(data[kind], kind)
    if not parsed.records:
        raise FileFormatError(f"the object has none of the keys {', '.join(KINDS)}")
    return parsed


def _json_records(items: list[Any], prefix: str) -> list[Record]:
    records = []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]"
        if isinstance(item, dict):
            values = {str(k).strip().lower(): v for k, v in item.items()}
            records.append(Record(index, where, values))
        else:
            records.append(
                Record(index, where, {}, f"item is {type(item).__name__}, not an object")
            )
    return records
