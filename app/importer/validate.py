"""Validate an import row by row, handing the good rows on in batches as they are read.

What the database already holds comes in as plain data (:class:`Known`), so an orders-only
import is checked against the stored depots, vehicles and drivers. Files are processed in
the order depots, vehicles, drivers, orders; each good row becomes a domain object and is
visible to the rows after it (a vehicle may name a depot from the same import).

:class:`RowValidator` never holds a file's rows: they stream from the file, and every
``batch_size`` good rows go to a *sink* (the store, or a list for
:func:`validate_sources`). What it keeps is small: depots, vehicles and drivers, each
row id seen (to refuse a duplicate) and the (depot, day) pairs the import touched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import chain
from typing import Any

from app.importer import checks
from app.importer.fields import RowReader
from app.importer.reading import (
    KINDS,
    FileFormatError,
    ParsedFile,
    ReadOptions,
    Record,
    Source,
    count_rows,
    parse_source,
)
from app.importer.report import DayCheck, FileReport, ImportReport
from app.importer.rows import (
    REQUIRED_COLUMNS,
    depot_zone,
    is_known_column,
    parse_depot,
    parse_dock,
    parse_driver,
    parse_order,
    parse_vehicle,
    parse_wave,
    show,
)
from app.travel.choose import (
    MAX_STREET_DISTANCE_M,
    TravelChoice,
    choose,
    distance_to_streets,
)
from engine.model import Depot, Driver, Order, Vehicle, Wave
from engine.release import wave_for_order

BATCH_SIZE = 2000  # good rows handed to the sink at a time
TRAVEL_WARNING = "travel"  # a depot of the orders plans on straight lines (warned once)


@dataclass(frozen=True)
class Known:
    """What is already stored: rows with these ids are updates, never duplicates."""

    depots: tuple[Depot, ...] = ()
    vehicles: tuple[Vehicle, ...] = ()
    drivers: tuple[Driver, ...] = ()
    orders: tuple[Order, ...] = ()
    waves: tuple[Wave, ...] = ()


@dataclass(frozen=True)
class Batch:
    """Good rows of one kind from one file, ready to store."""

    report: FileReport
    kind: str
    items: tuple[Any, ...]


Sink = Callable[[Batch], None]
#: The orders of a (depot, day) as stored after the import (for the whole-day checks), or
#: their tally when it is already known.
OrdersOf = Callable[[str, date], "Iterable[Order] | checks.DayTally"]


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
        self.waves = {(w.depot_id, w.id): w for w in known.waves}
        self.touched: set[tuple[str, date]] = set()  # (depot, day) given orders or drivers
        self.files: list[str] = []
        # kind -> id -> where it was first seen: file index << 32 | CSV row, or a JSON path
        self.seen: dict[str, dict[str, int | str]] = {kind: {} for kind in KINDS}
        self.refused: dict[str, str] = {}  # depot id -> where its row was refused
        self._fleet: dict[str, checks.Fleet] = {}
        self._reach: dict[str, checks.Reach] = {}
        self._travel: dict[str, TravelChoice] = {}

    def travel(self, depot: Depot) -> tuple[TravelChoice, bool]:
        """The depot's travel choice, and whether this import asks for it the first time."""
        known = self._travel.get(depot.id)
        if known is not None:
            return known, False
        self._travel[depot.id] = found = choose(depot)
        return found, True

    def fleet(self, depot_id: str) -> list[Vehicle]:
        return [v for v in self.vehicles.values() if v.depot_id == depot_id]

    def crew(self, depot_id: str) -> list[Driver]:
        return [d for d in self.drivers.values() if d.depot_id == depot_id]

    def waves_of(self, depot_id: str, day: date | None = None) -> list[Wave]:
        """The depot's waves (of ``day``, the local date their departures start)."""
        zone = depot_zone(self.depots.get(depot_id))
        return [w for (d, _), w in self.waves.items() if d == depot_id and
                (day is None or w.depart_from.astimezone(zone).date() == day)]  # fmt: skip

    def fleet_check(self, depot: Depot) -> checks.Fleet:
        if depot.id not in self._fleet:
            self._fleet[depot.id] = checks.Fleet(depot, self.fleet(depot.id))
        return self._fleet[depot.id]

    def reach_check(self, depot: Depot) -> checks.Reach:
        if depot.id not in self._reach:
            self._reach[depot.id] = checks.Reach(depot, self.crew(depot.id))
        return self._reach[depot.id]

    def remember(self, kind: str, item: Any) -> None:
        if kind == "depots":
            self.depots[item.id] = item
        elif kind == "docks":
            depot_id, dock = item
            depot = self.depots[depot_id]
            docks = [dock if k.id == dock.id else k for k in depot.docks]
            if all(k.id != dock.id for k in depot.docks):
                docks.append(dock)
            self.depots[depot_id] = replace(depot, docks=tuple(docks))
        elif kind == "waves":
            self.waves[(item.depot_id, item.id)] = item
        elif kind == "vehicles":
            self.vehicles[item.id] = item
            self._fleet.pop(item.depot_id, None)
        elif kind == "drivers":
            self.drivers[item.id] = item
            self._reach.pop(item.depot_id, None)
            zone = depot_zone(self.depots[item.depot_id])
            self.touched.add((item.depot_id, item.shift_start.astimezone(zone).date()))
        else:
            self.touched.add((item.depot_id, checks.day_of(item, self.depots[item.depot_id])))

    def first_seen(self, kind: str, row_id: str) -> str | None:
        where = self.seen[kind].get(row_id)
        if where is None:
            return None
        if isinstance(where, str):
            return where
        return f"{self.files[where >> 32]}:{where & 0xFFFFFFFF}"

    def see(self, kind: str, row_id: str, file_index: int, record: Record) -> None:
        csv_row = record.where == str(record.row)
        where = (
            (file_index << 32 | record.row)
            if csv_row
            else f"{self.files[file_index]}:{record.where}"
        )
        self.seen[kind][row_id] = where


