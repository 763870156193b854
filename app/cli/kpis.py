"""``python main.py kpis``: a day's KPIs by the names of ``docs/kpis.md``; targets and costs.

kpis --day D [--depot X] [--by route|driver|vehicle|wave|depot] [--at T] [--json] [--database URL]
kpis target NAME VALUE [--depot X]              # a depot's own target for a KPI
kpis cost TYPE --per-km X --per-hour Y [--fixed Z] [--depot X]
kpis learn [--days N] [--depot X]               # service times and travel factors from history

The day comes from the desk's database when it holds the day's plan, else from the library
of recorded days (``main.py demo --record``, ``main.py day import``) or a ``.dday`` file.
Each computation is kept (``kpi_value``) for the trends of the KPI pane and the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

BY = ("route", "driver", "vehicle", "wave", "depot")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--day", metavar="YYYY-MM-DD|FILE",
                        help="the day (default: today); a .dday file is read as recorded")  # fmt: skip
    parser.add_argument("--depot", help="the depot (default: the desk's, else the only one)")
    parser.add_argument("--by", choices=BY, help="also each route, driver, vehicle, wave or depot")
    parser.add_argument("--json", action="store_true", help="print JSON (names as docs/kpis.md)")
    parser.add_argument("--at", metavar="HH:MM|TIME",
                        help="the KPIs as they stood at this moment: a clock time on the day "
                        "(the depot's), or an ISO time such as 2026-12-07T19:04:54+00:00 "
                        "(default: now; a recorded day: its end)")  # fmt: skip
    parser.add_argument("--database", help="SQLAlchemy URL (default: the desk's database)")
    parser.add_argument("--no-save", action="store_true",
                        help="do not keep the values for trends")  # fmt: skip
    sub = parser.add_subparsers(dest="kpis_command", metavar="ACTION")
    tgt = sub.add_parser("target", help="set a depot's own target for a KPI")
    tgt.add_argument("name", help="a KPI name of docs/kpis.md, e.g. on_time_delivery_pct")
    tgt.add_argument("value", type=float)
    tgt.add_argument("--depot", dest="setting_depot", help="the depot (default: every depot)")
    cost = sub.add_parser("cost", help="costs by vehicle type for cost per delivered stop")
    cost.add_argument("type", help="the vehicle type, e.g. van")
    cost.add_argument("--per-km", type=float)
    cost.add_argument("--per-hour", type=float)
    cost.add_argument("--fixed", type=float, help="fixed cost per route")
    cost.add_argument("--depot", dest="setting_depot", help="the depot (default: every depot)")
    learn = sub.add_parser("learn", help="learn service times and travel factors from the "
                           "database's recorded days (used by the planner and live ETAs)")  # fmt: skip
    learn.add_argument("--days", type=int, default=60, help="days of history (default 60)")
    learn.add_argument("--depot", dest="setting_depot", help="the depot (default: the desk's)")


def _settings_store(args: argparse.Namespace):
    from app.settings import Settings
    from app.store import open_store

    settings = Settings.from_env()
    url = args.database or settings.effective_database_url
    return settings, open_store(url, workstation=settings.workstation_id)


def run(args: argparse.Namespace) -> int:
    try:
        settings, store = _settings_store(args)
    except Exception as exc:
        print(f"kpis: cannot open the database: {exc}", file=sys.stderr)
        return 2
    try:
        actor = f"{settings.user}@{settings.workstation_id}"
        if args.kpis_command in ("target", "cost"):  # a supervisor's; on PostgreSQL checked there
            from app.cli.who import identity, supervisor_only

            who = identity(settings, str(store.url))
            if not supervisor_only(who, f"kpis {args.kpis_command}"):
                return 1
            actor = f"{who.user}@{settings.workstation_id}"
        if args.kpis_command == "target":
            from app.kpis.service import set_target

            set_target(store, args.setting_depot or "", args.name, args.value, actor=actor)
            print(f"Target of {args.name}: {args.value:g} "
                  f"({'depot ' + args.setting_depot if args.setting_depot else 'every depot'})")  # fmt: skip
            return 0
        if args.kpis_command == "cost":
            from app.kpis.service import set_cost

            costs = {k: v for k, v in (("per_km", args.per_km), ("per_hour", args.per_hour),
                                       ("fixed", args.fixed)) if v is not None}  # fmt: skip
            if not costs:
                print("kpis cost: give --per-km, --per-hour and/or --fixed", file=sys.stderr)
                return 2
            set_cost(store, args.setting_depot or "", args.type, costs, actor=actor)
            print(f"Costs of {args.type}: " + ", ".join(f"{k} {v:g}" for k, v in costs.items()))
            return 0
        if args.kpis_command == "learn":
            return _learn(args, settings, store, actor)
        return _show(args, settings, store)
    except ValueError as exc:
        print(f"kpis: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _show(args: argparse.Namespace, settings: Any, store: Any) -> int:
    from datetime import date

    from app.kpis.service import compute_day, depots_with_plan, open_day

    day_text = args.day or date.today().isoformat()
    days = []
    try:
        if args.by == "depot" and not day_text.endswith(".dday"):
            wanted = date.fromisoformat(day_text)
            depots = [args.depot] if args.depot else depots_with_plan(store, wanted)
            if not depots:
                raise LookupError(f"{wanted}: no depot has a plan of that day in the database")
            days = [open_day(store, day_text, d, settings.depot_id) for d in depots]
        else:
            days = [open_day(store, day_text, args.depot, settings.depot_id)]
    except (LookupError, ValueError, OSError) as exc:
        print(f"kpis: {exc}", file=sys.stderr)
        return 1
    results = []
    try:
        for d in days:
            as_of, final = d.as_of, d.final
            if args.at:
                try:
                    as_of, final = _moment(args.at, d), None
                except ValueError as exc:
                    print(f"kpis: --at {args.at!r}: {exc}", file=sys.stderr)
                    return 2
            result = compute_day(d.store, d.depot_id, d.day, save=not args.no_save,
                                 source=d.source, as_of=as_of, final=final)  # fmt: skip
            if d.store is not store and not args.no_save:
                _keep(store, result)
            results.append(result)
    finally:
        for d in days:
            d.close()
    if args.json:
        print(json.dumps(_json(results, args.by), indent=2))
    else:
        _print(results, args.by)
    return 0


def _moment(text: str, day: Any) -> Any:
    """``--at``: a clock time on the day in the depot's time zone, or an ISO time (without
    an offset: the depot's clock)."""
    from datetime import UTC, datetime, time
    from zoneinfo import ZoneInfo

    from app.store import repository

    with day.store.read_session() as s:
        zone = ZoneInfo(repository.load_depot(s, day.depot_id).timezone)
    try:
        moment = datetime.combine(day.day, time.fromisoformat(text))
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("expected a clock time (HH:MM) or an ISO time "
                             "(YYYY-MM-DDTHH:MM[:SS][+HH:MM])") from None  # fmt: skip
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)


