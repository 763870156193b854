"""Which depot the first-start chooser preselects: the one a desk most likely runs."""

from __future__ import annotations

from app.day.opening import likely_depot, open_depot_day
from app.settings import Settings
from app.store import open_store
from app.store import repository as repo
from app.store.repository_plan import save_plan
from engine.model import Plan, Route, Stop


def test_the_chooser_preselects_the_planned_depot_else_the_demo_not_the_first(tmp_path) -> None:
    """On a seeded demo database the demo's depot (SLC-W) is preselected, not the first
    by name (SLC-N); once another depot's today is planned, that depot is."""
    settings = Settings.from_env(demo=True, database_url="", depot_id="")
    store = open_store(f"sqlite:///{tmp_path / 'desk.sqlite3'}", workstation="t")
    try:
        opened = open_depot_day(store, settings, may_seed=True, actor="t")
        assert opened is not None and opened.depot.id == "SLC-W"
        with store.read_session() as s:
            assert [d.id for d in repo.list_depots(s)][0] == "SLC-N"
        assert likely_depot(store, settings) == "SLC-W"
        with store.read_session() as s:
            south = repo.load_day(s, "SLC-S", opened.day.day)
        assert south.orders and south.vehicles
        plan = Plan("P-S", "SLC-S", south.day,
                    (Route("R-S1", south.vehicles[0].id, (Stop(south.orders[0].id),)),))  # fmt: skip
        with store.session() as s:
            save_plan(s, plan, actor="t")
        assert likely_depot(store, settings) == "SLC-S"
    finally:
        store.close()
