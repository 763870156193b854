"""From bytes to records: encoding, delimiter and JSON shape, row numbering, streamed.

Nothing here knows what a field means. A file is first *sniffed* (one pass over its bytes,
never held whole): its encoding (UTF-8, else Windows-1252 or Latin-1, reported as assumed)
and, for CSV, the delimiter its header uses (``,`` ``;`` tab or ``|``). Rows are then read
lazily, one :class:`Record` at a time with the number a user would look up. A file that
cannot be read as the import format raises :class:`FileFormatError` saying what was found
and where. JSON is parsed whole (it has no rows to stream); large days belong in CSV.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from app.importer.fields import DateFormat

#: The kinds of file, in the order an import reads them.
KINDS: tuple[str, ...] = ("depots", "docks", "waves", "vehicles", "drivers", "orders")

_KIND_IN_NAME = re.compile(r"(?<![a-z])(depot|dock|wave|vehicle|driver|order)s?(?![a-z])")
_ISO_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}")
_DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}
_CHUNK = 1 << 20  # bytes read at a time while sniffing
#: Bytes Windows-1252 leaves undefined: a file holding one is read as Latin-1 instead.
_NOT_CP1252 = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252",
           "latin-1": "Latin-1", "iso8859-1": "Latin-1", "iso8859-15": "Latin-9"}  # fmt: skip


class FileFormatError(ValueError):
    """The file as a whole is not in the import format (what was found, and where)."""


@dataclass(frozen=True, slots=True)
class Source:
    """A file as the user named it: its bytes given (``data``) or read when needed (``path``)."""

    name: str
    data: bytes | None = None
    path: Path | None = None

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix.lower()

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        if self.path is None:
            raise FileFormatError("no data and no path")
        return self.path.open("rb")


@dataclass(frozen=True)
class ReadOptions:
    """How to read the files: ``encoding`` (None: detect) and the ``date_format`` of times
    written with a date (e.g. ``dd/mm/yyyy``; None: only ISO 8601 and HH:MM)."""

    encoding: str | None = None
    date_format: DateFormat | None = None


@dataclass(frozen=True, slots=True)
class TextFormat:
    """What a file was read as: codec, its name for people, why, and the CSV delimiter."""

    codec: str = "utf-8"
    label: str = "UTF-8"
    note: str = ""  # why this encoding was assumed (empty for plain UTF-8)
    delimiter: str = ","

    @property
    def decimal_comma(self) -> bool:
        """A file not separated by commas may write decimals with a comma (``12,5``)."""
        return self.delimiter != ","

    def describe(self) -> str:
        """``Windows-1252, ';'-separated, decimal commas`` (empty for plain UTF-8 CSV)."""
        parts = [] if self.label == "UTF-8" else [self.label]
        if self.delimiter != ",":
            shown = "\\t" if self.delimiter == "\t" else self.delimiter
            parts += [f"'{shown}'-separated", "decimal commas"]
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Record:
    """One row: its number (CSV line / JSON index), how to show it, and its raw values."""

    row: int
    where: str
    values: dict[str, Any]
    problem: str = ""


@dataclass
class ParsedFile:
    """A readable file: the kinds it holds, its CSV columns, notes, and its rows on demand."""

    source: Source
    format: TextFormat
    kinds: tuple[str, ...] = ()
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _json: dict[str, list[Record]] = field(default_factory=dict)

    def records(self, kind: str) -> Iterator[Record]:
        """The rows of ``kind``, read as they are asked for."""
        if kind not in self.kinds:
            return iter(())
        if kind in self._json:
            return iter(self._json[kind])
        return _csv_records(self.source, self.format, self.columns[kind])

    def json_records(self, kind: str) -> list[Record]:
        return self._json.get(kind, [])


def kind_from_name(name: str) -> str | None:
    """``orders_wave2.csv`` -> ``orders``; None when the name tells no kind."""
    match = _KIND_IN_NAME.search(Path(name).stem.lower())
    return f"{match.group(1)}s" if match else None


def collect_sources(paths: Iterable[str | Path]) -> list[Source]:
    """Files, and every ``*.csv``/``*.json`` inside folders; OSError for a missing path.
    Nothing is read yet: a source reads its file when it is sniffed and parsed."""
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
    return [Source(name, path=resolved) for resolved, name in found.items()]


def label_of(codec: str) -> str:
    return _LABELS.get(codecs.lookup(codec).name, codec)


def sniff_encoding(source: Source, explicit: str | None = None) -> TextFormat:
    """The file's encoding: ``explicit`` when given, else UTF-8 when every byte is (a BOM is
    fine), else Windows-1252 (Latin-1 when it holds a byte Windows-1252 leaves undefined);
    the note says which byte was not UTF-8 and where."""
    if explicit:
        try:
            codec = codecs.lookup(explicit).name
        except LookupError:
            raise FileFormatError(f"unknown encoding {explicit!r} (e.g. utf-8, cp1252)") from None
        return TextFormat(codec, label_of(codec), f"read as {label_of(codec)} (as told)")
    with source.open() as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            codec, label, note = "utf-8-sig", "UTF-8", ""
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return TextFormat("utf-16", "UTF-16", "read as UTF-16 (it starts with a UTF-16 BOM)")
        else:
            codec, label, note = "utf-8", "UTF-8", ""
        fh.seek(0)
        bad = _first_non_utf8(fh)
        if bad is None:
            return TextFormat(codec, label, note)
        offset, byte, line = bad
        fh.seek(0)
        latin = False
        while chunk := fh.read(_CHUNK):
            if any(b in chunk for b in _NOT_CP1252):
                latin = True
                break
    codec = "latin-1" if latin else "cp1252"
    return TextFormat(
        codec,
        label_of(codec),
        f"not UTF-8 (byte 0x{byte:02x} at byte offset {offset}, line {line}): read as "
        f"{label_of(codec)}; if letters look wrong, save the file as UTF-8 or name its "
        "encoding (--encoding)",
    )


def _first_non_utf8(fh: IO[bytes]) -> tuple[int, int, int] | None:
    """(byte offset, byte, line) of the first byte that is not UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    consumed = lines = 0
    while True:
        chunk = fh.read(_CHUNK)
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            # exc.object is the decoder's held-back tail of the last chunk plus this one
            # (a tail is part of one multi-byte sequence: it holds no newline).
            at = exc.start - (len(exc.object) - len(chunk))
            line = lines + chunk[: max(at, 0)].count(b"\n") + 1
            return consumed + at, exc.object[exc.start], line
        if not chunk:
            return None
        consumed += len(chunk)
        lines += chunk.count(b"\n")


