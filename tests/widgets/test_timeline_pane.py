"""The timeline pane: rows for a real plan, clicks select, the now-line moves, bars drag."""

from __future__ import annotations

import os
from datetime import timedelta

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.widgets.test_map_data import sample_day  # noqa: E402
from widgets.timeline_pane import LATE, TimelinePane  # noqa: E402


@pytest.fixture
def day():
    """The sample downtown day: 3 routes of 8 stops."""
    return sample_day()


@pytest.fixture
def pane(qtbot, day):
    """A shown timeline with the sample plan, the clock at the 4th stop of route 1."""
    pane = TimelinePane()
    qtbot.addWidget(pane)
    pane.resize(1000, 320)
    pane.show()
    qtbot.waitExposed(pane)
    pane.set_plan(day.plan, day.orders, day.vehicles, day.drivers, day.depot.timezone)
    pane.set_now(day.plan.routes[0].stops[3].planned_arrival)
    qtbot.wait(50)  # first paint, so the left axis gets its real width
    return pane


def _viewport_point(pane: TimelinePane, scene_pos: QPointF) -> QPoint:
    return pane.plot.mapFromScene(scene_pos)


def _coloured(image, x0: int, x1: int, y0: int, y1: int) -> int:
    """Pixels in a box that are clearly not the white background."""
    return sum(
        1
        for x in range(x0, x1, 2)
        for y in range(y0, y1, 2)
        if min(image.pixelColor(x, y).getRgb()[:3]) < 200
    )


def test_rows_are_labelled_and_bars_drawn(qtbot, pane, tmp_path):
    """Each route gets a labelled row (vehicle · driver) and its stops show as bars."""
    ticks = pane.plot.getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks] == [
        "Van 1 · Driver A",
        "Van 2 · Driver B",
        "Van 3 · Driver C",
    ]
    image = pane.grab().toImage()
    image.save(str(tmp_path / "timeline.png"))
    axis_width = int(pane.plot.getAxis("left").width())
    assert axis_width > 60  # wide enough for the labels
    assert _coloured(image, 0, axis_width, 0, image.height() - 30) > 40  # label text
    assert _coloured(image, axis_width + 5, image.width(), 0, image.height() - 30) > 300  # bars


def test_x_axis_reads_depot_clock_time(pane, day):
    """A stop planned at 08:25 in Salt Lake City sits at 08:25 on the axis."""
    first = day.plan.routes[0].stops[0]
    assert pane.axis.tickStrings([pane.seconds_of(first.planned_arrival)], 1, 60) == ["08:25"]


def test_click_on_a_bar_selects_its_stop(qtbot, pane):
    """Clicking a stop's bar emits sig_selection_changed('stop', order id) and highlights it."""
    at = _viewport_point(pane, pane.bar_scene_pos("O2-04"))
    with qtbot.waitSignal(pane.sig_selection_changed, timeout=2000) as blocker:
        QTest.mouseClick(pane.plot.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert blocker.args == ["stop", "O2-04"]
    assert pane.selected == ["O2-04"]


def test_a_press_on_a_short_bar_takes_that_stop_not_its_neighbour(qtbot, pane):
    """Zoomed out, a few pixels around a bar reach its neighbours: the bar under the
    pointer is the one taken (a drag once moved the stop before the one pressed)."""
    a, b = pane._bars["O1-05"], pane._bars["O1-06"]
    span = (b.x1 - a.x0) * 300  # the two bars about 3 pixels apart
    pane.view_box.setXRange(a.x0 - span / 2, a.x0 + span / 2, padding=0)
    px = pane.view_box.viewPixelSize()[0]
    assert b.x0 - a.x1 < 3 * px  # within the pointer's reach of each other
    for oid in ("O1-04", "O1-05", "O1-06"):
        assert pane.stop_at(pane.bar_scene_pos(oid)) == oid
    beyond = pane.view_box.mapViewToScene(QPointF(pane._bars["O1-08"].x1 + 8 * px, b.row))
    assert pane.stop_at(beyond) is None


def test_a_drag_takes_the_stop_pressed_even_if_its_row_is_redrawn_before_it_starts(
    qtbot, pane, day
):
    """A drag starts a few pixels after the press; a live plan may redraw the row in
    between (here O1-05 and O1-06 swap places): the stop pressed is the one moved."""
    from dataclasses import replace

    viewport = pane.plot.viewport()
    start = _viewport_point(pane, pane.bar_scene_pos("O1-05"))
    bar = pane._bars["O1-05"]
    end = _viewport_point(pane, pane.row_scene_pos("R2", (bar.x0 + bar.x1) / 2))
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    r1 = day.plan.routes[0]
    a, b = r1.stops[4], r1.stops[5]
    swapped = (*r1.stops[:4], replace(b, planned_arrival=a.planned_arrival,
               planned_departure=a.planned_departure), replace(a, planned_arrival=b.planned_arrival,
               planned_departure=b.planned_departure), *r1.stops[6:])  # fmt: skip
    plan = replace(day.plan, routes=(replace(r1, stops=swapped), *day.plan.routes[1:]))
    pane.set_plan(plan, day.orders, day.vehicles, day.drivers, day.depot.timezone)
    assert pane.stop_at(pane.plot.mapToScene(start)) == "O1-06"  # under the press now
    with qtbot.waitSignal(pane.sig_stop_dropped, timeout=2000) as blocker:
        for i in range(1, 9):
            pos = QPointF(start + (end - start) * (i / 8))
            move = QMouseEvent(QEvent.Type.MouseMove, pos, viewport.mapToGlobal(pos),
                               Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton,
                               Qt.KeyboardModifier.NoModifier)  # fmt: skip
            QApplication.sendEvent(viewport, move)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           end)  # fmt: skip
    assert blocker.args == [["O1-05"], "R2"]


