"""A 1,000-order day with 37 bad rows: the 963 good ones land in the store, the 37 are named."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

import main
from app.importer.persist import import_paths
from app.store import open_store, repository

DEPOT = (40.7608, -111.8910)
ORDER_COLUMNS = [
    "id", "depot_id", "lat", "lon", "demand_kg", "demand_m3", "window_start", "window_end",
    "window2_start", "window2_end", "service_minutes", "skills", "priority", "wave",
    "customer", "address",
]  # fmt: skip

Row = dict[str, str]
NO_WINDOW2 = {"window2_start": "", "window2_end": ""}


def _set(**values: str) -> Callable[[Row], None]:
    return lambda row: row.update(values)


#: (field the report must name, what makes the row bad): 37 different ways to be wrong.
BAD_ROWS: list[tuple[str, Callable[[Row], None]]] = [
    ("lat", _set(lat="95.5", lon="-111.9")),  # out of range
    ("lat", _set(lat="-111.88", lon="40.75")),  # swapped
    ("lat", _set(lat="-111.95", lon="40.69")),  # swapped again
    ("lat,lon", _set(lat="0", lon="0")),  # (0, 0)
    ("lat", _set(lat="forty")),  # not a number
    ("lat", _set(lat="")),  # missing
    ("lon", _set(lon="")),  # missing
    ("lon", _set(lon="-200.5")),  # out of range
    ("lat,lon", _set(lat="40.7128", lon="-74.0060")),  # New York: 3,000 km away
    ("window_start", _set(window_start="9am")),  # unparseable
    ("window_end", _set(window_end="25:00")),  # no such clock time
    ("window_start", _set(window_start="2026-11-24T09:00:00")),  # ISO without offset
    ("window_start", _set(window_start="2026-13-01T09:00:00-07:00")),  # month 13
    ("window_end", _set(window_start="15:00", window_end="13:00")),  # end before start
    ("window2_end", _set(window2_start="16:00", window2_end="15:00")),  # 2nd window inverted
    (
        "window2_start",
        _set(window_start="09:00", window_end="11:00", window2_start="10:00", window2_end="12:00"),
    ),  # overlapping windows
    (
        "window2_start",
        _set(window_start="09:00", window_end="11:00", window2_start="11:00", window2_end="12:00"),
    ),  # touching windows
    ("window2_end", _set(window2_start="15:00", window2_end="")),  # half a second window
    ("window_end", _set(window_start="05:00", window_end="06:00", **NO_WINDOW2)),  # too early
    ("window_start", _set(window_start="18:59", window_end="20:00", **NO_WINDOW2)),  # too late
    ("demand_kg", _set(demand_kg="3000")),  # above every vehicle
    ("demand_m3", _set(demand_m3="25")),  # above every vehicle
    ("demand_kg", _set(demand_kg="-3")),  # negative
    ("demand_m3", _set(demand_m3="lots")),  # not a number
    ("id", lambda row: row.update(id="O00000")),  # duplicate of the first row
    ("id", lambda row: row.update(id="O00001")),  # duplicate of the second row
    ("skills", _set(skills="crane")),  # no vehicle has it
    ("demand", _set(skills="refrigerated", demand_kg="1500")),  # no refrigerated truck that big
    ("id", _set(id="")),  # missing id
    ("depot_id", _set(depot_id="D9")),  # unknown depot
    ("service_minutes", _set(service_minutes="-10")),  # negative
    ("service_minutes", _set(service_minutes="ten")),  # not a number
    ("priority", _set(priority="high")),  # not a number
    ("priority", _set(priority="1.5")),  # not whole
    ("row", lambda row: row.update(_extra="surplus")),  # one value too many
    ("window_start", _set(window_start="")),  # missing window
    ("window_end", _set(window_end="")),  # missing window end
]
BAD_INDEXES = [5 + 27 * i for i in range(len(BAD_ROWS))]


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def write_day(folder: Path, *, orders: int = 1000, seed: int = 3) -> dict[int, str]:
    """Write depots/vehicles/drivers/orders CSVs; return {bad row number: field it names}."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(
        folder / "depots.csv",
        ["id", "name", "lat", "lon", "timezone", "docks", "address"],
        [["D1", "Salt Lake Central", *DEPOT, "America/Denver", 4, "1 Depot Way"]],
    )
    vehicles = [
        [f"V{i:02d}", "D1", "van", 800, 8, "refrigerated" if i <= 3 else ""] for i in range(1, 21)
    ]
    vehicles += [[f"V{i:02d}", "D1", "box_truck", 2500, 20, "tail_lift"] for i in range(21, 26)]
    _write_csv(
        folder / "vehicles.csv",
        ["id", "depot_id", "type", "capacity_kg", "capacity_m3", "skills"],
        vehicles,
    )
    shifts = [("07:00", "17:00"), ("08:00", "18:00"), ("09:00", "19:00")]
    _write_csv(
        folder / "drivers.csv",
        ["id", "name", "depot_id", "shift_start", "shift_end", "break_earliest", "break_latest",
         "break_minutes", "vehicle_id"],
        [[f"R{i:02d}", f"Driver {i}", "D1", *shifts[i % 3], "11:00", "13:00", 30, f"V{i:02d}"]
         for i in range(1, 26)],
    )  # fmt: skip
    slots = [("08:00", "12:00", "", ""), ("12:30", "17:00", "", ""), ("09:00", "11:00", "", ""),
             ("13:00", "15:00", "", ""), ("08:30", "10:30", "14:00", "16:00"),
             ("2026-11-24T10:00:00-07:00", "2026-11-24T12:00:00-07:00", "", "")]  # fmt: skip
    rows: list[Row] = []
    for i in range(orders):
        start, end, start2, end2 = rnd.choice(slots)
        skill = rnd.choices(["", "refrigerated", "tail_lift"], weights=[18, 1, 1])[0]
        rows.append({
            "id": f"O{i:05d}", "depot_id": "D1",
            "lat": f"{DEPOT[0] + rnd.uniform(-0.04, 0.04):.6f}",  # on the streets
            "lon": f"{DEPOT[1] + rnd.uniform(-0.05, 0.05):.6f}",
            "demand_kg": f"{rnd.uniform(2, 40):.1f}", "demand_m3": f"{rnd.uniform(0.02, 0.4):.2f}",
            "window_start": start, "window_end": end, "window2_start": start2, "window2_end": end2,
            "service_minutes": str(rnd.choice([3, 5, 8])), "skills": skill,
            "priority": str(rnd.choice([0, 0, 1, 2])), "wave": "W1" if start < "12" else "W2",
            "customer": f"Customer {i}", "address": f"{100 + i} Main St, Salt Lake City",
        })  # fmt: skip
    expected: dict[int, str] = {}
    for index, (field, spoil) in zip(BAD_INDEXES, BAD_ROWS, strict=True):
        spoil(rows[index])
        expected[index + 2] = field  # the header is row 1
    _write_csv(
        folder / "orders.csv",
        ORDER_COLUMNS,
        [[r[c] for c in ORDER_COLUMNS] + ([r["_extra"]] if "_extra" in r else []) for r in rows],
    )
    return expected


