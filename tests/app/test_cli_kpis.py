"""``python main.py kpis``: the day's numbers against a hand count of its rows, per route,
from the database or a recorded day's file, kept for trends; targets and costs."""

from __future__ import annotations

import json

import pytest

from app.store import open_store
from app.store import repository_kpis as rk
from app.store.day_export import export_day
from main import main
from tests.app.test_kpis_facts import DAY, recorded  # noqa: F401  (the fixture)


@pytest.fixture
def desk(tmp_path, monkeypatch, recorded):  # noqa: F811
    """The CLI's settings point at the recorded day's database, its data in tmp_path."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DISPATCH_DEPOT_ID", "D1")
    return recorded


def _run(capsys, *args):
    code = main(["kpis", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_numbers_match_a_hand_count(desk, capsys):
    """Four stops: A on time, B late (95 > 90), C failed then delivered, D never reached."""
    code, out, err = _run(capsys, "--day", DAY.isoformat(), "--json", "--database", desk.url)
    assert code == 0, err
    doc = json.loads(out)
    k = doc["kpis"]
    assert doc["final"] is True and doc["depot"] == "D1"
    assert k["on_time_delivery_pct"] == 50.0  # A, C of 4
    assert doc["counts"] == {"routes": 2, "routed_stops": 4, "unassigned": 0, "exceptions": 2}
    assert doc["detail"]["on_time_delivery_pct"]["numerator"] == 2
    assert doc["detail"]["on_time_delivery_pct"]["denominator"] == 4
    assert k["late_stops"] == 2  # B late, D never reached
    assert k["first_attempt_success_pct"] == pytest.approx(100 * 2 / 3, abs=1e-3)  # A, B of 3
    assert k["exception_ack_median_min"] == 4.0  # E1: 40 -> 44
    assert k["exception_resolve_median_min"] == 18.0  # E1 30 min, E2 6 min
    assert k["person_commands"] == 1  # cmd-1 (cmd-old touched another day's route)
    assert k["exceptions_handled"] == 1  # E1 by ann; E2 by the rule
    assert k["eta_mae_30_min"] == 9.0  # A: 3 min, B: 15 min
    assert doc["detail"]["on_time_delivery_pct"]["target"] == 95.0
    names = set(k)
    with open("docs/kpis.md", encoding="utf-8") as f:
        documented = f.read()
    assert all(f"`{n}`" in documented or n.startswith("eta_") for n in names)


def test_by_route_splits_the_day(desk, capsys):
    code, out, _ = _run(capsys, "--day", DAY.isoformat(), "--json", "--by", "route",
                        "--database", desk.url)  # fmt: skip
    assert code == 0
    routes = json.loads(out)["by"]["route"]
    assert routes["R1"]["on_time_delivery_pct"] == 50.0  # A on time, B late
    assert routes["R2"]["on_time_delivery_pct"] == 50.0  # C on time, D never reached
    assert routes["R1"]["late_stops"] == 1 and routes["R2"]["late_stops"] == 1


def test_text_lists_every_kpi_with_its_target(desk, capsys):
    code, out, _ = _run(capsys, "--day", DAY.isoformat(), "--database", desk.url)
    assert code == 0
    assert "on_time_delivery_pct" in out and "50.0" in out and "2/4" in out
    assert "2 routes · 4 routed stops · 2 exceptions" in out
    assert "final" in out


def test_values_are_kept_for_trends(desk, capsys):
    _run(capsys, "--day", DAY.isoformat(), "--json", "--database", desk.url)
    with desk.read_session() as s:
        trend = rk.kpi_trend(s, "D1", ["late_stops"], DAY, DAY)
    assert [(t.day, t.value, t.final) for t in trend] == [(DAY, 2.0, True)]


def test_a_recorded_day_file_gives_the_same_numbers(desk, capsys, tmp_path):
    """The day exported as one file, computed from the file alone: the same stop counts."""
    path = tmp_path / "day.dday"
    with desk.read_session() as s:
        export_day(s, "D1", DAY, path, workstation="test", actor="test")
    empty = open_store(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    empty.close()
    code, out, err = _run(capsys, "--day", str(path), "--json", "--database",
                          f"sqlite:///{tmp_path / 'empty.sqlite3'}")  # fmt: skip
    assert code == 0, err
    k = json.loads(out)["kpis"]
    assert k["on_time_delivery_pct"] == 50.0 and k["late_stops"] == 2
    assert k["first_attempt_success_pct"] == pytest.approx(100 * 2 / 3, abs=1e-3)
    assert k["exceptions_handled"] == 1
    # A recorded day has no sampled ETAs: those the desk would have shown are replayed.
    assert k["eta_mae_15_min"] is not None and k["eta_mae_15_min"] >= 0


def test_a_day_nowhere_says_where_it_looked(desk, capsys):
    code, _, err = _run(capsys, "--day", "2020-01-01", "--database", desk.url)
    assert code == 1
    assert "2020-01-01" in err and "database" in err and "recorded day" in err


def test_targets_and_costs_are_set_and_used(desk, capsys):
    assert _run(capsys, "--database", desk.url, "target", "on_time_delivery_pct", "40")[0] == 0
    assert _run(capsys, "--database", desk.url, "cost", "van", "--per-km", "2")[0] == 0
    code, out, _ = _run(capsys, "--day", DAY.isoformat(), "--json", "--database", desk.url)
    assert json.loads(out)["detail"]["on_time_delivery_pct"]["target"] == 40.0
    code, _, err = _run(capsys, "--database", desk.url, "target", "no_such_kpi", "1")
    assert code == 2 and "no_such_kpi" in err


def test_by_depot_computes_each_depot_with_a_plan(desk, capsys):
    code, out, err = _run(capsys, "--day", DAY.isoformat(), "--json", "--by", "depot",
                          "--database", desk.url)  # fmt: skip
    assert code == 0, err
    depots = json.loads(out)["by"]["depot"]
    assert list(depots) == ["D1"] and depots["D1"]["on_time_delivery_pct"] == 50.0


def test_at_gives_the_kpis_as_they_stood_then(desk, capsys):
    """At 08:40 in Denver (minute 40) A is delivered, B's window (to 09:30) is still open,
    D's too: nothing is late yet and the day is not final; an ISO time says the same."""
    for at in ("08:40", "2026-11-24T15:40:00+00:00", "2026-11-24T08:40"):
        code, out, err = _run(capsys, "--day", DAY.isoformat(), "--json", "--at", at,
                              "--no-save", "--database", desk.url)  # fmt: skip
        assert code == 0, err
        doc = json.loads(out)
        assert doc["final"] is False and doc["as_of"] == "2026-11-24T15:40:00+00:00"
        assert doc["kpis"]["late_stops"] == 0


def test_at_that_is_not_a_time_says_what_it_expects(desk, capsys):
    code, _, err = _run(capsys, "--day", DAY.isoformat(), "--at", "noon", "--database", desk.url)
    assert code == 2
    assert "--at 'noon'" in err and "HH:MM" in err