def test_now_line_moves_with_the_clock(qtbot, pane, day):
    """set_now moves the red now-line to the new time."""
    first = day.plan.routes[0].stops[1].planned_arrival
    pane.set_now(first)
    qtbot.wait(20)
    x1 = pane._now_line.scenePos().x() + pane._now_line.mapToScene(QPointF(0, 0)).x()
    pane.set_now(first + timedelta(hours=1))
    qtbot.wait(20)
    x2 = pane._now_line.scenePos().x() + pane._now_line.mapToScene(QPointF(0, 0)).x()
    assert pane._now_line.value() == pytest.approx(pane.seconds_of(first) + 3600)
    assert x2 > x1 + 50


def test_late_eta_colours_the_stop(qtbot, pane, day):
    """An ETA past the order's window turns that stop's bar red."""
    late = day.orders["O3-05"].latest + timedelta(minutes=10)
    pane.update_etas({"O3-05": late, "O3-06": day.orders["O3-06"].latest - timedelta(minutes=30)})
    assert pane.bar_colour("O3-05") == LATE
    assert pane.bar_colour("O3-06") != LATE
    # and it is drawn so: among the red bars
    red = pane._planned[LATE]
    assert pane._bars["O3-05"].x0 in list(red.opts["x0"])


def test_focus_on_scrolls_the_time_axis_to_the_stop(qtbot, pane, day):
    """Zoomed in on the morning, focus_on a late stop brings it into view."""
    first = pane.seconds_of(day.plan.routes[0].stops[0].planned_arrival)
    pane.view_box.setXRange(first, first + 1800, padding=0)
    pane.focus_on("O3-08")
    (x0, x1), _ = pane.view_box.viewRange()
    bar = pane._bars["O3-08"]
    assert x0 <= bar.x0 <= x1 and x1 - x0 == pytest.approx(1800, rel=0.05)
    assert pane.selected == ["O3-08"]


