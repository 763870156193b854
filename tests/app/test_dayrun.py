"""A whole twin day headless: figures, the recorded file, and dry runs with and without
rules on it (repeatable: one seed, one day)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from app.rules.dayrun import DayRun
from app.rules.dryrun import DaySource, default_rules, dry_run, load_rule_file, report_text
from app.simulator import TroubleSpec, sweep_plan, synthetic_day
from app.store.dayfile import DayFile, DayFileWriter
from engine.automation import Mode
from engine.travel import HaversineTravelModel

DAY = date(2026, 12, 7)
TRAVEL = HaversineTravelModel(speed_kmh=30.0)
TROUBLE = TroubleSpec.parse("breakdown=1,delay=0,silent=1,detour=0,late_orders=2")


@pytest.fixture(scope="module")
def day_and_plan():
    """Eight vans with ten stops each, a breakdown, a silent tracker, two late orders."""
    day = synthetic_day(8, seed=4, day=DAY, stops_per_vehicle=10)
    return day, sweep_plan(day, travel=None)


@pytest.fixture(scope="module")
def recorded(day_and_plan, tmp_path_factory):
    """The day recorded with the shipped rules watching in shadow mode."""
    day, plan = day_and_plan
    path = tmp_path_factory.mktemp("days") / "sim.dday"
    w = DayFileWriter(path, {"depot_id": "SIM", "day": DAY.isoformat(), "timezone": "UTC",
                             "source": "twin"})  # fmt: skip
    run = DayRun(day, plan, seed=4, rules=default_rules(), trouble=TROUBLE, travel=TRAVEL,
                 recorder=w, honour_modes=True, streets=False, iterations=50)  # fmt: skip
    result = run.run()
    w.close()
    return path, result


def test_the_recorded_day_holds_what_happened(recorded):
    """Fixes, events, exceptions with their times, the plan, the rules and their shadow
    firings, and the twin's seed and trouble are in the file."""
    path, result = recorded
    with DayFile(path) as f:
        counts = f.summary().counts
        assert counts["fixes"] > 1000 and counts["events"] > 100
        assert counts["exceptions"] == result.exceptions > 0
        assert counts["plan_versions"] == 1  # shadow rules change nothing
        assert counts["rules"] == len(default_rules())
        assert counts["orders_known"] == 2
        modes = {m for (m,) in f.query("SELECT DISTINCT mode FROM rule_firings")}
        assert modes == {"shadow"} and counts["rule_firings"] == result.firings > 0
        assert f.meta_json("twin")["seed"] == 4
        kinds = {k for (k,) in f.query("SELECT DISTINCT type FROM events")}
        assert {"arrived", "delivered", "breakdown"} <= kinds


def test_a_dry_run_re_runs_the_day_and_the_rules_do_better(recorded):
    """Without rules the re-run is the recorded day again; with the shipped rules acting
    the broken-down van's stops and the late orders are served."""
    path, result = recorded
    source = DaySource.from_file(path)
    assert not source.derived and source.seed == 4
    report = dry_run(source, [("default", default_rules())], travel=TRAVEL, iterations=50)
    assert report["late_stops_without"] == result.late_stops
    assert report["person_actions_without"] == result.person_actions
    with_ = report["sets"][0]
    assert report["firings"] > 0 and report["stops_moved"] > 0
    assert with_["unserved"] < report["without"]["unserved"]
    assert report["late_minutes_with"] < report["late_minutes_without"]
    assert report["person_actions_with"] < report["person_actions_without"]
    text = report_text(report)
    assert "without rules" in text and "with default" in text


def test_rule_files_are_checked_and_the_shipped_set_is_in_shadow_mode(tmp_path):
    """The shipped rules are valid and start in shadow mode; a bad file says which rule."""
    rules = default_rules()
    assert rules and all(r.enabled and r.mode is Mode.SHADOW for r in rules)
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": [{"id": "x", "when": {"trigger": "never"}}]}')
    with pytest.raises(ValueError, match="rule x: when.trigger"):
        load_rule_file(bad)