class RowValidator:
    """Validates files kind by kind and hands their good rows to ``sink`` in batches."""

    def __init__(
        self, sink: Sink, *, options: ReadOptions | None = None, batch_size: int = BATCH_SIZE
    ) -> None:
        self.sink = sink
        self.options = options or ReadOptions()
        self.batch_size = batch_size
        self.day = date.min
        self.state = _Day(Known())
        self.report = ImportReport()

    def open(self, sources: Sequence[Source]) -> list[tuple[FileReport, ParsedFile]]:
        """Sniff each file (encoding, delimiter, shape); unreadable ones are reported."""
        opened = []
        for source in sources:
            report = FileReport(source.name)
            self.report.files.append(report)
            try:
                parsed = parse_source(source, self.options)
            except (FileFormatError, OSError) as exc:
                report.error = str(exc)
                continue
            _describe(report, parsed)
            if report.error:
                report.rows_read = count_rows(parsed)
                continue
            opened.append((report, parsed))
        return opened

    def run(
        self, opened: Sequence[tuple[FileReport, ParsedFile]], known: Known, day: date
    ) -> ImportReport:
        """Every row of every readable file, depots first, against ``known``; HH:MM times
        fall on ``day`` in each depot's time zone. Then sort the file reports."""
        self.day, self.report.day = day, day
        state = self.state = _Day(known)
        for kind in KINDS:
            for report, parsed in opened:
                if kind in parsed.kinds:
                    state.files.append(report.file)
                    self._process(kind, parsed, report, len(state.files) - 1)
        rank = {kind: i for i, kind in enumerate(KINDS)}
        self.report.files.sort(key=lambda f: rank.get(f.kind.split("+")[0], len(KINDS)))
        return self.report

    def day_checks(self, orders_of: OrdersOf) -> list[DayCheck]:
        """Whole-day checks of every (depot, day) the import brought orders or drivers for,
        over the day's orders as ``orders_of`` gives them (stored and imported)."""
        state = self.state
        found: list[DayCheck] = []
        for depot_id, day in sorted(state.touched):
            depot = state.depots[depot_id]
            drivers = self.drivers_of(depot_id, day)
            found.extend(
                checks.day_checks(
                    depot, day, state.fleet(depot_id), drivers, orders_of(depot_id, day),
                    state.waves_of(depot_id, day),
                )
            )  # fmt: skip
        self.report.day_checks.extend(found)
        return found

    def drivers_of(self, depot_id: str, day: date) -> list[Driver]:
        """The depot's drivers whose shift starts on ``day`` (its local date)."""
        zone = depot_zone(self.state.depots[depot_id])
        return [
            d for d in self.state.crew(depot_id) if d.shift_start.astimezone(zone).date() == day
        ]

    # -- rows ------------------------------------------------------------------------------
    def _process(self, kind: str, parsed: ParsedFile, report: FileReport, file_index: int) -> None:
        state, day = self.state, self.day
        skipped: Counter[tuple[str, str]] = Counter()
        parse: Callable[[RowReader], Any] = {
            "depots": parse_depot,
            "docks": lambda r: parse_dock(r, state.depots, state.refused),
            "waves": lambda r: parse_wave(r, state.depots, day, state.refused),
            "vehicles": lambda r: parse_vehicle(r, state.depots, state.refused),
            "drivers": lambda r: parse_driver(r, state.depots, day, state.refused),
            "orders": lambda r: parse_order(r, state.depots, day, state.refused),
        }[kind]
        european = parsed.format.decimal_comma
        batch: list[Any] = []
        for record in parsed.records(kind):
            report.rows_read += 1
            item = self._row(kind, record, report, file_index, parse, european, skipped)
            if item is None:
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                self._hand_on(report, kind, batch)
                batch = []
        if batch:
            self._hand_on(report, kind, batch)
        for (what, depot_id), count in sorted(skipped.items()):
            if what == TRAVEL_WARNING:
                report.warn(state.travel(state.depots[depot_id])[0].warning)
            elif what == checks.NO_DRIVERS:
                report.warn(
                    f"window reachability not checked for {count} order(s) of depot "
                    f"{depot_id}: no drivers known for their day"
                )
            else:
                report.warn(
                    f"capacity and skills not checked for {count} order(s) of depot "
                    f"{depot_id}: no vehicles known for it"
                )

    def _hand_on(self, report: FileReport, kind: str, items: list[Any]) -> None:
        report.accepted += len(items)
        self.sink(Batch(report, kind, tuple(items)))

    def _row(
        self,
        kind: str,
        record: Record,
        report: FileReport,
        file_index: int,
        parse: Callable[[RowReader], Any],
        european: bool,
        skipped: Counter,
    ) -> Any:
        state = self.state
        if record.problem:
            report.reject(record.row, "row", record.problem, record.where)
            return None
        reader = RowReader(
            dict(record.values), decimal_comma=european, date_format=self.options.date_format
        )
        raw_id = record.values.get("id")
        row_id = str(raw_id).strip() if isinstance(raw_id, (str, int)) else ""
        if row_id:
            first = state.first_seen(kind, row_id)
            if first is not None:
                report.reject(
                    record.row, "id", f"duplicate id {row_id!r}: first at {first}", record.where
                )
                return None
            state.see(kind, row_id, file_index, record)
        item = parse(reader)
        if item is not None and kind == "orders":
            _check_order(item, reader, state, skipped)
            if not reader.errors:
                item = _check_cutoff(item, report, record, state)
        if item is not None and kind == "depots":
            item = _keep_dock_rates(item, state.depots.get(item.id))
            if not reader.errors:
                state._travel.pop(item.id, None)
                _warn_travel(state.travel(item)[0], report, record)
        if reader.errors:
            if row_id and kind == "depots" and row_id not in state.depots:
                state.refused[row_id] = f"{report.file}:{record.where}"
            for name, reason in reader.errors:
                report.reject(record.row, name, reason, record.where)
            return None
        vehicle_id = getattr(item, "vehicle_id", None) if kind == "drivers" else None
        if vehicle_id and vehicle_id not in state.vehicles:
            report.warn(
                f"vehicle {vehicle_id!r} is not known",
                row=record.row,
                field_name="vehicle_id",
                where=record.where,
            )
        state.remember(kind, item)
        return item


