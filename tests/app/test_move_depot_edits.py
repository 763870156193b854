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


def test_an_outbox_command_keeps_its_order_edits_and_is_a_supervisors_move():
    """The command replayed from the outbox still carries the order it moves (it used to
    arrive without its order edits) and the database checks it as ``move_depot``."""
    from app.sync.commands import Command

    day = generate_demo_day(7)
    order = day.orders[0]
    edits = OrderEdits(move=(replace(order, depot_id="SLC-N"),))
    command = Command(order.depot_id, day.day, {"R1": ()}, {"R1": 3}, "sam@desk", "Move",
                      orders=edits.to_json())  # fmt: skip
    stored = json.loads(json.dumps(command.to_json()))
    again = Command.from_json(command.key, stored, {"R1": 3})
    assert OrderEdits.from_json(again.orders) == edits
    assert again.name == "move_depot"
    cancel = replace(command, orders=OrderEdits(cancel=((order.id, "called"),)).to_json())
    assert Command.from_json(cancel.key, cancel.to_json(), {"R1": 3}).name == "order_edit"