@pytest.fixture
def day_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[int, str]]:
    """A folder with a 1,000-order day (37 bad rows) and the data dir inside tmp_path."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "day"
    return folder, write_day(folder)


def _stored_order_ids(url: str) -> set[str]:
    store = open_store(url)
    try:
        with store.session() as session:
            return repository.known_ids(session, "orders")
    finally:
        store.close()


def test_963_good_rows_land_and_37_bad_rows_are_reported(day_folder, tmp_path):
    """Exactly the good rows are stored; each bad row is named with its row, field and reason."""
    folder, expected = day_folder
    url = f"sqlite:///{tmp_path / 'day.sqlite3'}"
    report = import_paths([folder], url, actor="test")
    orders = next(f for f in report.files if f.kind == "orders")
    assert (orders.rows_read, orders.accepted, orders.inserted, orders.rejected) == (
        1000,
        963,
        963,
        37,
    )
    assert len(orders.issues) == 37  # one precise reason per bad row
    assert {i.row: i.field for i in orders.issues} == expected
    assert all(i.reason and i.file.endswith("orders.csv") for i in orders.issues)
    assert len(_stored_order_ids(url)) == 963
    assert f"O{BAD_INDEXES[0]:05d}" not in _stored_order_ids(url)
    assert report.exit_code == 1


def test_importing_the_same_files_again_changes_nothing(day_folder, tmp_path):
    """A re-import inserts and updates nothing; the same 37 rows are reported again."""
    folder, _ = day_folder
    url = f"sqlite:///{tmp_path / 'day.sqlite3'}"
    import_paths([folder], url, actor="test")
    again = import_paths([folder], url, actor="test")
    assert sum(f.inserted + f.updated for f in again.files) == 0
    assert sum(f.unchanged for f in again.files) == 1 + 25 + 25 + 963
    assert again.rejected == 37


def test_cli_prints_every_rejected_row_and_exits_non_zero(day_folder, capsys):
    """`main.py import FOLDER` lists each bad row as file:row field: reason and exits 1."""
    folder, expected = day_folder
    assert main.main(["import", str(folder)]) == 1
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines() if "orders.csv:" in line]
    assert len(lines) == 37
    assert {int(line.split(":")[1].split()[0]) for line in lines} == set(expected)
    assert "1000 rows read, 963 imported (963 inserted, 0 updated, 0 unchanged), 37 rejected" in out
    assert "Whole-day checks:" in out


def test_cli_json_report_is_machine_readable(day_folder, capsys):
    """`--json` prints a report whose rejections carry file, row, field and reason."""
    folder, expected = day_folder
    assert main.main(["import", str(folder), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    orders = next(f for f in data["files"] if f["kind"] == "orders")
    assert {r["row"]: r["field"] for r in orders["rejections"]} == expected
    assert data["rejected"] == 37 and data["exit_code"] == 1 and data["day"] == "2026-11-24"
