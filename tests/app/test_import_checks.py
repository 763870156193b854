"""Import validation without a database: every check names the file, row, field and reason."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from app.importer.reading import Source, day_named_in
from app.importer.validate import Known, validate_sources
from engine.model import Depot, Location, Order, TimeWindow, Vehicle

DAY = date(2026, 11, 24)
DEPOTS = "id,name,lat,lon,timezone,docks\nD1,Main,40.7608,-111.8910,America/Denver,4\n"
VEHICLES = (
    "id,depot_id,type,capacity_kg,capacity_m3,skills\n"
    "V1,D1,van,800,8,refrigerated\n"
    "V2,,box_truck,2500,20,tail_lift\n"
)
DRIVERS = (
    "id,name,depot_id,shift_start,shift_end,break_earliest,break_latest,break_minutes\n"
    "R1,Ann,D1,07:00,19:00,11:00,13:00,30\n"
    "R2,Bob,D1,08:00,17:00,,,\n"
)
ORDER_HEADER = "id,depot_id,lat,lon,demand_kg,demand_m3,window_start,window_end,skills,wave\n"


def _csv(name: str, text: str) -> Source:
    return Source(name, text.encode())


def _day(orders: str, *, with_drivers: bool = True, with_vehicles: bool = True):
    sources = [_csv("depots.csv", DEPOTS)]
    if with_vehicles:
        sources.append(_csv("vehicles.csv", VEHICLES))
    if with_drivers:
        sources.append(_csv("drivers.csv", DRIVERS))
    sources.append(_csv("orders.csv", ORDER_HEADER + orders))
    return validate_sources(sources, Known(), DAY)


def _orders_report(validation):
    return next(f for f in validation.report.files if f.file == "orders.csv")


def _only_issue(validation):
    issues = _orders_report(validation).issues
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_good_rows_become_domain_objects_in_the_depot_time_zone():
    """HH:MM times fall on the import day in the depot's zone; an empty depot_id means the only depot."""
    v = _day("O1,,40.70,-111.90,10,0.1,09:00,11:00,,W1\n")
    orders = [b for b in v.batches if b.kind == "orders"][0].items
    assert orders[0].earliest == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert orders[0].depot_id == "D1" and v.report.exit_code == 0


def test_swapped_coordinates_are_reported_as_swapped():
    """A latitude that is only valid as a longitude is called swapped."""
    issue = _only_issue(_day("O1,D1,-111.90,40.70,10,0.1,09:00,11:00,,W1\n"))
    assert (issue.row, issue.field) == (2, "lat") and "looks swapped" in issue.reason


def test_swapped_coordinates_near_the_depot_only_when_swapped():
    """Both values in range, far from the depot, but near it once swapped: 'looks swapped'."""
    depots = "id,name,lat,lon,timezone\nM1,Munich,48.137,11.575,Europe/Berlin\n"
    orders = ORDER_HEADER + "O1,M1,11.58,48.14,10,0.1,09:00,11:00,,\n"
    v = validate_sources([_csv("depots.csv", depots), _csv("orders.csv", orders)], Known(), DAY)
    issue = _orders_report(v).issues[0]
    assert issue.field == "lat" and "looks swapped" in issue.reason and "km" in issue.reason


def test_zero_zero_and_far_away_points_are_refused():
    """(0,0) and a point 3,000 km from the depot are refused with a reason."""
    v = _day("O1,D1,0,0,10,0.1,09:00,11:00,,\nO2,D1,40.71,-74.0,10,0.1,09:00,11:00,,\n")
    reasons = {i.row: i.reason for i in _orders_report(v).issues}
    assert "(0, 0)" in reasons[2] and "km from depot D1" in reasons[3]


def test_unparseable_and_offsetless_times_are_refused():
    """'9am' and an ISO time without an offset are refused, naming the field."""
    v = _day(
        "O1,D1,40.70,-111.90,10,0.1,9am,11:00,,\n"
        "O2,D1,40.70,-111.90,10,0.1,2026-11-24T09:00:00,11:00,,\n"
    )
    issues = _orders_report(v).issues
    assert [(i.row, i.field) for i in issues] == [(2, "window_start"), (3, "window_start")]
    assert "not a time" in issues[0].reason and "no UTC offset" in issues[1].reason