def _drag(qtbot, pane: TimelinePane, start: QPoint, end: QPoint) -> None:
    viewport = pane.plot.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    steps = 8
    for i in range(1, steps + 1):
        pos = QPointF(start + (end - start) * (i / steps))
        move = QMouseEvent(
            QEvent.Type.MouseMove,
            pos,
            viewport.mapToGlobal(pos),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(viewport, move)
        qtbot.wait(5)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def test_drag_bar_to_another_row_previews_and_drops(qtbot, pane):
    """Dragging a bar onto route 3's row shows the preview text and emits the drop."""
    calls: list[tuple[list[str], str]] = []

    def preview(ids, route):
        calls.append((ids, route))
        return f"{len(ids)} stop(s) to {route}: +6 min, no late stops"

    pane.preview_fn = preview
    start = _viewport_point(pane, pane.bar_scene_pos("O1-05"))
    bar = pane._bars["O1-05"]
    end = _viewport_point(pane, pane.row_scene_pos("R3", (bar.x0 + bar.x1) / 2))
    with qtbot.waitSignal(pane.sig_stop_dropped, timeout=2000) as blocker:
        _drag(qtbot, pane, start, end)
    assert blocker.args == [["O1-05"], "R3"]
    assert calls and calls[-1] == (["O1-05"], "R3")
    assert not pane._preview_text.isVisible()


def test_locked_stop_does_not_drag(qtbot, day):
    """A locked stop's bar pans the view instead of starting a drag."""
    from dataclasses import replace

    route = day.plan.routes[0]
    stops = (replace(route.stops[4], locked=True),) + route.stops[5:]
    plan = replace(day.plan, routes=(replace(route, stops=stops),) + day.plan.routes[1:])
    pane = TimelinePane()
    qtbot.addWidget(pane)
    pane.resize(1000, 320)
    pane.show()
    qtbot.waitExposed(pane)
    pane.set_plan(plan, day.orders, day.vehicles, day.drivers, day.depot.timezone)
    qtbot.wait(50)
    dropped: list = []
    pane.sig_stop_dropped.connect(lambda ids, r: dropped.append((ids, r)))
    bar = pane._bars["O1-05"]
    start = _viewport_point(pane, pane.bar_scene_pos("O1-05"))
    end = _viewport_point(pane, pane.row_scene_pos("R3", (bar.x0 + bar.x1) / 2))
    _drag(qtbot, pane, start, end)
    qtbot.wait(50)
    assert dropped == []


def test_served_stops_show_no_eta(qtbot, pane, day):
    """ETAs for delivered stops are not drawn; pending ones are."""
    etas = {oid: day.orders[oid].earliest for oid in ("O1-01", "O1-06")}  # O1-01 is delivered
    pane.update_etas(etas)
    xs = list(pane._etas_item.data["x"])
    assert xs == [pane.seconds_of(day.orders["O1-06"].earliest)]


def test_ctrl_click_selects_several_and_drags_them_together(qtbot, pane):
    """Ctrl-click two bars, drag one: both move to the target row in one drop."""
    viewport = pane.plot.viewport()
    ctrl = Qt.KeyboardModifier.ControlModifier
    for oid in ("O1-05", "O1-06"):
        at = _viewport_point(pane, pane.bar_scene_pos(oid))
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, ctrl, at)
    assert pane.selected == ["O1-05", "O1-06"]
    bar = pane._bars["O1-05"]
    start = _viewport_point(pane, pane.bar_scene_pos("O1-05"))
    end = _viewport_point(pane, pane.row_scene_pos("R2", (bar.x0 + bar.x1) / 2))
    with qtbot.waitSignal(pane.sig_stop_dropped, timeout=2000) as blocker:
        _drag(qtbot, pane, start, end)
    assert blocker.args == [["O1-05", "O1-06"], "R2"]


@pytest.fixture
def big_pane(qtbot):
    """A short pane showing a 50-route day (more rows than fit), with that day."""
    big = sample_day(routes=50, stops_per_route=4)
    pane = TimelinePane()
    qtbot.addWidget(pane)
    pane.resize(900, 360)
    pane.show()
    qtbot.waitExposed(pane)
    pane.set_plan(big.plan, big.orders, big.vehicles, big.drivers, big.depot.timezone)
    qtbot.wait(50)
    return pane, big


