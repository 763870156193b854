"""The import against the store: load what is known, validate, upsert the good rows.

Everything happens in one transaction: the known depots, vehicles and drivers are read,
the files validated against them, and every good row upserted by id (so a re-import of
the same file inserts and updates nothing).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from app.importer import checks
from app.importer.reading import Source, collect_sources, day_named_in
from app.importer.report import ImportReport
from app.importer.rows import depot_zone
from app.importer.validate import Batch, Known, validate_sources

log = logging.getLogger(__name__)

_UPSERT = {
    "depots": "upsert_depots",
    "vehicles": "upsert_vehicles",
    "drivers": "upsert_drivers",
    "orders": "upsert_orders",
}


def import_day(sources: Sequence[Source], day: date | None) -> date:
    """``--day`` when given, else the day named in the files' ISO times, else today."""
    return day or day_named_in(sources) or date.today()


def load_known(session: Any, day: date) -> Known:
    """Stored depots with their vehicles, and the drivers and orders of ``day``."""
    from app.store import repository

    depots = tuple(repository.list_depots(session))
    vehicles, drivers, orders = [], [], []
    for depot in depots:
        stored = repository.load_day(session, depot.id, day)
        vehicles.extend(stored.vehicles)
        drivers.extend(stored.drivers)
        orders.extend(stored.orders)
    return Known(depots, tuple(vehicles), tuple(drivers), tuple(orders))


def store_batches(session: Any, batches: Iterable[Batch], known: Known, *, actor: str) -> None:
    """Upsert each file's good rows and add the counts to its report."""
    from app.store import repository

    depots = {d.id: d for d in known.depots}
    for batch in batches:
        if batch.kind == "depots":
            depots.update((d.id, d) for d in batch.items)
        upsert = getattr(repository, _UPSERT[batch.kind])
        for day, items in _by_day(batch, depots).items():
            counts = upsert(session, list(items), actor=actor, day=day)
            batch.report.inserted += counts.inserted
            batch.report.updated += counts.updated
            batch.report.unchanged += counts.unchanged


def _by_day(batch: Batch, depots: dict[str, Any]) -> dict[date | None, list[Any]]:
    """Orders and drivers go in per day (their local date); depots and vehicles undated."""
    groups: dict[date | None, list[Any]] = defaultdict(list)
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
    sources: Sequence[Source], store: Any, *, day: date | None = None, actor: str
) -> ImportReport:
    """Validate ``sources`` against ``store`` and store the good rows, in one transaction."""
    when = import_day(sources, day)
    with store.session() as session:
        known = load_known(session, when)
        validation = validate_sources(sources, known, when)
        store_batches(session, validation.batches, known, actor=actor)
    report = validation.report
    report.database = safe_url(str(store.url))
    log.info("import of %d file(s): %d rejected", len(report.files), report.rejected)
    return report


def import_paths(
    paths: Iterable[str | Path], database_url: str, *, day: date | None = None, actor: str
) -> ImportReport:
    """Open the store at ``database_url`` and import files/folders (OSError: missing path)."""
    from app.store import open_store

    sources = collect_sources(paths)
    store = open_store(database_url)
    try:
        return import_sources(sources, store, day=day, actor=actor)
    finally:
        store.close()


def safe_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ``***``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
