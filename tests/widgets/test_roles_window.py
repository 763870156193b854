"""A desk on the shared PostgreSQL as its person's own database user: the window says who
and as what (as the database says), and what a dispatcher does reaches the database as
that user, checked there."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.store import open_store, repository
from app.store.roles import add_user
from tests.app.test_sync_session import (  # noqa: F401 (fixtures)
    DEPOT,
    WAIT_MS,
    server,
    shared_url,
)
from tests.widgets.test_sync_window import open_window

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt, pytest.mark.slow]


def _as(url: str, name: str, password: str) -> str:
    return make_url(url).set(username=name, password=password).render_as_string(False)


def test_a_dispatchers_desk_works_as_its_database_user(
    qtbot,
    tmp_path,
    monkeypatch,
    shared_url,  # noqa: F811
    mqtt_url,
) -> None:
    """Dana connects as her own dispatcher login: the status bar says ``dana_… · dispatcher``
    (checked by the database), Plan the day and Import are greyed; a lock she makes is
    replayed to the shared database under her name, recorded there as a ``set_locks``
    command run by her database user."""
    admin = open_store(shared_url)
    dana = f"dana_{uuid.uuid4().hex[:6]}"
    add_user(admin.engine, dana, "dispatcher", "dana-pw")
    window = open_window(
        qtbot, tmp_path, monkeypatch, _as(shared_url, dana, "dana-pw"), mqtt_url, "desk-dana"
    )
    try:
        context = window.context
        assert window._user_label.text() == f"{dana} · dispatcher"
        assert "checked by the shared database" in window._user_label.toolTip()
        assert not window.plan_action.isEnabled()
        assert not window.import_action.isEnabled()
        assert context.actor == f"{dana}@desk-dana"
        plan = context.state.plan
        order = plan.routes[0].order_ids[0]
        context.dispatch.set_locked(plan, [order], True)
        qtbot.waitUntil(lambda: context.link.outbox_pending() == 0, timeout=WAIT_MS)

        def locked_there() -> bool:
            with admin.read_session() as s:
                stored = repository.load_plan(s, DEPOT, plan.day)
            return any(st.locked for r in stored.routes for st in r.stops
                       if st.order_id == order)  # fmt: skip

        qtbot.waitUntil(locked_there, timeout=WAIT_MS)
        with admin.read_session() as s:
            ran = s.execute(text("SELECT kind, db_user, actor FROM dispatch_sec.command")).all()
        assert ("set_locks", dana, f"{dana}@desk-dana") in [tuple(r) for r in ran]
    finally:
        window.close()
        qtbot.wait(50)
        admin.close()