def test_window_end_before_start_and_overlapping_windows_are_refused():
    """An inverted window and two overlapping windows are both refused."""
    header = ORDER_HEADER.strip() + ",window2_start,window2_end\n"
    orders = (
        "O1,D1,40.70,-111.90,10,0.1,11:00,09:00,,,,\n"
        "O2,D1,40.70,-111.90,10,0.1,09:00,11:00,,,10:30,12:00\n"
        "O3,D1,40.70,-111.90,10,0.1,09:00,10:00,,,13:00,14:00\n"
    )
    sources = [_csv("depots.csv", DEPOTS), _csv("orders.csv", header + orders)]
    report = _orders_report(validate_sources(sources, Known(), DAY))
    assert [(i.row, i.field) for i in report.issues] == [(2, "window_end"), (3, "window2_start")]
    assert "before" in report.issues[0].reason and "overlaps" in report.issues[1].reason
    assert report.accepted == 1


def test_window_unreachable_within_the_shifts_is_refused():
    """A window that closes before the first shift can get there, or opens too late, is refused."""
    v = _day(
        "O1,D1,40.70,-111.90,10,0.1,05:00,06:00,,\n"
        "O2,D1,40.70,-111.90,10,0.1,18:58,19:30,,\n"
        "O3,D1,40.70,-111.90,10,0.1,07:05,07:30,,\n"
    )
    issues = _orders_report(v).issues
    assert [(i.row, i.field) for i in issues] == [(2, "window_end"), (3, "window_start")]
    assert "first shift start" in issues[0].reason and "last shift ends" in issues[1].reason


def test_reachability_is_skipped_with_a_warning_without_drivers():
    """With no drivers known, an early window is kept and the report says it was not checked."""
    report = _orders_report(_day("O1,D1,40.70,-111.90,10,0.1,05:00,06:00,,\n", with_drivers=False))
    assert report.accepted == 1 and "not checked" in report.warnings[0].reason


def test_demand_above_every_vehicle_and_unknown_skills_are_refused():
    """Demand over the largest vehicle (per dimension) and a skill no vehicle has are refused."""
    v = _day(
        "O1,D1,40.70,-111.90,3000,1,09:00,11:00,,\n"
        "O2,D1,40.70,-111.90,10,25,09:00,11:00,,\n"
        "O3,D1,40.70,-111.90,10,1,09:00,11:00,crane,\n"
        "O4,D1,40.70,-111.90,1000,1,09:00,11:00,refrigerated,\n"
    )
    issues = _orders_report(v).issues
    assert [(i.row, i.field) for i in issues] == [
        (2, "demand_kg"), (3, "demand_m3"), (4, "skills"), (5, "demand"),
    ]  # fmt: skip
    assert "largest: 2500 kg" in issues[0].reason and "crane" in issues[2].reason


def test_capacity_is_skipped_with_a_warning_without_vehicles():
    """With no vehicles known, a heavy order is kept and the report warns."""
    report = _orders_report(_day("O1,D1,40.70,-111.90,9000,1,09:00,11:00,,\n", with_vehicles=False))
    assert report.accepted == 1
    assert any("capacity and skills not checked" in w.reason for w in report.warnings)


def test_missing_fields_negative_numbers_and_unknown_depot_are_refused():
    """Empty id, negative demand, unknown depot: each row refused with its field."""
    v = _day(
        ",D1,40.70,-111.90,10,0.1,09:00,11:00,,\n"
        "O2,D1,40.70,-111.90,-4,0.1,09:00,11:00,,\n"
        "O3,D9,40.70,-111.90,10,0.1,09:00,11:00,,\n"
    )
    issues = _orders_report(v).issues
    assert [(i.row, i.field) for i in issues] == [(2, "id"), (3, "demand_kg"), (4, "depot_id")]
    assert "missing" in issues[0].reason and "negative" in issues[1].reason


def test_duplicate_ids_within_and_across_files_reject_the_second():
    """The first row with an id wins; later ones, in this or another file, are refused."""
    row = "O1,D1,40.70,-111.90,10,0.1,09:00,11:00,,\n"
    sources = [
        _csv("depots.csv", DEPOTS),
        _csv("orders.csv", ORDER_HEADER + row + row),
        _csv("orders_wave2.csv", ORDER_HEADER + row),
    ]
    files = validate_sources(sources, Known(), DAY).report.files
    assert [f.accepted for f in files[1:]] == [1, 0]
    assert str(files[1].issues[0]) == "orders.csv:3 id: duplicate id 'O1': first at orders.csv:2"
    assert files[2].issues[0].reason == "duplicate id 'O1': first at orders.csv:2"