def test_a_plan_change_keeps_the_persons_zoom_and_scroll(qtbot, big_pane, day):
    """A route leaving the dock or a stop moved elsewhere redraws rows, never the view: a
    supervisor zoomed on row 30 and mid-drag keeps it. A route more keeps it too; another
    day is fitted anew."""
    from dataclasses import replace

    from engine.model import RouteStatus

    pane, big = big_pane
    pane.focus_on("O31-02")
    first = pane.seconds_of(big.plan.routes[30].stops[0].planned_arrival)
    pane.view_box.setXRange(first, first + 1800, padding=0)
    view = pane.view_box.viewRange()
    rows = pane.visible_rows()
    assert rows[0] > 0
    routes = list(big.plan.routes)
    routes[0] = replace(routes[0], status=RouteStatus.ACTIVE)
    moved = routes[31].stops[-1]
    routes[31] = replace(routes[31], stops=routes[31].stops[:-1])
    routes[30] = replace(routes[30], stops=(*routes[30].stops, moved))
    plan = replace(big.plan, routes=tuple(routes))
    pane.set_plan(plan, big.orders, big.vehicles, big.drivers, big.depot.timezone)
    assert pane._bars[moved.order_id].route_id == routes[30].id  # drawn on its new row
    assert pane.view_box.viewRange() == view and pane.visible_rows() == rows
    fewer = replace(plan, routes=tuple(routes[:-1]))
    pane.set_plan(fewer, big.orders, big.vehicles, big.drivers, big.depot.timezone)
    assert pane.view_box.viewRange()[0] == view[0] and pane.visible_rows()[0] == rows[0]
    other = replace(day.plan, day=day.plan.day + timedelta(days=1))
    pane.set_plan(other, day.orders, day.vehicles, day.drivers, day.depot.timezone)
    assert pane.visible_rows() == (0, 3)
    assert pane.view_box.viewRange()[0] != view[0]


def test_bars_stay_under_the_pointer_when_a_route_status_joins_its_name(qtbot, pane, day):
    """A route's status joins its row's name as it loads, leaves and completes; the names'
    column does not widen then, so the bars do not slide sideways under the pointer (a
    press on one stop once found another there a moment later)."""
    from dataclasses import replace

    from engine.model import RouteStatus

    left = pane.view_box.sceneBoundingRect().left()
    point = pane.bar_scene_pos("O1-05")
    assert pane.stop_at(point) == "O1-05"
    for status in (RouteStatus.LOADING, RouteStatus.ACTIVE, RouteStatus.COMPLETED):
        routes = tuple(replace(r, status=status) for r in day.plan.routes)
        pane.set_plan(replace(day.plan, routes=routes), day.orders, day.vehicles, day.drivers,
                      day.depot.timezone)  # fmt: skip
        pane.plot.grab()  # painted: the names' column takes the width its labels need
        qtbot.wait(50)
        assert pane.row_label(day.plan.routes[0].id).endswith(status.label)
        assert pane.view_box.sceneBoundingRect().left() == left, status
        assert pane.stop_at(point) == "O1-05", status
        axis = pane.plot.getAxis("left")  # and every name fits its column
        assert axis.textWidth + axis.style["tickTextOffset"][0] <= axis.width()


def test_many_routes_scroll_instead_of_shrinking(big_pane):
    """With 50 routes in a short pane rows keep a readable height; focus_on scrolls to row 41."""
    pane, _ = big_pane
    first, shown = pane.visible_rows()
    assert first == 0 and 5 <= shown < 20
    assert pane.view_box.height() / shown >= 24
    pane.focus_on("O41-02")
    first, shown = pane.visible_rows()
    assert first <= 40 < first + shown
    pane.scroll_rows(-100)
    assert pane.visible_rows()[0] == 0


def test_eta_ticks_follow_the_rows_in_view(big_pane):
    """With 50 routes only the rows in view carry ETA ticks; scrolling brings the others'."""
    pane, big = big_pane
    pending = {
        s.order_id: big.orders[s.order_id].earliest
        for r in big.plan.routes
        for s in r.stops
        if not s.status.is_done
    }
    pane.update_etas(pending)

    def tick_rows() -> set[int]:
        ys = [*pane._etas_item.data["y"], *pane._late_etas_item.data["y"]]
        return {round(y + 0.13) for y in ys}

    first, shown = pane.visible_rows()
    assert set(range(first, first + shown)) <= tick_rows()
    assert 45 not in tick_rows()
    pane.focus_on("O46-02")
    assert 45 in tick_rows()


def _locked_plan(day, order_id="O1-05"):
    from dataclasses import replace

    routes = tuple(
        replace(r, stops=tuple(replace(s, locked=s.order_id == order_id) for s in r.stops))
        for r in day.plan.routes
    )
    return replace(day.plan, routes=routes)


