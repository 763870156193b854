"""The import against a real database and through the command line."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

import main
from app.importer.persist import import_paths
from app.store import open_store, repository

DEPOTS = "id,name,lat,lon,timezone,docks\nD1,Main,40.7608,-111.8910,America/Denver,2\n"
VEHICLES = "id,depot_id,type,capacity_kg,capacity_m3\nV1,D1,van,800,8\nV2,D1,van,800,8\n"
DRIVERS = "id,name,depot_id,shift_start,shift_end\nR1,Ann,D1,07:00,17:00\nR2,Bob,D1,08:00,18:00\n"
ORDERS = (
    "id,depot_id,lat,lon,demand_kg,window_start,window_end,wave\n"
    "O1,D1,40.70,-111.90,10,2026-11-24T09:00:00-07:00,2026-11-24T11:00:00-07:00,W1\n"
    "O2,D1,40.72,-111.85,20,13:00,15:00,W2\n"
)
DAY = date(2026, 11, 24)


def _write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_csv", ".csv").replace("_json", ".json")).write_text(text)
    return folder


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DISPATCH_DATA_DIR inside tmp_path, so the default database is a fresh SQLite file."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DISPATCH_DATABASE_URL", raising=False)
    return tmp_path / "data"


def test_reimport_changes_nothing_and_a_changed_row_updates(store_url, tmp_path):
    """Same files again: nothing inserted or updated; one edited order: exactly one update."""
    folder = _write(
        tmp_path / "day", depots_csv=DEPOTS, vehicles_csv=VEHICLES, drivers_csv=DRIVERS,
        orders_csv=ORDERS,
    )  # fmt: skip
    first = import_paths([folder], store_url, actor="test")
    assert [f.inserted for f in first.files] == [1, 2, 2, 2] and first.exit_code == 0
    again = import_paths([folder], store_url, actor="test")
    assert [(f.inserted, f.updated, f.unchanged) for f in again.files] == [
        (0, 0, 1), (0, 0, 2), (0, 0, 2), (0, 0, 2),
    ]  # fmt: skip
    _write(folder, orders_csv=ORDERS.replace("O2,D1,40.72,-111.85,20", "O2,D1,40.72,-111.85,25"))
    edited = import_paths([folder / "orders.csv"], store_url, actor="test")
    assert (edited.files[0].updated, edited.files[0].unchanged) == (1, 1)
    store = open_store(store_url)
    try:
        with store.session() as session:
            day = repository.load_day(session, "D1", DAY)
    finally:
        store.close()
    assert {o.id: o.demand["kg"] for o in day.orders} == {"O1": 10.0, "O2": 25.0}


def test_orders_only_import_is_checked_against_the_stored_fleet(tmp_path):
    """Orders imported alone are checked against the vehicles and drivers in the database."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    setup = _write(
        tmp_path / "setup", depots_csv=DEPOTS, vehicles_csv=VEHICLES, drivers_csv=DRIVERS
    )
    import_paths([setup], url, actor="test", day=DAY)
    orders = ORDERS + "O3,,40.70,-111.90,900,09:00,10:00,W1\nO4,,40.70,-111.90,5,05:00,06:00,W1\n"
    report = import_paths([_write(tmp_path / "o", orders_csv=orders)], url, actor="test", day=DAY)
    issues = [(i.row, i.field) for i in report.files[0].issues]
    assert issues == [(4, "demand_kg"), (5, "window_end")]
    assert not report.files[0].warnings and report.files[0].inserted == 2
    checks = {c.name: c.ok for c in report.day_checks}
    assert checks == {
        "capacity kg": True, "capacity m3": True, "drivers vs vehicles": True,
        "shift coverage": True, "orders per wave": True,
    }  # fmt: skip


