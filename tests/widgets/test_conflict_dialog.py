"""The sync conflict dialog: both versions side by side, the differences highlighted, who
stored the other version and when, what each choice does, and which choice was made."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.sync.conflict_view import ConflictView, RouteSides, conflict_view
from tests.app.test_sync_keep_mine import moved
from tests.app.test_sync_support import desk, orders, shared_store
from widgets.conflict_dialog import ConflictDialog


@pytest.fixture
def real_conflict(tmp_path: Path):
    """Ann (offline) moves O0 to the front of R1; Bob, synced first, moves O0 to R2 and
    O12 to the front of R1. Ann's move comes back as one conflict (shared SQLite database)."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    shared = shared_store(url)
    a, b = desk(tmp_path, "desk-a", url), desk(tmp_path, "desk-b", url)
    a.work_offline = True
    a.execute(moved(orders(a.local), "O0", "R1"), actor="ann")
    b.execute(moved(orders(b.local), "O0", "R2"), actor="bob")
    b.execute(moved(orders(b.local), "O12", "R1"), actor="bob")
    assert b.sync().applied == 2
    a.work_offline = False
    assert a.sync().conflicts == 1
    (row,) = a.conflicts()
    yield row
    for store in (a.local, b.local, shared):
        store.close()


def column(table, col: int) -> list[str]:
    return [table.item(r, col).text() for r in range(table.rowCount())]


def test_both_versions_side_by_side_with_the_difference_highlighted(qtbot, real_conflict) -> None:
    view = conflict_view(real_conflict.detail, real_conflict.suggested_action)
    dialog = ConflictDialog(view)
    qtbot.addWidget(dialog)
    # R1 differs, so it comes first; each side lists its stops in order.
    assert column(dialog.mine_table, 2)[:5] == ["O0", "O4", "O5", "O6", "O7"]
    assert column(dialog.theirs_table, 2)[:5] == ["O12", "O4", "O5", "O6", "O7"]
    assert column(dialog.mine_table, 0)[0] == "R1 (from v1)"
    assert column(dialog.theirs_table, 0)[0] == "R1 (v2)"
    assert dialog.highlighted("mine") == [("O0", "only yours")]
    assert dialog.highlighted("theirs") == [("O12", "only stored")]
    assert dialog.mine_table.rowCount() == dialog.theirs_table.rowCount()
    assert "The stored version is by bob at" in dialog.who_label.text()
    assert "UTC" in dialog.who_label.text()
    explain = dialog.explain.text()
    assert "Keep mine: your edit is made again" in explain
    assert "Keep theirs: your edit is dropped" in explain
    assert "Cancel: nothing changes" in explain
    assert "(by ann)" in view.what


def test_a_stop_at_another_place_is_highlighted(qtbot) -> None:
    view = ConflictView(
        (RouteSides("R3", ("A", "B", "C"), ("B", "A", "C", "D"), 4, 6),
         RouteSides("R4", None, ("E",), None, 2)),
    )  # fmt: skip
    dialog = ConflictDialog(view)
    qtbot.addWidget(dialog)
    # A and B swapped: one of them moved, the same one marked on both sides.
    assert dialog.highlighted("mine") == [("A", "moved")]
    assert dialog.highlighted("theirs") == [("A", "moved"), ("D", "only stored")]
    assert "not known" in dialog.who_label.text()
    # A route the edit did not touch: the stored stops, nothing highlighted.
    assert "(your edit leaves this route as it was)" in column(dialog.mine_table, 2)
    assert "E" in column(dialog.theirs_table, 2)


def test_one_stop_moved_to_the_end_marks_only_that_stop(qtbot) -> None:
    view = ConflictView((RouteSides("R1", ("O7", "O4", "O5", "O6"), ("O4", "O5", "O6", "O7")),))
    dialog = ConflictDialog(view)
    qtbot.addWidget(dialog)
    assert dialog.highlighted("mine") == [("O7", "moved")]
    assert dialog.highlighted("theirs") == [("O7", "moved")]


@pytest.mark.parametrize(("button", "choice"), [("mine_button", "mine"),
                                                 ("theirs_button", "theirs"),
                                                 ("cancel_button", None)])  # fmt: skip
def test_the_buttons_say_which_version_stays(qtbot, real_conflict, button, choice) -> None:
    dialog = ConflictDialog(conflict_view(real_conflict.detail))
    qtbot.addWidget(dialog)
    dialog.open()
    qtbot.mouseClick(getattr(dialog, button), Qt.MouseButton.LeftButton)
    assert dialog.choice == choice
    assert not dialog.isVisible()