def _text(source: Source, fmt: TextFormat) -> IO[str]:
    return io.TextIOWrapper(source.open(), encoding=fmt.codec, newline="")


def _delimiter(header: str) -> str:
    """The delimiter the header line uses most, outside quotes (commas when none)."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def parse_source(source: Source, options: ReadOptions | None = None) -> ParsedFile:
    """Sniff and open a CSV or JSON file; FileFormatError when it cannot be read at all.
    CSV rows are not read here (see :meth:`ParsedFile.records`)."""
    options = options or ReadOptions()
    if source.suffix not in (".csv", ".json"):
        raise FileFormatError(f"unknown file type {source.suffix!r}: only .csv and .json are read")
    kind = kind_from_name(source.name)
    if source.suffix == ".csv" and kind is None:
        raise FileFormatError(_unknown_kind_message())
    fmt = sniff_encoding(source, options.encoding)
    notes = [fmt.note] if fmt.note else []
    try:
        if source.suffix == ".json":
            with _text(source, fmt) as fh:
                parsed = _read_json(source, fmt, kind, fh.read())
            parsed.notes[:0] = notes
            return parsed
        with _text(source, fmt) as fh:
            header_line = fh.readline()
    except UnicodeDecodeError as exc:  # only with an explicit encoding that does not fit
        raise FileFormatError(f"not {fmt.label}: {exc.reason} at byte offset {exc.start}") from None
    if not header_line.strip():
        raise FileFormatError("the file is empty: a header row is needed")
    fmt = TextFormat(fmt.codec, fmt.label, fmt.note, _delimiter(header_line))
    if fmt.delimiter != ",":
        notes.append(f"separated by {_DELIMITERS[fmt.delimiter]}; decimal commas are read")
    header = next(csv.reader([header_line.rstrip("\r\n")], delimiter=fmt.delimiter))
    columns = tuple(h.strip().lower() for h in header)
    seen: set[str] = set()
    for column in columns:
        if not column:
            raise FileFormatError("the header has an empty column name")
        if column in seen:
            raise FileFormatError(f"the header names column {column!r} twice")
        seen.add(column)
    assert kind is not None
    return ParsedFile(source, fmt, (kind,), {kind: columns}, notes)


def count_rows(parsed: ParsedFile) -> int:
    """How many rows a file holds (to report them refused when the file is)."""
    return sum(1 for kind in parsed.kinds for _ in parsed.records(kind))


def _unknown_kind_message() -> str:
    return (
        "cannot tell what the file holds: its name must contain depots, docks, waves, "
        "vehicles, drivers or orders (e.g. orders_monday.csv)"
    )


def _csv_records(source: Source, fmt: TextFormat, columns: tuple[str, ...]) -> Iterator[Record]:
    with _text(source, fmt) as fh:
        reader = csv.reader(fh, delimiter=fmt.delimiter)
        next(reader, None)  # the header
        last_line = reader.line_num
        try:
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
        except csv.Error as exc:
            yield Record(last_line + 1, str(last_line + 1), {}, f"cannot be read as CSV: {exc}")


def _read_json(source: Source, fmt: TextFormat, kind: str | None, text: str) -> ParsedFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise FileFormatError("not valid JSON: nested too deeply") from None
    parsed = ParsedFile(source, fmt)
    if isinstance(data, list):
        if kind is None:
            raise FileFormatError(_unknown_kind_message() + ", or hold an object with those keys")
        parsed._json[kind] = _json_records(data, "")
    elif isinstance(data, dict):
        for key in data:
            if key not in KINDS:
                parsed.notes.append(f"key {key!r} is not part of the format, ignored")
        for k in KINDS:
            if k not in data:
                continue
            if not isinstance(data[k], list):
                raise FileFormatError(f"{k!r} must be a list of objects")
            parsed._json[k] = _json_records(data[k], k)
        if not parsed._json:
            raise FileFormatError(f"the object has none of the keys {', '.join(KINDS)}")
    else:
        raise FileFormatError("JSON must hold a list of objects or an object of lists")
    parsed.kinds = tuple(k for k in KINDS if k in parsed._json)
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


def day_named_in(
    sources: Iterable[Source | ParsedFile], date_format: DateFormat | None = None
) -> date | None:
    """The calendar day of the first time written with a date in the files (ISO 8601, or
    ``date_format``), if any. Reads each file line by line until it finds one."""
    for item in sources:
        if isinstance(item, ParsedFile):
            source, fmt = item.source, item.format
        else:
            source = item
            try:
                fmt = sniff_encoding(source)
            except (OSError, FileFormatError):
                continue
        try:
            with _text(source, fmt) as fh:
                for line in fh:
                    found = _day_in_line(line, date_format)
                    if found is not None:
                        return found
        except (OSError, UnicodeDecodeError):
            continue
    return None


def _day_in_line(line: str, date_format: DateFormat | None) -> date | None:
    for match in _ISO_DAY.finditer(line):
        try:
            return date.fromisoformat(match.group(1))
        except ValueError:
            continue  # not a real date (that row is reported on its own)
    if date_format is not None:
        for written in date_format.search(line):
            try:
                return datetime.strptime(written, date_format.strptime).date()
            except ValueError:
                continue
    return None