def _keep(store: Any, result: Any) -> None:
    """A recorded day's values kept in the desk's database too (for its trends)."""
    from app.kpis.service import keep_values

    if not keep_values(store, result):
        print("kpis: the values were not kept for trends (see the log)", file=sys.stderr)


def _entry(result: Any, v: Any) -> dict[str, Any]:
    from engine.kpis import BY_NAME

    d = BY_NAME[v.name]
    return {"value": None if v.value is None else round(v.value, 4),
            "numerator": round(v.numerator, 4), "denominator": round(v.denominator, 4),
            "unit": v.unit, "target": result.target(v.name), "better": d.better}  # fmt: skip


def _counts(facts: Any) -> dict[str, int]:
    """What the stop KPIs count: the routed stops and the orders on no route (never
    reached), on the routes that carry stops."""
    from app.kpis.tables import day_counts

    c = day_counts(facts)
    return {"routes": c.routes, "routed_stops": c.routed, "unassigned": c.unassigned,
            "exceptions": len(facts.exceptions)}  # fmt: skip


def _json(results: list[Any], by: str | None) -> dict[str, Any]:
    first = results[0]
    out: dict[str, Any] = {
        "depot": first.depot_id,
        "day": first.day.isoformat(),
        "final": first.final,
        "as_of": first.data.facts.as_of.isoformat(),
        "source": first.source,
        "counts": _counts(first.report.facts),
        "kpis": {name: None if v.value is None else round(v.value, 4)
                 for name, v in first.report.day_values().items()},
        "detail": {name: _entry(first, v) for name, v in first.report.day_values().items()},
        "seconds": {"read": round(first.read_s, 3), "compute": round(first.compute_s, 3)},
    }  # fmt: skip
    if by == "depot":
        out["by"] = {"depot": {r.depot_id: {n: None if v.value is None else round(v.value, 4)
                                            for n, v in r.report.day_values().items()}
                               for r in results}}  # fmt: skip
    elif by:
        rows: dict[str, dict[str, float | None]] = {}
        for v in first.report.values:
            if v.scope == by:
                rows.setdefault(v.key, {})[v.name] = None if v.value is None else round(v.value, 4)
        out["by"] = {by: rows}
    return out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("stops", "commands", "exceptions"):
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 or unit == "%" else f"{value:.2f}"


def _print(results: list[Any], by: str | None) -> None:
    from app.kpis.tables import counts_text
    from engine.kpis import DEFINITIONS

    for r in results:
        state = "final" if r.final else f"live as of {r.data.facts.as_of:%H:%M} UTC"
        print(f"KPIs of {r.depot_id} on {r.day} ({state}; from {r.source})")
        print(counts_text(r.report.facts))
        print(f"{'name':34} {'value':>10} {'unit':12} {'target':>8}  {'of':>14}  met")
        day = r.report.day_values()
        for d in DEFINITIONS:
            v = day[d.name]
            target = r.target(d.name)
            met = ""
            if target is not None and v.value is not None:
                ok = v.value >= target if d.better == "higher" else v.value <= target
                met = "yes" if ok else "NO"
            of = f"{v.numerator:g}/{v.denominator:g}" if v.unit in ("%",) else ""
            print(f"{d.name:34} {_fmt(v.value, v.unit):>10} {v.unit:12} "
                  f"{'' if target is None else f'{target:g}':>8}  {of:>14}  {met}")  # fmt: skip
        print(f"(read {r.read_s:.2f} s, computed {r.compute_s:.2f} s)")
    if by and by != "depot":
        r = results[0]
        shown = ("on_time_delivery_pct", "late_stops", "first_attempt_success_pct",
                 "route_time_vs_plan_pct", "distance_driven_km", "idle_pct",
                 "person_commands")  # fmt: skip
        print()
        print(f"{by:16}" + "".join(f"{n[:16]:>17}" for n in shown))
        for key in r.report.keys(by):
            cells = [r.report.value(n, by, key) for n in shown]
            print(f"{key[:16]:16}" + "".join(
                f"{_fmt(c.value if c else None, c.unit if c else ''):>17}" for c in cells))  # fmt: skip


def _learn(args: argparse.Namespace, settings: Any, store: Any, actor: str) -> int:
    from app.kpis.learn import learn_from_store

    depot = args.setting_depot or settings.depot_id
    try:
        summary = learn_from_store(store, depot, days=args.days, actor=actor)
    except LookupError as exc:
        print(f"kpis learn: {exc}", file=sys.stderr)
        return 1
    print(summary)
    return 0