def test_rows_read_by_the_one_vehicle_name_and_locked_stops_are_hatched(qtbot, pane, day):
    """With the day's labels a row reads ``V1 · Van 1 · Driver A``; a locked stop gets a
    hatched, outlined bar over its own (and only it)."""
    from app.day.labels import DayLabels

    plan = _locked_plan(day)
    labels = DayLabels(day.orders, day.vehicles, day.drivers, plan, day.depot.timezone)
    pane.set_plan(plan, day.orders, day.vehicles, day.drivers, day.depot.timezone, labels=labels)
    ticks = pane.plot.getAxis("left")._tickLevels[0]
    assert [label for _, label in ticks][0] == "V1 · Van 1 · Driver A"
    assert pane.locked_stops() == ["O1-05"]
    x0 = list(pane._locked.opts["x0"])
    assert x0 == [pane._bars["O1-05"].x0]
    assert pane._locked.opts["brush"].style() == Qt.BrushStyle.BDiagPattern


def test_hovering_a_bar_shows_the_stop_as_a_dispatcher_reads_it(qtbot, pane, day):
    """The mouse over a bar shows customer, address, window and ETA (from ``tooltip_fn``);
    off the bars the tooltip goes."""
    asked: list[str] = []

    def tip(order_id):
        asked.append(order_id)
        return f"Shop {order_id}\nWindow 08:00–09:00 · ETA 08:41"

    pane.tooltip_fn = tip
    pane.hover_at(pane.bar_scene_pos("O2-04"))
    assert asked == ["O2-04"]
    assert pane.hover_text.startswith("Shop O2-04\nWindow")
    pane.hover_at(pane.bar_scene_pos("O2-04"))  # the same bar: not asked again
    assert asked == ["O2-04"]
    pane.hover_at(None)
    assert pane.hover_text == ""


def test_a_refused_drag_says_why_and_moves_nothing(qtbot, pane):
    """For a dispatcher the pane offers no drag: trying one says why, and nothing drops."""
    pane.set_drag_allowed(False, "Moving stops between routes is a supervisor action")
    refused: list[str] = []
    dropped: list = []
    pane.sig_drag_refused.connect(refused.append)
    pane.sig_stop_dropped.connect(lambda ids, r: dropped.append((ids, r)))
    bar = pane._bars["O1-05"]
    start = _viewport_point(pane, pane.bar_scene_pos("O1-05"))
    end = _viewport_point(pane, pane.row_scene_pos("R3", (bar.x0 + bar.x1) / 2))
    _drag(qtbot, pane, start, end)
    assert refused == ["Moving stops between routes is a supervisor action"]
    assert dropped == []


def test_eta_band_runs_from_the_eta_to_its_90th_percentile(qtbot, pane, day):
    """A pending stop with a band draws a bar from its ETA to its 90th percentile."""
    eta = day.orders["O1-06"].earliest
    pane.update_etas({"O1-06": eta})
    pane.update_eta_bands({"O1-06": eta + timedelta(minutes=12)})
    xs = list(pane._eta_band_item.xData)
    assert xs == [pane.seconds_of(eta), pane.seconds_of(eta + timedelta(minutes=12))]
    pane.update_eta_bands({})
    assert pane._eta_band_item.xData is None or len(pane._eta_band_item.xData) == 0


def _drawn(pane: TimelinePane) -> dict:
    """What the pane draws: row names, each stop's bar and colour, and every bar item's
    rectangles (planned by colour, served, windows, locked)."""

    def rects(item) -> list:
        o = item.opts
        return [list(map(float, o["x0"])), list(map(float, o["width"])), list(map(float, o["y0"]))]

    return {
        "names": list(pane.plot.getAxis("left")._tickLevels[0]),
        "bars": [(o, b.route_id, b.row, b.x0, b.x1, b.locked) for o, b in pane._bars.items()],
        "colours": dict(pane._colours),
        "planned": {c: rects(item) for c, item in pane._planned.items() if len(item.opts["x0"])},
        "served": rects(pane._actual),
        "windows": rects(pane._windows),
        "locked": rects(pane._locked),
    }


