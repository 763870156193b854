"""Roles from the command line: the SQLite profile, ``db upgrade``, ``users add/list``,
and ``import`` / ``devices set`` refused to a dispatcher on either database."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.profile import local_role, profile_path, read_profile
from app.settings import Settings
from app.store import open_store, repository
from app.store.migrate import current_revision, head_revision
from main import main
from tests.fixtures.scenarios import small_day


@pytest.fixture
def profile_home(tmp_path, monkeypatch) -> Path:
    """This test's own configuration folder (the profile lives there)."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("DISPATCH_ROLE", raising=False)
    return home


def _seeded(url: str) -> None:
    day = small_day()
    store = open_store(url)
    with store.session() as session:
        repository.upsert_depots(session, day.depots, actor="admin")
        repository.upsert_vehicles(session, day.vehicles, actor="admin")
    store.close()


def test_profile_role_first_start_then_narrowed_never_widened(profile_home, capsys) -> None:
    """A first start makes the account the supervisor of its own desk (a private file);
    ``users role dispatcher`` makes it a dispatcher; DISPATCH_ROLE only narrows."""
    assert read_profile()["role"] == "supervisor"
    path = profile_path()
    assert path.is_relative_to(profile_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_role(Settings(role="dispatcher")) == "dispatcher"
    assert main(["users", "role", "dispatcher"]) == 0
    assert "works as dispatcher" in capsys.readouterr().out
    assert local_role(Settings()) == "dispatcher"
    assert local_role(Settings(role="supervisor")) == "dispatcher"  # never widened


def test_sqlite_import_and_devices_need_a_supervisor_profile(
    profile_home, tmp_path, capsys
) -> None:
    """A dispatcher's account cannot import or map devices on its SQLite desk; nothing is
    written; as supervisor the same commands work."""
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    _seeded(url)
    assert main(["users", "role", "dispatcher"]) == 0
    assert main(["devices", "set", "alice/phone", "V1", "--database", url]) == 1
    err = capsys.readouterr().err
    assert "a supervisor's command" in err and "works as dispatcher" in err
    demo = tmp_path / "demo"
    assert main(["demo", "--out", str(demo)]) == 0
    assert main(["import", str(demo), "--database", url]) == 1
    assert "a supervisor's command" in capsys.readouterr().err
    assert main(["devices", "list", "--database", url]) == 0
    assert "no devices mapped" in capsys.readouterr().out
    assert main(["users", "role", "supervisor"]) == 0
    assert main(["devices", "set", "alice/phone", "V1", "--database", url]) == 0
    assert main(["import", str(demo), "--database", url]) == 0


@pytest.mark.postgres
def test_db_upgrade_users_add_and_a_dispatcher_refused(
    postgres_url, profile_home, monkeypatch, capsys
) -> None:
    """The administrator migrates with ``db upgrade`` and adds two people (the password is
    never printed); as the dispatcher, ``devices set`` is refused, as the supervisor it
    works; the database itself refuses the dispatcher's device write."""
    assert main(["db", "upgrade", "--database", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "-> " + head_revision() in out and "owner" in out
    _seeded(postgres_url)
    monkeypatch.setenv("DISPATCH_USER_PASSWORD", "pw-never-shown")
    assert main(["users", "add", "dora_disp", "--role", "dispatcher", "--database",
                 postgres_url]) == 0  # fmt: skip
    assert main(["users", "add", "sven_sup", "--role", "supervisor", "--database",
                 postgres_url]) == 0  # fmt: skip
    assert main(["users", "list", "--database", postgres_url]) == 0
    captured = capsys.readouterr()
    assert "pw-never-shown" not in captured.out + captured.err
    listed = dict(line.split()[:2] for line in captured.out.splitlines() if line.strip())
    assert listed["dora_disp"] == "dispatcher" and listed["sven_sup"] == "supervisor"

    def as_user(name: str) -> str:
        url = make_url(postgres_url).set(username=name, password="pw-never-shown")
        return url.render_as_string(hide_password=False)

    assert main(["devices", "set", "alice/phone", "V1", "--database", as_user("dora_disp")]) == 1
    assert "dora_disp works as dispatcher (database)" in capsys.readouterr().err
    assert main(["devices", "set", "alice/phone", "V1", "--database", as_user("sven_sup")]) == 0
    assert main(["db", "status", "--database", as_user("dora_disp")]) == 0
    assert "connected as dora_disp: dispatcher" in capsys.readouterr().out
    assert current_revision(open_store(postgres_url, migrate=False).engine) == head_revision()


@pytest.mark.postgres
def test_a_desk_never_migrates_the_shared_database(
    qtbot, postgres_url, profile_home, tmp_path, monkeypatch
) -> None:
    """A desk finding the shared database at an older schema says the administrator must
    run ``db upgrade``, opens no day and leaves the schema as it was (no crash)."""
    from sqlalchemy import text

    from app.context import AppContext

    store = open_store(postgres_url)
    with store.session() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    store.close()
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "data"))
    settings = Settings.from_env(database_url=postgres_url, workstation_id="desk-old",
                                 demo=False, simulate=False)  # fmt: skip
    context = AppContext(settings, headless=True)
    said: list[str] = []
    context.sig_status.connect(said.append)
    try:
        context.start()
        assert any("python main.py db upgrade" in s for s in said), said
        assert context.state.plan is None
        assert current_revision(open_store(postgres_url, migrate=False).engine) == "0008"
    finally:
        context.shutdown()