def test_an_id_already_stored_is_an_update_not_a_duplicate():
    """A row whose id is in the database is accepted (it updates the stored one)."""
    depot = Depot("D1", "Main", Location(40.7608, -111.891), "America/Denver")
    t0 = datetime(2026, 11, 24, 16, tzinfo=UTC)
    stored = Order("O1", "D1", Location(40.7, -111.9), {"kg": 1}, (TimeWindow(t0, t0),))
    known = Known(
        depots=(depot,), vehicles=(Vehicle("V1", "D1", {"kg": 100, "m3": 1}),), orders=(stored,)
    )
    orders = ORDER_HEADER + "O1,D1,40.70,-111.90,10,0.1,09:00,11:00,,\n"
    v = validate_sources([_csv("orders.csv", orders)], known, DAY)
    assert v.report.files[0].accepted == 1 and v.report.rejected == 0


def test_a_windows_1252_file_is_read_and_the_assumption_reported():
    """A file that is not UTF-8 is read as Windows-1252; the report says so and where."""
    data = (
        ORDER_HEADER.strip()
        + ",customer\n"
        + "O1,D1,40.70,-111.90,10,0.1,09:00,11:00,,,Caf\u00e9 \u20ac\n"
    )
    raw = data.encode("cp1252")
    v = validate_sources([_csv("depots.csv", DEPOTS), Source("orders.csv", raw)], Known(), DAY)
    orders = _orders_report(v)
    offset = raw.index(b"\xe9")
    assert orders.error == "" and orders.accepted == 1 and orders.format == "Windows-1252"
    note = orders.warnings[0].reason
    assert f"byte 0xe9 at byte offset {offset}, line 2" in note and "read as Windows-1252" in note
    order = [b for b in v.batches if b.kind == "orders"][0].items[0]
    assert order.customer == "Caf\u00e9 \u20ac"


def test_a_byte_windows_1252_leaves_undefined_means_latin_1():
    """0x81 has no Windows-1252 letter: such a file is read as Latin-1."""
    raw = (
        ORDER_HEADER.strip() + ",customer\n"
    ).encode() + b"O1,D1,40.70,-111.90,10,0.1,09:00,11:00,,,M\xfcller\x81\n"
    v = validate_sources([_csv("depots.csv", DEPOTS), Source("orders.csv", raw)], Known(), DAY)
    assert _orders_report(v).format == "Latin-1" and _orders_report(v).accepted == 1


def test_semicolons_decimal_commas_and_day_first_dates():
    """A European spreadsheet's CSV: ';'-separated, '40,70' decimals, dd/mm/yyyy with the format named."""
    from app.importer.fields import DateFormat
    from app.importer.reading import ReadOptions

    header = "id;depot_id;lat;lon;demand_kg;window_start;window_end;skills\n"
    rows = "O1;D1;40,70;-111,90;12,5;24/11/2026 09:00;24/11/2026 11:00;refrigerated,tail_lift\n"
    options = ReadOptions(date_format=DateFormat("dd/mm/yyyy"))
    source = _csv("orders.csv", header + rows)
    v = validate_sources([_csv("depots.csv", DEPOTS), source], Known(), DAY, options)
    report = _orders_report(v)
    assert report.accepted == 1, [str(i) for i in report.issues]
    assert report.format == "';'-separated, decimal commas"
    assert any("separated by semicolons" in w.reason for w in report.warnings)
    order = [b for b in v.batches if b.kind == "orders"][0].items[0]
    assert (order.location.lat, order.demand["kg"]) == (40.70, 12.5)
    assert order.earliest == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert order.skills == {"refrigerated", "tail_lift"}


def test_a_day_first_date_without_the_format_is_refused_with_the_hint():
    """'24/11/2026 09:00' without --date-format: refused, saying how to name the format."""
    header = "id;depot_id;lat;lon;window_start;window_end\n"
    v = validate_sources(
        [
            _csv("depots.csv", DEPOTS),
            _csv("orders.csv", header + "O1;D1;40,7;-111,9;24/11/2026 09:00;11:00\n"),
        ],
        Known(),
        DAY,
    )
    issue = _only_issue(v)
    assert issue.field == "window_start" and "--date-format dd/mm/yyyy" in issue.reason


def test_numbers_with_both_separators_and_commas_in_comma_files_are_refused():
    """'1.234,5' is ambiguous in a ';' file; '12,5' in a comma file is not a number."""
    header = "id;depot_id;lat;lon;demand_kg;window_start;window_end\n"
    v = validate_sources(
        [
            _csv("depots.csv", DEPOTS),
            _csv("orders.csv", header + "O1;D1;40,7;-111,9;1.234,5;09:00;11:00\n"),
        ],
        Known(),
        DAY,
    )
    assert "thousands separators" in _only_issue(v).reason
    v = _day('O1,D1,40.70,-111.90,"12,5",0.1,09:00,11:00,,W1\n')
    assert _only_issue(v).field == "demand_kg" and "'.'" in _only_issue(v).reason