def validate_sources(
    sources: Sequence[Source], known: Known, day: date, options: ReadOptions | None = None
) -> Validation:
    """Read and check every file without a database, keeping the good rows in memory
    (``batches``); HH:MM times fall on ``day`` in each depot's time zone."""
    batches: list[Batch] = []
    validator = RowValidator(batches.append, options=options)
    validator.run(validator.open(sources), known, day)
    accepted = {o.id for b in batches if b.kind == "orders" for o in b.items}
    new_orders = [o for b in batches if b.kind == "orders" for o in b.items]
    depots = validator.state.depots

    def orders_of(depot_id: str, when: date) -> Iterable[Order]:
        stored = (o for o in known.orders if o.id not in accepted)
        return (
            o
            for o in chain(stored, new_orders)
            if o.depot_id == depot_id and checks.day_of(o, depots[o.depot_id]) == when
        )

    validator.day_checks(orders_of)
    return Validation(validator.report, batches)


def _describe(report: FileReport, parsed: ParsedFile) -> None:
    report.kind = "+".join(parsed.kinds)
    report.format = parsed.format.describe()
    for note in parsed.notes:
        report.warn(note)
    for kind in parsed.kinds:
        if kind in parsed.columns:
            continue  # CSV: checked on the header below
        records = parsed.json_records(kind)
        keys = sorted({k for r in records for k in r.values if not is_known_column(kind, k)})
        for key in keys:
            report.warn(f"key {key!r} is not part of the {kind} format, ignored")
    for kind, columns in parsed.columns.items():
        missing = [c for c in REQUIRED_COLUMNS[kind] if c not in columns]
        if missing:
            report.error = (
                f"missing required column(s) {', '.join(missing)} "
                f"(the header has: {', '.join(columns)})"
            )
        for column in columns:
            if not is_known_column(kind, column):
                report.warn(f"column {column!r} is not part of the {kind} format, ignored")


