"""Validate a whole import without touching a database: files in, objects and a report out.

What the database already holds comes in as plain data (:class:`Known`), so an orders-only
import is checked against the stored depots, vehicles and drivers. Files are processed in
the order depots, vehicles, drivers, orders; each good row becomes a domain object and is
visible to the rows after it (a vehicle may name a depot from the same import).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.importer import checks
from app.importer.fields import RowReader
from app.importer.reading import KINDS, FileFormatError, ParsedFile, Record, Source, parse_source
from app.importer.report import FileReport, ImportReport
from app.importer.rows import (
    REQUIRED_COLUMNS,
    depot_zone,
    is_known_column,
    parse_depot,
    parse_driver,
    parse_order,
    parse_vehicle,
)
from engine.model import Depot, Driver, Order, Vehicle


@dataclass(frozen=True)
class Known:
    """What is already stored: rows with these ids are updates, never duplicates."""

    depots: tuple[Depot, ...] = ()
    vehicles: tuple[Vehicle, ...] = ()
    drivers: tuple[Driver, ...] = ()
    orders: tuple[Order, ...] = ()


@dataclass(frozen=True)
class Batch:
    """The good rows of one kind from one file, ready to store."""

    report: FileReport
    kind: str
    items: tuple[Any, ...]


@dataclass
class Validation:
    """The outcome of :func:`validate_sources`: the report and the good rows per file."""

    report: ImportReport
    batches: list[Batch] = field(default_factory=list)


class _Day:
    """The import's growing picture of the day: stored objects overlaid by accepted ones."""

    def __init__(self, known: Known) -> None:
        self.depots = {d.id: d for d in known.depots}
        self.vehicles = {v.id: v for v in known.vehicles}
        self.drivers = {d.id: d for d in known.drivers}
        self.orders = {o.id: o for o in known.orders}
        self.new_orders: dict[str, Order] = {}
        self.new_drivers: dict[str, Driver] = {}
        self.seen: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
        self.refused: dict[str, str] = {}  # depot id -> where its row was refused

    def fleet(self, depot_id: str) -> list[Vehicle]:
        return [v for v in self.vehicles.values() if v.depot_id == depot_id]

    def crew(self, depot_id: str) -> list[Driver]:
        return [d for d in self.drivers.values() if d.depot_id == depot_id]


def validate_sources(sources: Sequence[Source], known: Known, day: date) -> Validation:
    """Read and check every file; HH:MM times fall on ``day`` in each depot's time zone."""
    result = Validation(ImportReport(day=day))
    parsed: list[tuple[FileReport, ParsedFile]] = []
    for source in sources:
        report = FileReport(source.name)
        result.report.files.append(report)
        try:
            content = parse_source(source)
        except FileFormatError as exc:
            report.error = str(exc)
            continue
        _describe(report, content)
        parsed.append((report, content))
    state = _Day(known)
    for kind in KINDS:
        for report, content in parsed:
            if kind in content.records and not report.error:
                items = _process(kind, content.records[kind], report, state, day)
                result.batches.append(Batch(report, kind, tuple(items)))
    result.report.day_checks.extend(_day_checks(state))
    # Report files in the order they were processed (depots first), unreadable ones last.
    rank = {kind: i for i, kind in enumerate(KINDS)}
    result.report.files.sort(key=lambda f: rank.get(f.kind.split("+")[0], len(KINDS)))
    return result


def _describe(report: FileReport, content: ParsedFile) -> None:
    report.kind = "+".join(k for k in KINDS if k in content.records)
    report.rows_read = sum(len(r) for r in content.records.values())
    for note in content.notes:
        report.warn(note)
    for kind, records in content.records.items():
        if kind in content.columns:
            continue  # CSV: checked on the header below
        keys = sorted({k for r in records for k in r.values if not is_known_column(kind, k)})
        for key in keys:
            report.warn(f"key {key!r} is not part of the {kind} format, ignored")
    for kind, columns in content.columns.items():
        missing = [c for c in REQUIRED_COLUMNS[kind] if c not in columns]
        if missing:
            report.error = (
                f"missing required column(s) {', '.join(missing)} "
                f"(the header has: {', '.join(columns)})"
            )
        for column in columns:
            if not is_known_column(kind, column):
                report.warn(f"column {column!r} is not part of the {kind} format, ignored")


