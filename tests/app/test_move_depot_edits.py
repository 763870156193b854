"""An order moved to another depot travels through the outbox like any order edit: the
edit reads back as written, and the order leaves this depot's day."""

from __future__ import annotations

import json
from dataclasses import replace

from app.dispatch.store import OrderEdits
from app.simulator.demo_day import generate_demo_day


def test_a_move_reads_back_from_the_outbox_as_written():
    day = generate_demo_day(7)
    order = day.orders[0]
    edits = OrderEdits(move=(replace(order, depot_id="SLC-N"),))
    again = OrderEdits.from_json(json.loads(json.dumps(edits.to_json())))
    assert again == edits
    assert again.leaving == {order.id}
    assert order.id not in {o.id for o in again.day_orders(day.orders)}