def test_tab_separated_files_are_read():
    """A tab-separated vehicles file is read like a comma-separated one."""
    tab = _csv("vehicles.csv", VEHICLES.replace(",", "\t"))
    files = validate_sources([_csv("depots.csv", DEPOTS), tab], Known(), DAY).report.files
    assert files[1].accepted == 2 and files[1].format == "'\\t'-separated, decimal commas"


def test_an_import_without_any_good_row_is_not_ok():
    """Only a header, or every row refused: nothing imported, exit code 1, 'Nothing was imported'."""
    v = validate_sources([_csv("orders.csv", ORDER_HEADER)], Known(), DAY)
    assert v.report.empty and v.report.exit_code == 1
    assert v.report.summary().endswith("Nothing was imported.")


def test_a_day_with_drivers_and_no_orders_is_warned():
    """Drivers for a day and no orders: the whole-day check 'orders' fails."""
    sources = [_csv("depots.csv", DEPOTS), _csv("drivers.csv", DRIVERS)]
    checks = {c.name: c for c in validate_sources(sources, Known(), DAY).report.day_checks}
    assert not checks["orders"].ok and "no orders" in checks["orders"].message


def test_missing_required_column_is_a_file_error():
    """A header without lat is refused as a whole, listing what is missing."""
    text = "id,depot_id,lon,window_start,window_end\nO1,D1,-111.9,09:00,10:00\n"
    report = validate_sources([_csv("orders.csv", text)], Known(), DAY).report
    assert "missing required column(s) lat" in report.files[0].error
    assert report.files[0].rejected == 1


def test_json_object_with_structured_fields_and_item_index():
    """A JSON day file imports structured demand/windows/skills; bad items are named by index."""
    day = {
        "depots": [{"id": "D1", "name": "Main", "lat": 40.76, "lon": -111.89,
                    "timezone": "America/Denver", "docks": ["North", "South"]}],
        "vehicles": [{"id": "V1", "depot_id": "D1", "capacity": {"kg": 800, "m3": 8},
                      "skills": ["refrigerated"]}],
        "orders": [
            {"id": "O1", "lat": 40.7, "lon": -111.9, "demand": {"kg": 12},
             "windows": [{"start": "2026-11-24T09:00:00-07:00", "end": "10:00"},
                         {"start": "14:00", "end": "15:00"}], "skills": ["refrigerated"]},
            {"id": "O2", "lat": 40.7, "lon": -111.9,
             "windows": [{"start": "11:00", "end": "10:00"}], "colour": "red"},
        ],
    }  # fmt: skip
    v = validate_sources([Source("day.json", json.dumps(day).encode())], Known(), DAY)
    report = v.report.files[0]
    assert report.kind == "depots+vehicles+orders" and report.accepted == 3
    assert str(report.issues[0]).startswith("day.json:orders[1] windows[0].end:")
    assert report.warnings[0].reason == "key 'colour' is not part of the orders format, ignored"
    order = [b for b in v.batches if b.kind == "orders"][0].items[0]
    assert len(order.windows) == 2 and order.demand == {"kg": 12.0}
    depot = [b for b in v.batches if b.kind == "depots"][0].items[0]
    assert [d.name for d in depot.docks] == ["North", "South"]


def test_broken_json_is_a_file_error_with_line_and_column():
    """Invalid JSON is reported once with where the parser stopped."""
    report = validate_sources([Source("orders.json", b'[{"id": "O1",\n}]')], Known(), DAY).report
    assert "not valid JSON" in report.files[0].error and "line 2" in report.files[0].error


def test_drivers_and_vehicles_rows_are_checked():
    """Shift ending before it starts, incomplete or misplaced break, vehicle without capacity."""
    drivers = (
        "id,name,depot_id,shift_start,shift_end,break_earliest,break_latest,break_minutes\n"
        "R1,Ann,D1,17:00,07:00,,,\nR2,Bob,D1,07:00,17:00,11:00,,30\n"
        "R3,Cy,D1,07:00,12:00,13:00,14:00,30\n"
    )
    vehicles = "id,depot_id,capacity_kg\nV1,D1,\nV2,D7,100\n"
    sources = [
        _csv("depots.csv", DEPOTS),
        _csv("drivers.csv", drivers),
        _csv("vehicles.csv", vehicles),
    ]
    files = validate_sources(sources, Known(), DAY).report.files
    by_file = {f.file: [(i.row, i.field) for i in f.issues] for f in files}
    assert by_file["drivers.csv"] == [(2, "shift_end"), (3, "break_latest"), (4, "break_earliest")]
    assert by_file["vehicles.csv"] == [(2, "capacity"), (3, "depot_id")]