def test_a_plan_after_plan_draws_what_the_last_plan_alone_draws(qtbot, day):
    """Fed one plan after another (stops served, a stop moved to another route, a stop
    locked, a route released, stops flagged late), the timeline draws exactly what a fresh
    timeline shown only the last of them draws: it lays out again only what changed."""
    import random
    from dataclasses import replace

    from engine.model import RouteStatus

    big = sample_day(routes=6, stops_per_route=6)
    rnd = random.Random(3)
    shown = TimelinePane()
    qtbot.addWidget(shown)
    shown.resize(900, 360)
    shown.show()
    args = (big.orders, big.vehicles, big.drivers, big.depot.timezone)
    plan = big.plan
    shown.set_plan(plan, *args)
    late: set[str] = set()
    for step in range(40):
        routes = list(plan.routes)
        kind = step % 5
        i = rnd.randrange(len(routes))
        route = routes[i]
        if kind in (0, 1) and route.stops:  # a stop served (or failed)
            routes[i] = one_stop_served(route, rnd)
        elif kind == 2 and route.stops:  # a stop moved to the end of another route
            j = (i + 1 + rnd.randrange(len(routes) - 1)) % len(routes)
            stop = route.stops[-1]
            moved = replace(stop, planned_arrival=stop.planned_arrival + timedelta(minutes=30),
                            planned_departure=stop.planned_departure + timedelta(minutes=30))  # fmt: skip
            routes[i] = replace(route, stops=route.stops[:-1])
            routes[j] = replace(routes[j], stops=(*routes[j].stops, moved))
        elif kind == 3 and route.stops:  # a stop locked, a route released
            k = rnd.randrange(len(route.stops))
            stops = list(route.stops)
            stops[k] = replace(stops[k], locked=True)
            routes[i] = replace(route, stops=tuple(stops), status=RouteStatus.RELEASED)
        plan = replace(plan, routes=tuple(routes))
        shown.set_plan(plan, *args)
        if kind == 4:  # the rules flag other stops late
            every = [s.order_id for r in plan.routes for s in r.stops]
            late = set(rnd.sample(every, 4))
            shown.set_late_risk(late)
        fresh = TimelinePane()
        qtbot.addWidget(fresh)
        fresh.resize(900, 360)
        fresh.set_plan(plan, *args)
        fresh.set_late_risk(late)
        assert _drawn(shown) == _drawn(fresh), f"step {step}"
        fresh.close()
    assert any(s.status.is_done for r in plan.routes for s in r.stops)


def one_stop_served(route, rnd):
    """``route`` with one of its stops (drawn by ``rnd``) arrived, delivered or failed at
    its planned times: a new route object, as ``merge_stop_results`` makes it."""
    from dataclasses import replace

    from engine.model import StopStatus

    k = rnd.randrange(len(route.stops))
    stop = route.stops[k]
    status = rnd.choice((StopStatus.DELIVERED, StopStatus.FAILED, StopStatus.ARRIVED))
    done = replace(stop, status=status, actual_arrival=stop.planned_arrival,
                   actual_departure=stop.planned_departure)  # fmt: skip
    return replace(route, stops=(*route.stops[:k], done, *route.stops[k + 1 :]))


def stop_results(plan, steps: int, seed: int = 5):
    """A live day's plans: at each step one stop of one route is served (see
    ``one_stop_served``)."""
    import random
    from dataclasses import replace

    rnd = random.Random(seed)
    for _ in range(steps):
        routes = list(plan.routes)
        i = rnd.randrange(len(routes))
        routes[i] = one_stop_served(routes[i], rnd)
        plan = replace(plan, routes=tuple(routes))
        yield plan


def routes_alive() -> int:
    """Route objects anything still holds (the test keeps none of the earlier ones)."""
    import gc

    from engine.model import Route

    gc.collect()
    return sum(type(o) is Route for o in gc.get_objects())


def test_a_live_day_lets_go_of_the_routes_its_stop_results_replaced(qtbot, day):
    """Every stop result makes its route a new object; a live timeline keeps what it drew
    for the routes shown, not for every state of every route it ever showed (at 2,000 vans
    that grew the window by megabytes a minute). A replay window, which shows the same
    states again as it jumps, keeps them."""
    args = (day.orders, day.vehicles, day.drivers, day.depot.timezone)
    for keep in (False, True):
        base = routes_alive()
        pane = TimelinePane()
        qtbot.addWidget(pane)
        pane.resize(900, 360)
        pane.show()
        pane.keep_earlier_states(keep)
        for plan in stop_results(day.plan, 1500):
            pane.set_plan(plan, *args)
        held = routes_alive() - base
        if keep:
            assert held > 1000, held  # the replay's memo (ROUTE_OBJECTS_KEPT)
        else:
            assert held < 600, held  # the routes shown and a bounded slack
        # What it draws is still the last plan's.
        assert pane.bar_colour(plan.routes[0].stops[0].order_id) is not None
        del plan