def test_cli_imports_json_into_the_default_database(data_dir, tmp_path, capsys):
    """A JSON day file goes into the SQLite file in the data directory; exit code 0."""
    day = {
        "depots": [{"id": "D1", "name": "Main", "lat": 40.76, "lon": -111.89}],
        "vehicles": [{"id": "V1", "capacity": {"kg": 500}}],
        "orders": [{"id": "O1", "lat": 40.7, "lon": -111.9, "demand": {"kg": 5},
                    "windows": [{"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T10:00:00Z"}]}],
    }  # fmt: skip
    path = tmp_path / "day.json"
    path.write_text(json.dumps(day))
    assert main.main(["import", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["imported"] == 3 and data["rejected"] == 0 and data["day"] == "2026-11-24"
    assert (data_dir / "dispatch.sqlite3").exists()
    assert any("reachability not checked" in w["reason"] for w in data["files"][0]["warnings"])


def test_cli_exit_code_2_for_unreadable_files_and_missing_paths(data_dir, tmp_path, capsys):
    """A broken file or a path that does not exist exits 2 and says why; a Windows-1252
    file is read, and the report says which encoding was assumed."""
    bad = tmp_path / "orders.json"
    bad.write_text('[{"id": "O1",')
    assert main.main(["import", str(bad)]) == 2
    assert "NOT READ - not valid JSON" in capsys.readouterr().out
    latin = _write(tmp_path / "eu", depots_csv=DEPOTS)
    (latin / "orders.csv").write_bytes(
        "id;depot_id;lat;lon;window_start;window_end;customer\n"
        "O1;D1;40,70;-111,90;24/11/2026 09:00;24/11/2026 11:00;Caf\xe9\n".encode("cp1252")
    )
    assert main.main(["import", str(latin), "--date-format", "dd/mm/yyyy"]) == 0
    out = capsys.readouterr().out
    assert "orders.csv (orders; Windows-1252, ';'-separated, decimal commas): 1 row read" in out
    assert "not UTF-8 (byte 0xe9 at byte offset" in out and "(day 2026-11-24)" in out
    assert main.main(["import", str(tmp_path / "nope.csv")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_cli_rejects_a_bad_day_argument(data_dir, capsys):
    """`--day 24/11/2026` and `--date-format dd/yy` are usage errors (exit 2) naming the form."""
    with pytest.raises(SystemExit) as exc:
        main.main(["import", ".", "--day", "24/11/2026"])
    assert exc.value.code == 2 and "YYYY-MM-DD" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main.main(["import", ".", "--date-format", "dd/yy"])
    assert exc.value.code == 2 and "dd, mm and yyyy once each" in capsys.readouterr().err


def test_cli_reports_an_unusable_database(data_dir, tmp_path, capsys):
    """A database URL that cannot be opened exits 2 with the URL and the reason."""
    folder = _write(tmp_path / "d", depots_csv=DEPOTS)
    code = main.main(["import", str(folder), "--database", "nosuchdb://x"])
    assert code == 2 and "cannot open the database nosuchdb://x" in capsys.readouterr().err


def test_a_file_named_twice_is_read_once(tmp_path):
    """`import DIR DIR/orders.csv` reads orders.csv once, so its rows are not duplicates."""
    folder = _write(tmp_path / "day", depots_csv=DEPOTS, orders_csv=ORDERS)
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    report = import_paths([folder, folder / "orders.csv"], url, actor="test")
    assert len(report.files) == 2 and report.rejected == 0


def test_rows_stream_to_the_store_in_batches(tmp_path):
    """The validator reads a file row by row and hands good rows on at most a batch at a
    time (the file is never held whole); the store gets every good row."""
    from app.importer.reading import collect_sources
    from app.importer.validate import Known, RowValidator

    rows = "".join(f"O{i},D1,40.70,-111.90,1,09:00,11:00,W1\n" for i in range(1, 1001))
    header = "id,depot_id,lat,lon,demand_kg,window_start,window_end,wave\n"
    folder = _write(tmp_path / "day", depots_csv=DEPOTS, orders_csv=header + rows)
    sources = collect_sources([folder])
    assert all(s.data is None for s in sources)  # read from disk as rows are asked for
    sizes: list[int] = []
    validator = RowValidator(lambda batch: sizes.append(len(batch.items)), batch_size=128)
    validator.run(validator.open(sources), Known(), DAY)
    assert sum(sizes) == 1001 and max(sizes) == 128
    report = import_paths([folder], f"sqlite:///{tmp_path / 'db.sqlite3'}", actor="test")
    assert report.files[1].inserted == 1000 and report.exit_code == 0
    checks = {c.name: c.message for c in report.day_checks}
    assert checks["orders per wave"] == "W1: 1000"
