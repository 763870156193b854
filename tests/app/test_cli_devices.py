"""``main.py devices``: the tracker device table from the command line, on a real store."""

from __future__ import annotations

from app.store import open_store, repository
from main import main
from tests.fixtures.scenarios import small_day


def test_set_list_remove_with_clear_refusals(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    day = small_day()
    store = open_store(url)
    with store.session() as session:
        repository.upsert_depots(session, day.depots, actor="test")
        repository.upsert_vehicles(session, day.vehicles, actor="test")
    store.close()
    db = ["--database", url]

    assert main(["devices", "set", "alice/phone", "V1", *db]) == 0
    assert main(["devices", "set", "352094080000001", "V2", *db]) == 0
    assert main(["devices", "set", "bob/phone", "V42", *db]) == 1
    assert "vehicle 'V42' does not exist" in capsys.readouterr().err

    assert main(["devices", "list", *db]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["352094080000001", "V2"], ["alice/phone", "V1"]]

    assert main(["devices", "remove", "alice/phone", *db]) == 0
    assert main(["devices", "remove", "alice/phone", *db]) == 1
    assert "not in the device table" in capsys.readouterr().err
    assert main(["devices", "list", *db]) == 0
    assert "alice/phone" not in capsys.readouterr().out
