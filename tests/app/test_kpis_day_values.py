"""Every KPI value of a small synthetic day stays what it was: a first pass (the store's
breadcrumbs and stop events read from scratch) and a live pass an hour later (trail
totals and events read on), each value against the one kept in
``data/kpis_small_day.jsonl`` on SQLite and PostgreSQL (their clocks differ: SQLite counts
a fix's time in whole seconds).

A change to how the day is read (columns, caches, time parsing) must leave them alone;
``python -m tests.app.test_kpis_day_values`` writes the file again after a change that
is meant to move a value (say why in its commit).
"""

from __future__ import annotations

import json
import math
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.kpis.facts import TallyCache
from app.kpis.service import compute_day
from bench.kpis import synthesize
from engine.travel import HaversineTravelModel

KEPT = Path(__file__).parent / "data" / "kpis_small_day.jsonl"
VEHICLES = 6


def _backend(store: Any) -> str:
    from sqlalchemy.engine import make_url

    return make_url(str(store.url)).get_backend_name()


def day_values(store: Any) -> dict[str, list[list[Any]]]:
    """Every KPI row of the first pass and of the live pass an hour later, sorted."""
    depot_id, day, last = synthesize(store, VEHICLES, 60.0)
    travel, cache = HaversineTravelModel(), TallyCache()
    out = {}
    for label, as_of in (("first", last - timedelta(hours=1)), ("live", last)):
        result = compute_day(store, depot_id, day, as_of=as_of, final=False, travel=travel,
                             tallies=cache, save=False)  # fmt: skip
        out[label] = sorted(
            [v.name, v.scope, v.key, v.value, v.numerator, v.denominator, v.unit]
            for v in result.report.values
        )
    return out


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-12)
    return bool(got == want)


def test_every_kpi_value_of_a_small_day_is_unchanged(store):
    kept = _read(_backend(store))
    got = json.loads(json.dumps(day_values(store)))  # NaN and tuples as the file has them
    for label in ("first", "live"):
        assert len(got[label]) == len(kept[label]) > 300, label
        for new, old in zip(got[label], kept[label], strict=True):
            assert new[:3] == old[:3], (label, old[:3])
            assert all(_same(a, b) for a, b in zip(new, old, strict=True)), (label, old, new)


def _read(backend: str) -> dict[str, list[list[Any]]]:
    """The kept rows of one backend: the file has a row a line, ``[backend, pass, ...]``."""
    out: dict[str, list[list[Any]]] = {}
    for line in KEPT.read_text().splitlines():
        row = json.loads(line)
        if row[0] == backend:
            out.setdefault(row[1], []).append(row[2:])
    return out


def _write() -> None:  # pragma: no cover - run by hand
    import tempfile

    from sqlalchemy.engine import make_url

    from app.store import open_store
    from app.sync.pgserver import ThrowawayPostgres, create_database, postgres_bindir

    bindir = postgres_bindir()
    if bindir is None:
        sys.exit("the values need PostgreSQL's too: install its binaries")
    out = {}
    with tempfile.TemporaryDirectory() as folder, ThrowawayPostgres(bindir) as server:
        create_database(server.url, "kpis_day")
        urls = {"sqlite": f"sqlite:///{folder}/day.sqlite3",
                "postgresql": make_url(server.url).set(database="kpis_day")
                .render_as_string(hide_password=False)}  # fmt: skip
        for name, url in urls.items():
            store = open_store(url, workstation="test-desk")
            try:
                out[name] = day_values(store)
            finally:
                store.close()
    KEPT.write_text("".join(json.dumps([backend, label, *row]) + "\n"
                            for backend, passes in out.items()
                            for label, rows in passes.items() for row in rows))  # fmt: skip


if __name__ == "__main__":  # pragma: no cover
    _write()
