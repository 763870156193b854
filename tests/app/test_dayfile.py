"""The recorded-day file: written whole or not at all, read back, and refused with the
reason when it is not what it claims."""

from __future__ import annotations

import sqlite3

import pytest

from app.store.dayfile import DayFile, DayFileError, DayFileWriter
from app.store.dayjson import day_from_json, day_to_json, plan_from_json, plan_to_json
from engine import planning
from engine.travel import HaversineTravelModel
from tests.fixtures.scenarios import small_day

META = {"depot_id": "D1", "day": "2026-11-24", "timezone": "America/Denver", "source": "test"}


def _write(path, **extra):
    w = DayFileWriter(path, {**META, **extra})
    w.rows("fixes", [("V1", 1.0e9, 40.7, -111.9, 30.0, 90.0)])
    w.rows("plan_versions", [(1, 1.0e9, "planner", "plan", None, "{}")])
    return w.close()


def test_a_day_and_its_plan_round_trip_through_json():
    """The day's input and a plan come back equal from their JSON documents."""
    day = small_day(12, 2)
    plan = planning.plan(day, HaversineTravelModel(), depot_id="D1", iterations=50)
    assert day_from_json(day_to_json(day)) == day
    assert plan_from_json(plan_to_json(plan)) == plan
    bad = day_to_json(day)
    bad["orders"][3]["windows"] = [{"start": "2026-11-24T12:00:00+00:00", "end": "nonsense"}]
    with pytest.raises(ValueError, match=r"orders\[3\]"):
        day_from_json(bad)


def test_written_file_reads_back_and_appears_only_when_complete(tmp_path):
    """Until close() the file is not there under its name; then it reads and checks."""
    path = tmp_path / "d.dday"
    w = DayFileWriter(path, META)
    assert not path.exists()
    w.rows("events", [("e1", "V1", 1.0e9, "arrived", "O1", None)])
    w.close()
    with DayFile(path) as f:
        assert f.depot_id == "D1" and f.day == "2026-11-24"
        assert f.summary().counts["events"] == 1


@pytest.mark.parametrize(
    "spoil, why",
    [
        (lambda p: p.write_bytes(b"not a database at all"), "not an SQLite file"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE x (a)").connection.commit(),
         "no meta table"),
        (lambda p: _sql(p, "UPDATE meta SET value='other' WHERE key='format'"), "format 'other'"),
        (lambda p: _sql(p, "UPDATE meta SET value='9' WHERE key='format_version'"), "newer desk"),
        (lambda p: _sql(p, "DROP TABLE events"), "table events is missing"),
        (lambda p: _sql(p, "INSERT INTO fixes VALUES ('V1', 'soon', 40, -111, 0, 0)"),
         "fixes: ts, lat, lon"),
        (lambda p: _sql(p, "INSERT INTO fixes VALUES ('V1', 1, 140, -111, 0, 0)"),
         "fixes: ts, lat, lon"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_sound_recorded_day_is_refused_with_the_reason(tmp_path, spoil, why):
    """Hostile or broken files never open as a day; the message says what is wrong."""
    path = tmp_path / "d.dday"
    if "SQLite" not in why and "meta table" not in why:
        _write(path)
    spoil(path)
    with pytest.raises(DayFileError, match=why):
        DayFile(path)


def _sql(path, statement):
    conn = sqlite3.connect(path)
    conn.execute(statement)
    conn.commit()
    conn.close()
