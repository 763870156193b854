"""The application context: settings, store, day state and jobs, built once at start.

It loads the depot's day from the store, seeds the demo day on first start when the
database is empty, and plans the day in the background when no plan is stored yet.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, Signal

from app.day_state import DayState
from app.jobs import JobRunner
from app.settings import Settings

log = logging.getLogger(__name__)


class AppContext(QObject):
    """Everything the window needs, with no widgets in it."""

    sig_status = Signal(str)
    sig_route_geometry = Signal(object)  # {route_id: N x 2 lat/lon along the streets}

    def __init__(
        self, settings: Settings, *, headless: bool = False, parent: QObject | None = None
    ):
        super().__init__(parent)
        from app.store import open_store

        self.settings = settings
        self.headless = headless
        self.store = open_store(
            settings.effective_database_url, workstation=settings.workstation_id
        )
        self.state = DayState(self)
        self.jobs = JobRunner(self)
        self.jobs.sig_job_done.connect(self._on_job_done)
        self.jobs.sig_job_progress.connect(self._on_job_progress)
        self.depot_id: str = ""
        self.day: date | None = None
        self.tiles = self._open_tiles()
        self.state.sig_changed.connect(self._on_state_changed)

    def _open_tiles(self):
        """Map tiles: from the configured tile server, else drawn from the street network."""
        from app.settings import user_data_dir
        from app.tiles import open_tile_service
        from engine.roads import DEMO_CITY_NETWORK, StreetNetwork

        network = StreetNetwork.load(DEMO_CITY_NETWORK) if DEMO_CITY_NETWORK.exists() else None
        return open_tile_service(user_data_dir(), self.settings.tile_url, network)

    # -- start ---------------------------------------------------------------------------
    def start(self) -> None:
        """Load (or seed) the day, and plan it in the background when no plan is stored."""
        from app.store import repository

        with self.store.session() as session:
            depots = repository.list_depots(session)
            if not depots and self.settings.demo:
                self._seed_demo(session)
                depots = repository.list_depots(session)
        if not depots:
            self.sig_status.emit("No depot yet: import one with `python main.py import FOLDER`")
            return
        depot = next((d for d in depots if d.id == self.settings.depot_id), depots[0])
        self.depot_id = depot.id
        self.day = datetime.now(ZoneInfo(depot.timezone)).date()
        with self.store.session() as session:
            day = repository.load_day(session, depot.id, self.day)
            if not day.orders and self._is_demo_depot(depot.id):
                # The demo depot gets a fresh demo day each day it is opened on.
                self._seed_demo(session)
                day = repository.load_day(session, depot.id, self.day)
            plan = repository.load_plan(session, depot.id, self.day)
        self.state.set_day(day, depot.id, plan, source="start")
        if plan is None and day.orders:
            self.plan_day(time_limit_s=self.settings.first_plan_seconds)

    def _is_demo_depot(self, depot_id: str) -> bool:
        from app.demo import DEPOT_ID

        return self.settings.demo and depot_id == DEPOT_ID

    def _seed_demo(self, session) -> None:
        from app.demo import generate_demo_day
        from app.store import repository

        demo = generate_demo_day(self.settings.demo_seed)
        actor = f"{self.settings.user}@{self.settings.workstation_id}"
        repository.upsert_depots(session, demo.depots, actor=actor)
        repository.upsert_vehicles(session, demo.vehicles, actor=actor)
        repository.upsert_drivers(session, demo.drivers, actor=actor)
        repository.upsert_orders(session, demo.orders, actor=actor)
        log.info(
            "seeded the demo day: %d orders, %d vehicles", len(demo.orders), len(demo.vehicles)
        )
        self.sig_status.emit(f"Loaded the demo day: {len(demo.orders)} orders")

    # -- commands -----------------------------------------------------------------------
    def plan_day(self, time_limit_s: float = 30.0) -> None:
        """Plan every order of the day in the background (cancellable, superseding)."""
        index = self.state.index
        if index is None:
            return
        day, depot_id = index.day, index.depot.id

        def job(cancel_event, report):
            from engine import planning

            travel = self.travel_model()  # loading the street network takes a moment: not here
            return planning.plan(
                day,
                travel,
                depot_id=depot_id,
                time_limit_s=time_limit_s,
                stop_event=cancel_event,
            )

        self.sig_status.emit(f"Planning {len(index.orders)} orders…")
        self.jobs.submit("plan", job)

    def travel_model(self):
        """The street network where the depot's city ships one, else haversine."""
        from app.roads import travel_model_for

        index = self.state.index
        return travel_model_for(index.depot if index else None)

    def _on_state_changed(self, changes) -> None:
        if self.state.plan is not None and (changes.everything or changes.routes):
            self._trace_routes(None if changes.everything else changes.routes)

    def _trace_routes(self, route_ids) -> None:
        """Follow each route along the streets for the map, in the background."""
        index, plan = self.state.index, self.state.plan
        if index is None or plan is None:
            return
        legs = {
            r.id: [index.depot.location]
            + [index.orders[s.order_id].location for s in r.stops if s.order_id in index.orders]
            + [index.depot.location]
            for r in plan.routes
            if r.stops and (route_ids is None or r.id in route_ids)
        }

        def job(cancel_event, report):
            travel = self.travel_model()
            if not hasattr(travel, "route_polyline"):
                return {rid: [(p.lat, p.lon) for p in pts] for rid, pts in legs.items()}
            out = {}
            for rid, points in legs.items():
                if cancel_event.is_set():
                    return None
                out[rid] = travel.route_polyline(points)
            return out

        self.jobs.submit("geometry", job)

    def _on_job_done(self, kind: str, result: object) -> None:
        if kind == "geometry" and result is not None:
            self.sig_route_geometry.emit(result)
            return
        if kind != "plan" or result is None:
            return
        from app.store import repository

        actor = f"{self.settings.user}@{self.settings.workstation_id}"
        with self.store.session() as session:
            repository.save_plan(session, result, actor=actor)
        with self.store.read_session() as session:
            plan = repository.load_plan(session, result.depot_id, result.day)
        self.state.set_plan(plan or result)
        unassigned = len(result.unassigned)
        self.sig_status.emit(
            f"Planned {sum(len(r.stops) for r in result.routes)} stops on "
            f"{sum(1 for r in result.routes if r.stops)} routes"
            + (f", {unassigned} unassigned" if unassigned else "")
        )

    def _on_job_progress(self, kind: str, payload: object) -> None:
        self.sig_status.emit(f"{kind}: {payload}")

    # -- status ---------------------------------------------------------------------------
    def database_label(self) -> str:
        url = self.settings.effective_database_url
        kind = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
        return f"{kind} online"

    def shutdown(self) -> None:
        for kind in ("plan", "geometry"):
            self.jobs.cancel(kind)
        self.jobs.wait(5000)
        self.tiles.shutdown()
        self.store.close()