def _warn_travel(choice: TravelChoice, report: FileReport, record: Record | None) -> None:
    if choice.warning:
        row = record.row if record is not None else None
        where = record.where if record is not None else ""
        report.warn(choice.warning, row=row, field_name="travel", where=where)


def _check_streets(order: Order, reader: RowReader, choice: TravelChoice) -> None:
    """An order too far from every street of its depot's network cannot be driven to."""
    lat, lon = order.location.lat, order.location.lon
    away = distance_to_streets(choice, lat, lon)
    if away is not None and away > MAX_STREET_DISTANCE_M:
        reader.error(
            "lat,lon",
            f"({lat}, {lon}) is {away:,.0f} m from the nearest street of network "
            f"{choice.network_name!r} (more than {MAX_STREET_DISTANCE_M:,.0f} m): outside "
            "its area, or wrong coordinates?",
        )


def _check_order(order: Order, reader: RowReader, state: _Day, skipped: Counter) -> None:
    depot = state.depots[order.depot_id]
    choice, first = state.travel(depot)
    if first and choice.warning:
        skipped[(TRAVEL_WARNING, depot.id)] += 1
    _check_streets(order, reader, choice)
    for name, reason in state.fleet_check(depot).problems(order):
        if name == checks.NO_VEHICLES:
            skipped[(name, depot.id)] += 1
        else:
            reader.error(name, reason)
    problem = state.reach_check(depot).problem(order)
    if problem and problem[0] == checks.NO_DRIVERS:
        skipped[(problem[0], depot.id)] += 1
    elif problem:
        reader.error(*problem)


def _keep_dock_rates(depot: Depot, known: Depot | None) -> Depot:
    """A depot row names docks; those already stored keep their loading rates (a docks
    file sets them), and stored docks the row does not name stay: an import adds and
    updates docks, it never removes one."""
    if known is None:
        return depot
    stored = {k.id: k for k in known.docks}
    named = {k.id for k in depot.docks}
    docks = tuple(replace(stored[k.id], name=k.name) if k.id in stored else k for k in depot.docks)
    docks += tuple(k for k in known.docks if k.id not in named)
    return replace(depot, docks=docks)


def _check_cutoff(order: Order, report: FileReport, record: Record, state: _Day) -> Order:
    """An order that came in after its wave's cut-off goes with the next wave (a warning
    says so); after the last cut-off it stays, and the warning says a person decides."""
    waves = state.waves_of(order.depot_id, checks.day_of(order, state.depots[order.depot_id]))
    if not waves:
        return order
    if order.wave and all(w.id != order.wave for w in waves):
        report.warn(f"wave {order.wave!r} is not a wave of depot {order.depot_id} that day "
                    f"(waves: {', '.join(sorted(w.id for w in waves))})", row=record.row,
                    field_name="wave", where=record.where)  # fmt: skip
        return order
    choice = wave_for_order(order, waves)
    came = order.received_at  # a choice is late or moved only for an order with one
    if choice.too_late and came is not None:
        last = max(waves, key=lambda w: w.cutoff)
        report.warn(f"came in {show(came)}, after the last cut-off "
                    f"({last.id} {show(last.cutoff)}): it stays in {choice.wave or 'no wave'} "
                    "and needs a dispatcher's decision", row=record.row,
                    field_name="received_at", where=record.where)  # fmt: skip
    elif choice.moved_from and came is not None:
        was = next(w for w in waves if w.id == choice.moved_from)
        report.warn(f"came in {show(came)}, after {was.id}'s cut-off "
                    f"{show(was.cutoff)}: it goes with {choice.wave}", row=record.row,
                    field_name="received_at", where=record.where)  # fmt: skip
    return replace(order, wave=choice.wave) if choice.wave != order.wave else order


def check_order(
    values: dict[str, Any],
    depot: Depot,
    vehicles: Sequence[Vehicle],
    drivers: Sequence[Driver],
    day: date,
) -> tuple[Order | None, list[tuple[str, str]]]:
    """One order given as a row of the import would be (e.g. typed into a dialog): the order,
    or None and every (field, reason), checked against the depot's fleet and shifts."""
    reader = RowReader({k: v for k, v in values.items() if v is not None})
    reader.values.setdefault("depot_id", depot.id)
    order = parse_order(reader, {depot.id: depot}, day)
    if order is not None:
        state = _Day(Known(depots=(depot,), vehicles=tuple(vehicles), drivers=tuple(drivers)))
        skipped: Counter[tuple[str, str]] = Counter()
        _check_order(order, reader, state, skipped)
    return (order if not reader.errors else None), list(reader.errors)
