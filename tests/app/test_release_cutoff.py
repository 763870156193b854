"""Cut-offs at the desk: an urgent order taken after its wave's cut-off is in the next
wave; inserted into a route of the earlier wave that is not released yet, that route's
gate turns red on the cut-off, naming the order and how to fix it."""

from __future__ import annotations

from app.dispatch.orders import OrderDesk
from app.dispatch.service import DispatchService
from app.store import repository
from tests.app.test_release_support import (
    TRAVEL,
    at,
    desk_on,
    release_day,
    seed_release_day,
    sqlite_store,
)


def test_an_order_after_the_cutoff_goes_to_the_next_wave_and_the_gate_says_so(tmp_path):
    """Taken at 07:00 (W1's cut-off was 06:00): stored as received then, in W2; put on a W1
    route not yet released, that route's cut-off check is red and names the order."""
    store = sqlite_store(tmp_path)
    try:
        day, plan = seed_release_day(store, release_day())
        service = DispatchService(store, TRAVEL, actor="sam@desk-1", role="supervisor")
        desk = OrderDesk(service, TRAVEL)
        plan = service.load_plan("D1", day.day)
        values = {"id": "U-LATE", "customer": "Late Bakery", "address": "1 Late St",
                  "lat": "40.755", "lon": "-111.89",
                  "window_start": "09:00", "window_end": "17:00", "demand_kg": "5",
                  "service_minutes": "5", "priority": "1"}  # fmt: skip
        order, problems = desk.check(values, day)
        assert order is not None, problems
        options = desk.insertion_options(plan, day, order, at(7))
        w1 = {r.id for r in plan.routes if r.wave == "W1" and r.stops}
        option = next(o for o in options if o.route_id in w1)
        result = desk.insert(plan, day, order, option, at(7))
        with store.read_session() as s:
            stored = {o.id: o for o in repository.load_day(s, "D1", day.day).orders}["U-LATE"]
        assert stored.received_at == at(7) and stored.wave == "W2"
        gate = desk_on(store).gate(now=at(7, 5))
        g = gate.routes[option.route_id]
        cutoff = g.check("cutoff")
        assert not cutoff.ok and "U-LATE" in cutoff.what and "W2" in cutoff.fix
        assert not g.go and result.plan.route_of("U-LATE").id == option.route_id
    finally:
        store.close()
