"""The import against the store: load what is known, validate, upsert the good rows.

Everything happens in one transaction: the known depots, vehicles and drivers are read,
the files validated against them row by row, and every batch of good rows upserted by id
as it comes (so a re-import of the same file inserts and updates nothing). The session
lets go of each batch once it is written: memory follows the batch, not the file. The
whole-day checks then read the day's orders back from the store, one chunk at a time.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from app.importer import checks
from app.importer.reading import ParsedFile, ReadOptions, Source, collect_sources, day_named_in
from app.importer.report import FileReport, ImportReport
from app.importer.rows import depot_zone
from app.importer.validate import Batch, Known, RowValidator
from app.store.roles import begin_command
from engine.model import Driver, Vehicle, Wave

log = logging.getLogger(__name__)

_UPSERT = {
    "depots": "upsert_depots",
    "waves": "upsert_waves",
    "vehicles": "upsert_vehicles",
    "drivers": "upsert_drivers",
    "orders": "upsert_orders",
}
#: Called after each stored batch with (rows read so far, rows imported so far).
Progress = Callable[[int, int], None]


def import_day(
    opened: Sequence[ParsedFile], day: date | None, options: ReadOptions | None = None
) -> date:
    """``--day`` when given, else the day named in the files' times, else today."""
    fmt = options.date_format if options else None
    return day or day_named_in(opened, fmt) or date.today()


def load_known(session: Any, day: date) -> Known:
    """Stored depots with their vehicles, and the drivers of ``day`` (orders are not
    loaded: a stored order's id in the files is an update, which the store tells)."""
    from app.store import repository

    depots = tuple(repository.list_depots(session))
    vehicles: list[Vehicle] = []
    drivers: list[Driver] = []
    waves: list[Wave] = []
    for depot in depots:
        stored = repository.load_day(session, depot.id, day)
        vehicles.extend(stored.vehicles)
        drivers.extend(stored.drivers)
        waves.extend(stored.waves)
    return Known(depots, tuple(vehicles), tuple(drivers), waves=tuple(waves))


class _StoreSink:
    """Upserts each batch of good rows as it comes and adds the counts to its report; tallies
    the orders per (depot, day) on their way, for the whole-day checks."""

    def __init__(self, session: Any, actor: str, progress: Progress | None) -> None:
        self.session, self.actor, self.progress = session, actor, progress
        self.depots: dict[str, Any] = {}
        self.reports: list[FileReport] = []
        self.tallies: dict[tuple[str, date], checks.DayTally] = {}
        self.drivers_of: Callable[[str, date], list] = lambda depot_id, day: []

    def orders_of(self, depot_id: str, day: date) -> Iterable[Any] | checks.DayTally:
        """The day's orders for its checks: the tally of this import when every order
        stored for the day came with it (a first import), else read back from the store."""
        from app.store import repository

        tally = self.tallies.get((depot_id, day))
        if (
            tally is not None
            and repository.count_day_orders(self.session, depot_id, day) == tally.count
        ):
            return tally
        return repository.iter_day_orders(self.session, depot_id, day)

    def __call__(self, batch: Batch) -> None:
        from app.store import repository

        if batch.kind == "depots":
            self.depots.update((d.id, d) for d in batch.items)
        if batch.kind in ("docks", "waves"):
            self._store_release(batch)
            return
        upsert = getattr(repository, _UPSERT[batch.kind])
        for day, items in _by_day(batch, self.depots).items():
            if batch.kind == "orders" and day is not None:
                key = (items[0].depot_id, day)
                if key not in self.tallies:
                    self.tallies[key] = checks.DayTally(self.drivers_of(*key))
                for item in items:
                    self.tallies[key].add(item)
            counts = upsert(self.session, list(items), actor=self.actor, day=day)
            batch.report.inserted += counts.inserted
            batch.report.updated += counts.updated
            batch.report.unchanged += counts.unchanged
        repository.settle(self.session)
        if batch.report not in self.reports:
            self.reports.append(batch.report)
        if self.progress is not None:
            read = sum(f.rows_read for f in self.reports)
            self.progress(read, sum(f.accepted for f in self.reports))

    def _store_release(self, batch: Batch) -> None:
        """Waves are upserted; dock rows change their depot's docks (the depot row is
        what is stored)."""
        from app.store import repository

        if batch.kind == "waves":
            counts = repository.upsert_waves(self.session, list(batch.items), actor=self.actor)
            batch.report.inserted += counts.inserted
            batch.report.updated += counts.updated
            batch.report.unchanged += counts.unchanged
            return
        changed: dict[str, Any] = {}
        for depot_id, dock in batch.items:
            depot = changed.get(depot_id) or self.depots[depot_id]
            old = next((k for k in depot.docks if k.id == dock.id), None)
            if old == dock:
                batch.report.unchanged += 1
                continue
            if old is None:
                batch.report.inserted += 1
                docks = (*depot.docks, dock)
            else:
                batch.report.updated += 1
                docks = tuple(dock if k.id == dock.id else k for k in depot.docks)
            changed[depot_id] = replace(depot, docks=docks)
        if changed:
            repository.upsert_depots(self.session, list(changed.values()), actor=self.actor)
            self.depots.update(changed)


def _by_day(batch: Batch, depots: dict[str, Any]) -> dict[Any, list[Any]]:
    """Orders go in per depot and day, drivers per day (their local date); depots and
    vehicles undated."""
    groups: dict[Any, list[Any]] = defaultdict(list)
    for item in batch.items:
        if batch.kind == "orders":
            groups[checks.day_of(item, depots[item.depot_id])].append(item)
        elif batch.kind == "drivers":
            zone = depot_zone(depots.get(item.depot_id))
            groups[item.shift_start.astimezone(zone).date()].append(item)
        else:
            groups[None].append(item)
    return groups


def import_sources(
    sources: Sequence[Source],
    store: Any,
    *,
    day: date | None = None,
    actor: str,
    options: ReadOptions | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate ``sources`` against ``store`` and store the good rows, in one transaction."""
    with store.session() as session:
        begin_command(session, "import", actor)  # PostgreSQL: a supervisor's, checked there
        sink = _StoreSink(session, actor, progress)
        validator = RowValidator(sink, options=options)
        opened = validator.open(sources)
        when = import_day([parsed for _, parsed in opened], day, options)
        known = load_known(session, when)
        sink.depots = {d.id: d for d in known.depots}
        sink.drivers_of = validator.drivers_of
        validator.run(opened, known, when)
        validator.day_checks(sink.orders_of)
    report = validator.report
    report.database = safe_url(str(store.url))
    log.info(
        "import of %d file(s): %d imported, %d rejected",
        len(report.files),
        report.imported,
        report.rejected,
    )
    return report


def import_paths(
    paths: Iterable[str | Path],
    database_url: str,
    *,
    day: date | None = None,
    actor: str,
    options: ReadOptions | None = None,
) -> ImportReport:
    """Open the store at ``database_url`` and import files/folders (OSError: missing path)."""
    from app.store import open_store

    sources = collect_sources(paths)
    store = open_store(database_url)
    try:
        return import_sources(sources, store, day=day, actor=actor, options=options)
    finally:
        store.close()


def safe_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ``***``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