def test_the_dry_run_command_prints_the_issues_json_keys(recorded, capsys):
    """``main.py rules dry-run --day FILE --json``: the figures with and without rules."""
    import json

    from main import main

    path, _ = recorded
    assert main(["rules", "dry-run", "--day", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("firings", "stops_moved", "late_stops_with", "late_stops_without",
                "late_minutes_with", "late_minutes_without", "person_actions_with",
                "person_actions_without"):  # fmt: skip
        assert isinstance(report[key], (int, float)), key
    assert main(["rules", "dry-run", "--day", "1999-01-01"]) == 2
    assert "no recorded day 1999-01-01" in capsys.readouterr().err


def test_per_route_legs_give_the_same_day_as_the_whole_matrix(day_and_plan, monkeypatch):
    """A day too big for one travel matrix keeps each route's legs instead (memory bounded
    at 2,000 vans); with the shipped rules acting — stops moved between routes — the day
    comes out the same as with the whole matrix."""
    import app.telemetry.session as session

    day, plan = day_and_plan

    def run() -> dict:
        out = DayRun(day, plan, seed=4, rules=default_rules(), trouble=TROUBLE, travel=TRAVEL,
                     streets=False, iterations=50).run().to_json()  # fmt: skip
        out.pop("wall_s")
        return out

    whole = run()
    monkeypatch.setattr(session, "MATRIX_MAX_POINTS", 0)
    legs = run()
    assert legs == whole and whole["stops_moved"] > 0
    points = [day.depots[0].location, *(o.location for o in day.orders)]
    groups = session.route_point_groups(day.depots[0].location, plan,
                                        {o.id: o for o in day.orders})  # fmt: skip
    per_leg = session.eta_travel_times(TRAVEL, points, groups)
    matrix = session.eta_travel_times(TRAVEL, points, groups, max_points=10**6)
    assert type(per_leg).__name__ == "LegTravelTimes"
    for a in points[:30]:
        for b in points[-30:]:
            assert per_leg.seconds(a, b) == pytest.approx(matrix.seconds(a, b), rel=1e-9)


def test_a_recorded_days_replayed_etas_from_route_legs_equal_the_whole_matrix(
    day_and_plan, recorded, monkeypatch
):
    """The ETAs a recorded day's report replays (what the desk would have shown) come out
    the same when the travel times are each route's legs (as for a big day, and as the
    live desk keeps them) as from one matrix over all the day's points."""
    import app.telemetry.session as session
    import app.travel.choose as choose
    from app.kpis.recorded import replayed_etas

    day, plan = day_and_plan
    path, _ = recorded
    monkeypatch.setattr(choose, "travel_model_for", lambda depot: TRAVEL)
    asked: list[bool] = []  # whether each call kept route legs (else one matrix)
    real = session.eta_travel_times

    def counting(travel, points, groups=None, **kw):
        out = real(travel, points, groups, **kw)
        asked.append(type(out).__name__ == "LegTravelTimes")
        return out

    monkeypatch.setattr(session, "eta_travel_times", counting)
    with DayFile(path) as f:
        whole = replayed_etas(f, day, plan)
        monkeypatch.setattr(session, "MATRIX_MAX_POINTS", 0)
        legs = replayed_etas(f, day, plan)
    assert asked == [False, True] and len(whole) > 100
    assert [(e.order_id, e.predicted_at) for e in legs] == [
        (e.order_id, e.predicted_at) for e in whole
    ]
    for a, b in zip(legs, whole, strict=True):
        assert abs((a.eta - b.eta).total_seconds()) < 1e-6, (a, b)


def test_live_eta_travel_waits_for_the_plan_and_keeps_route_legs(day_and_plan, monkeypatch):
    """The live ETAs' travel times are not built while the day has no plan (a new big day
    would first build one matrix over all its points); with the plan, a big day keeps its
    routes' legs, each with the seconds the whole matrix gives."""
    from types import SimpleNamespace

    import app.telemetry.session as session
    from app.day.state import DayIndex
    from app.jobs.day import DayJobs

    day, plan = day_and_plan
    submitted: list = []
    jobs = SimpleNamespace(state=SimpleNamespace(index=DayIndex.build(day, "SIM"), plan=None),
                           learned=None, recorded=False, travel_model=lambda: TRAVEL,
                           _submit=lambda kind, job: submitted.append(job))  # fmt: skip
    DayJobs.build_eta_travel(jobs)
    assert submitted == []
    jobs.state.plan = plan
    monkeypatch.setattr(session, "MATRIX_MAX_POINTS", 0)  # every day counts as big
    DayJobs.build_eta_travel(jobs)
    travel = submitted[0](None, None).travel
    assert type(travel).__name__ == "LegTravelTimes"
    route = plan.routes[0]
    orders = {o.id: o for o in day.orders}
    points = [day.depots[0].location, *(orders[o].location for o in route.order_ids)]
    whole = TRAVEL.matrices(points).duration_s
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            assert travel.seconds(a, b) == pytest.approx(float(whole[i, j]), rel=1e-9)


def test_replay_jumps_from_keyframes_show_the_same_stops_as_from_the_start(recorded, monkeypatch):
    """Any moment of a recorded day shows each stop as replaying every event from the
    start would, whether it is reached from a keyframe or not, forwards or backwards."""
    import app.recorder.replay as replay_mod

    path, _ = recorded
    monkeypatch.setattr(replay_mod, "KEYFRAME_EVENTS", 10**9)
    whole = replay_mod.DayReplay.open(path)
    monkeypatch.setattr(replay_mod, "KEYFRAME_EVENTS", 37)
    framed = replay_mod.DayReplay.open(path)
    assert len(framed._keyframes) > 5
    span = whole.end - whole.start
    moments = [whole.start + span * k / 23 for k in range(24)]
    for t in [*moments, *reversed(moments)]:
        expected = whole.stops_at(t)
        assert framed.stops_at(t) == expected
        shown = framed.exceptions_at(t)
        assert shown == [whole._exception_at(e, t) for e in whole.exceptions
                         if e["detected_at"] <= t]  # fmt: skip
        positions = framed.positions_at(t)
        for vid, tr in whole.tracks.items():
            k = int(np.searchsorted(tr.ts, t, side="right")) - 1
            assert (positions[vid].ts == tr.ts[k]) if k >= 0 else vid not in positions
    assert any(e.acknowledged_at or e.resolved_at for e in framed.exceptions_at(whole.end))
    assert any(s.status.name == "DELIVERED" for s in whole.stops_at(whole.end).values())


def test_replay_exceptions_at_the_very_moments_they_change(recorded):
    """The exceptions a recorded day shows at the instant one is raised, updated,
    acknowledged or resolved, and just before, are as worked out from the recording from
    scratch (each stretch between changes is built when the day is opened)."""
    from app.recorder.replay import DayReplay

    path, _ = recorded
    replay = DayReplay.open(path)
    moments = set()
    for e in replay.exceptions:
        times = [e["detected_at"], *(at for at, *_ in replay.updates.get(e["id"], ()))]
        times += [e[k] for k in ("acknowledged_at", "resolved_at") if e[k]]
        moments.update(float(t) + d for t in times for d in (-0.5, 0.0))
    assert any(replay.updates.values()) and len(moments) > 10
    for t in sorted(moments):
        for after in (None, t - 600):
            raised = [e for e in replay.exceptions if e["detected_at"] <= t]
            expected = [
                replay._exception_at(e, t) for e in raised
                if after is None or not (e["resolved_at"] and e["resolved_at"] < after)
            ]  # fmt: skip
            assert replay.exceptions_at(t, resolved_after=after) == expected, t
