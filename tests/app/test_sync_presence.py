"""Presence: who is editing which route shows on the other desks, and goes away."""

from __future__ import annotations

import pytest

from app.store import open_store
from app.sync.presence import Presence
from bench.drills.faults import wait_for

pytestmark = pytest.mark.postgres


def test_other_desk_sees_who_edits_a_route(postgres_url: str) -> None:
    """Ann opens route R2 for editing: Bob's desk shows her on R2, then not when she stops."""
    store = open_store(postgres_url)
    ann = Presence(store, workstation="desk-a", user="ann", heartbeat_s=0.5).start()
    bob = Presence(store, workstation="desk-b", user="bob", heartbeat_s=0.5).start()
    try:
        ann.editing("R2")
        wait_for(lambda: "R2" in bob.editors(), 30, "bob to see ann on R2")
        assert [e.user for e in bob.editors()["R2"]] == ["ann"]
        ann.editing(None)
        wait_for(lambda: bob.editors() == {}, 30, "ann to leave R2")
        ann.editing("R5")
        wait_for(lambda: "R5" in bob.editors(), 30, "bob to see ann on R5")
        ann._stop.set()  # ann's desk goes silent without a goodbye
        ann._thread.join(10)
        wait_for(lambda: bob.editors() == {}, 30, "ann's silent entry to expire")
    finally:
        bob.stop()
        ann.stop()
        store.close()


def test_both_routes_of_a_drag_show_who_holds_them(postgres_url: str) -> None:
    """Ann drags a stop from R1 over R4: Bob's desk shows her on both routes."""
    store = open_store(postgres_url)
    ann = Presence(store, workstation="desk-a", user="ann", heartbeat_s=0.5).start()
    bob = Presence(store, workstation="desk-b", user="bob", heartbeat_s=0.5).start()
    try:
        ann.editing(("R1", "R4"))
        wait_for(lambda: {"R1", "R4"} <= set(bob.editors()), 30, "bob to see ann on R1, R4")
        assert [e.user for e in bob.editors()["R4"]] == ["ann"]
        ann.editing(None)
        wait_for(lambda: bob.editors() == {}, 30, "ann to leave both")
    finally:
        bob.stop()
        ann.stop()
        store.close()
