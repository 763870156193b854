"""Several depots on one desk: File ▸ Open depot… and View ▸ Control tower (a supervisor's).

Opening another depot is asked of the application (``MainWindow.sig_open_depot``), which
remembers the choice for the next start and reopens the window on that depot.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu

from app.day.opening import DepotPlans, list_depot_choices
from app.tower.feed import TowerFeed
from widgets.control_tower import ControlTowerWindow


class DepotsDesk(QObject):
    """The window's depot menu items and its control tower window."""

    def __init__(
        self, window, file_menu: QMenu, view_menu: QMenu, orders_menu: QMenu | None = None
    ) -> None:
        super().__init__(window)
        self.window = window
        self.tower: ControlTowerWindow | None = None
        self.open_action = QAction("Open &depot…", window)
        self.open_action.setStatusTip("Open another depot of the database on this desk")
        self.open_action.triggered.connect(self.choose_depot)
        first = file_menu.actions()[0] if file_menu.actions() else None
        file_menu.insertAction(first, self.open_action)
        self.travel_action = QAction("Depot &travel source…", window)
        self.travel_action.setObjectName("action_depot_travel")
        self.travel_action.setStatusTip(
            "Where this depot's travel times come from: a street network, a routing server "
            "or straight lines"
        )
        self.travel_action.triggered.connect(lambda: self.set_travel())
        file_menu.insertAction(first, self.travel_action)
        self.tower_action = QAction("&Control tower", window, shortcut=QKeySequence("Ctrl+Shift+T"))
        self.tower_action.setObjectName("action_control_tower")
        self.tower_action.triggered.connect(self.open_tower)
        supervisor = window.context.role == "supervisor"
        self.tower_action.setEnabled(supervisor)
        self.tower_action.setStatusTip(
            "Every depot at once: routes, exceptions, waves, on time, desks"
            if supervisor
            else "The control tower is a supervisor's view"
        )
        view_menu.addAction(self.tower_action)
        self.move_action = QAction("&Move order to another depot…", window)
        self.move_action.setObjectName("action_move_depot")
        self.move_action.setEnabled(supervisor)
        self.move_action.setStatusTip(
            "Move the selected order (not yet released) to another depot's day"
            if supervisor
            else "Moving an order to another depot is a supervisor's command"
        )
        self.move_action.triggered.connect(lambda: self.move_order())
        if orders_menu is not None:
            orders_menu.addAction(self.move_action)
        ctx = window.context
        self.depot_plans = DepotPlans(ctx.tower.store, ctx.store)

    def move_order(self, order_id: str | None = None, target_id: str | None = None) -> bool:
        """Orders ▸ Move order to another depot… (the selected stop, or the order named):
        one undoable command, checked against the versions shown and written to the audit."""
        ctrl, ctx = self.window.orders, self.window.context
        day = ctrl._open_day()
        if day is None:
            return False
        order_id = order_id or ctrl._selected_order()
        if order_id is None:
            ctx.sig_status.emit("Select a stop first, or find the order (Ctrl+F)")
            return False
        # The other depots' plans of the day as the supervisor sees them (the database every
        # desk shares; offline, as last read): the move carries the version seen, and a
        # plan changed since is a conflict when the move lands.
        try:
            others, read_now = self.depot_plans.read(day.plan.day, exclude=ctx.depot_id)
        except Exception as exc:  # a database error that is not the network: say it
            ctx.sig_status.emit(f"Other depots not read: {exc}")
            return False
        if not others:
            ctx.sig_status.emit("There is no other depot in this database")
            return False
        if target_id is None:
            tz = ZoneInfo(day.index.depot.timezone)
            labels = [d.label(read_now, tz) for d in others]
            where = "" if read_now else " (offline: other depots' plans as last read)"
            label, ok = QInputDialog.getItem(
                self.window, "Move order", f"Move order {order_id} to{where}:", labels, 0, False
            )
            if not ok:
                return False
            target = others[labels.index(label)]
        else:
            target = next((d for d in others if d.depot_id == target_id), None)
            if target is None:
                ctx.sig_status.emit(f"There is no other depot {target_id!r} in this database")
                return False
        if not target.known:
            ctx.sig_status.emit(
                f"Depot {target.depot_id}'s plan of {day.plan.day} cannot be read offline and was "
                "not read on this desk before: move the order when the database is back"
            )
            return False
        desk = ctrl.orders
        result = ctrl._run(
            lambda: desk.move_to_depot(
                day.plan,
                day.day,
                order_id,
                target.depot_id,
                seen=target.plan_version,
                now=ctx.now(),
            )  # fmt: skip
        )
        return bool(ctrl.dispatcher.push(result))

    def choose_depot(self) -> str | None:
        """Ask which depot to open; the window reopens on it."""
        ctx = self.window.context
        choices = list_depot_choices(ctx.store)
        if not choices:
            return None
        labels = [f"{name} ({depot_id})" for depot_id, name in choices]
        current = next((i for i, (d, _) in enumerate(choices) if d == ctx.depot_id), 0)
        label, ok = QInputDialog.getItem(
            self.window, "Open depot", "Depot this desk runs:", labels, current, False
        )
        if not ok:
            return None
        depot_id = choices[labels.index(label)][0]
        if depot_id != ctx.depot_id:
            self.window.sig_open_depot.emit(depot_id)
        return depot_id

    def set_travel(self, travel: str | None = None) -> bool:
        """File ▸ Depot travel source…: store it for the open depot; the window reopens on
        the depot so the plan, re-plans and map use it."""
        from app.day.opening import set_depot_travel
        from app.roads.library import list_networks
        from app.settings import user_data_dir

        ctx = self.window.context
        if not ctx.depot_id:
            return False
        if travel is None:
            options = [f"roads:{e.name}" for e in list_networks(user_data_dir())]
            options += ["straight:1.3", "osrm:http://localhost:5000",
                        "(automatic: the street network whose area holds the depot)"]  # fmt: skip
            current = ctx.travel.label if ctx.travel is not None else ""
            text, ok = QInputDialog.getItem(
                self.window, "Depot travel source",
                f"Travel times of depot {ctx.depot_id} (now: {current}) from:", options, 0, True,
            )  # fmt: skip
            if not ok:
                return False
            travel = "" if text.startswith("(automatic") else text
        try:
            set_depot_travel(ctx.store, ctx.depot_id, travel, actor=ctx.actor)
        except Exception as exc:  # a bad source text, a refused command: say why
            ctx.sig_status.emit(f"Travel source not changed: {exc}")
            return False
        self.window.sig_open_depot.emit(ctx.depot_id)
        return True

    def open_tower(self) -> ControlTowerWindow | None:
        if not self.tower_action.isEnabled():
            return None
        if self.tower is None:
            ctx = self.window.context
            local = ctx.store if ctx.sync is not None else None
            feed = TowerFeed(ctx.tower.store, clock=ctx.now, local=local, parent=self)
            self.tower = ControlTowerWindow(feed, ctx.depot_id, self.window)
            self.tower.sig_open_depot.connect(self.window.sig_open_depot)
        self.tower.show()
        self.tower.raise_()
        return self.tower