def _process(
    kind: str, records: list[Record], report: FileReport, state: _Day, day: date
) -> list[Any]:
    accepted: list[Any] = []
    skipped: Counter[tuple[str, str]] = Counter()
    parse: Callable[[RowReader], Any] = {
        "depots": parse_depot,
        "vehicles": lambda r: parse_vehicle(r, state.depots, state.refused),
        "drivers": lambda r: parse_driver(r, state.depots, day, state.refused),
        "orders": lambda r: parse_order(r, state.depots, day, state.refused),
    }[kind]
    for record in records:
        if record.problem:
            report.reject(record.row, "row", record.problem, record.where)
            continue
        reader = RowReader(dict(record.values))
        raw_id = record.values.get("id")
        row_id = str(raw_id).strip() if isinstance(raw_id, (str, int)) else ""
        here = f"{report.file}:{record.where}"
        if row_id and row_id in state.seen[kind]:
            first = state.seen[kind][row_id]
            report.reject(
                record.row, "id", f"duplicate id {row_id!r}: first at {first}", record.where
            )
            continue
        if row_id:
            state.seen[kind][row_id] = here
        item = parse(reader)
        if item is not None and kind == "orders":
            _check_order(item, reader, state, skipped)
        if reader.errors:
            if row_id and kind == "depots" and row_id not in state.depots:
                state.refused[row_id] = here
            for name, reason in reader.errors:
                report.reject(record.row, name, reason, record.where)
            continue
        vehicle_id = getattr(item, "vehicle_id", None) if kind == "drivers" else None
        if vehicle_id and vehicle_id not in state.vehicles:
            report.warn(
                f"vehicle {vehicle_id!r} is not known",
                row=record.row,
                field_name="vehicle_id",
                where=record.where,
            )
        accepted.append(item)
        _remember(kind, item, state)
    report.accepted += len(accepted)
    for (what, depot_id), count in sorted(skipped.items()):
        if what == checks.NO_DRIVERS:
            report.warn(
                f"window reachability not checked for {count} order(s) of depot {depot_id}: "
                "no drivers known for their day"
            )
        else:
            report.warn(
                f"capacity and skills not checked for {count} order(s) of depot {depot_id}: "
                "no vehicles known for it"
            )
    return accepted


def _check_order(order: Order, reader: RowReader, state: _Day, skipped: Counter) -> None:
    depot = state.depots[order.depot_id]
    for name, reason in checks.fleet_problems(order, depot, state.fleet(depot.id)):
        if name == checks.NO_VEHICLES:
            skipped[(name, depot.id)] += 1
        else:
            reader.error(name, reason)
    problem = checks.reach_problem(order, depot, state.crew(depot.id))
    if problem and problem[0] == checks.NO_DRIVERS:
        skipped[(problem[0], depot.id)] += 1
    elif problem:
        reader.error(*problem)


def _remember(kind: str, item: Any, state: _Day) -> None:
    if kind == "depots":
        state.depots[item.id] = item
    elif kind == "vehicles":
        state.vehicles[item.id] = item
    elif kind == "drivers":
        state.drivers[item.id] = item
        state.new_drivers[item.id] = item
    else:
        state.orders[item.id] = item
        state.new_orders[item.id] = item


def _day_checks(state: _Day) -> list:
    """Whole-day checks for every (depot, day) this import brought orders or drivers for."""
    days: set[tuple[str, date]] = set()
    for order in state.new_orders.values():
        days.add((order.depot_id, checks.day_of(order, state.depots[order.depot_id])))
    for driver in state.new_drivers.values():
        zone = depot_zone(state.depots[driver.depot_id])
        days.add((driver.depot_id, driver.shift_start.astimezone(zone).date()))
    found = []
    for depot_id, day in sorted(days):
        depot = state.depots[depot_id]
        zone = depot_zone(depot)
        orders = [
            o
            for o in state.orders.values()
            if o.depot_id == depot_id and checks.day_of(o, depot) == day
        ]
        drivers = [d for d in state.crew(depot_id) if d.shift_start.astimezone(zone).date() == day]
        found.extend(checks.day_checks(depot, day, state.fleet(depot_id), drivers, orders))
    return found