def test_whole_day_checks_warn_about_capacity_drivers_coverage_and_list_waves():
    """Too much demand, fewer drivers than vehicles and a window outside every shift are warned."""
    v = _day(
        "O1,D1,40.70,-111.90,2000,1,09:00,11:00,,W1\n"
        "O2,D1,40.70,-111.90,1500,1,09:00,11:00,,W1\n"
        "O3,D1,40.70,-111.90,10,1,07:00,07:30,,W2\n"
    )
    checks = {c.name: c for c in v.report.day_checks}
    assert not checks["capacity kg"].ok and checks["capacity m3"].ok
    assert checks["drivers vs vehicles"].ok
    assert checks["orders per wave"].message == "W1: 2, W2: 1"
    assert checks["shift coverage"].ok


def test_shift_coverage_names_orders_outside_every_shift():
    """An order whose only window lies outside all shifts is named in the coverage warning."""
    drivers = "id,name,depot_id,shift_start,shift_end\nR1,Ann,D1,07:00,12:00\n"
    orders = ORDER_HEADER + "O1,D1,40.70,-111.90,10,1,09:00,10:00,,\n"
    known = Known(vehicles=(Vehicle("V1", "D1", {"kg": 100, "m3": 1}),))
    sources = [_csv("depots.csv", DEPOTS), _csv("drivers.csv", drivers), _csv("orders.csv", orders)]
    checks = {c.name: c for c in validate_sources(sources, known, DAY).report.day_checks}
    assert checks["shift coverage"].ok
    later = Order(
        "O9", "D1", Location(40.7, -111.9), {},
        (TimeWindow(datetime(2026, 11, 24, 21, tzinfo=UTC), datetime(2026, 11, 24, 22, tzinfo=UTC)),),
    )  # fmt: skip
    known = Known(vehicles=known.vehicles, orders=(later,))
    checks = {c.name: c for c in validate_sources(sources, known, DAY).report.day_checks}
    assert not checks["shift coverage"].ok and "O9" in checks["shift coverage"].message
    assert checks["drivers vs vehicles"].ok


def test_default_day_is_the_one_named_in_the_files():
    """Without --day the import day is the date of the first ISO time in the files."""
    sources = [_csv("orders.csv", ORDER_HEADER + "O1,D1,1,1,1,1,2026-12-01T09:00:00-07:00,x,,\n")]
    assert day_named_in(sources) == date(2026, 12, 1)
    assert day_named_in([_csv("orders.csv", ORDER_HEADER)]) is None


def test_rows_of_a_refused_depot_point_at_its_row_and_unknown_vehicles_warn():
    """A vehicle of a refused depot names where the depot was refused; a driver's unknown vehicle warns."""
    drivers = "id,name,depot_id,shift_start,shift_end,vehicle_id\nR1,Ann,D1,07:00,17:00,V9\n"
    sources = [
        _csv("depots.csv", DEPOTS + "D2,Bad,95,10,UTC,\n"),
        _csv("vehicles.csv", "id,depot_id,capacity_kg\nV1,D2,100\n"),
        _csv("drivers.csv", drivers),
    ]
    files = validate_sources(sources, Known(), DAY).report.files
    assert files[1].issues[0].reason == "depot 'D2' was refused (depots.csv:3)"
    assert files[2].accepted == 1 and files[2].warnings[0].reason == "vehicle 'V9' is not known"


_VALUES = st.sampled_from(
    ["", "O1", "D1", "D9", "40.7", "-111.9", "95", "0", "-3", "abc", "09:00", "11:00", "25:61",
     "2026-11-24T09:00:00-07:00", "2026-11-24T09:00:00", "1e9", "nan", "inf", "refrigerated",
     "a;b", '"', "\u00e9", " ", "10", "W1"]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_VALUES, min_size=8, max_size=11), min_size=1, max_size=12))
def test_every_row_is_either_imported_or_refused_with_a_reason(rows):
    """Whatever the values, the import never fails: each row is imported or refused with a reason."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([ORDER_HEADER.strip().split(","), *rows])
    v = validate_sources(
        [
            _csv("depots.csv", DEPOTS),
            _csv("vehicles.csv", VEHICLES),
            _csv("orders.csv", buffer.getvalue()),
        ],
        Known(),
        DAY,
    )
    report = _orders_report(v)
    assert report.accepted + report.rejected == report.rows_read
    assert len({i.where or str(i.row) for i in report.issues}) == report.rejected_rows
    assert all(i.field and i.reason for i in report.issues)
