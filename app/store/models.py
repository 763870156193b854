"""Every store table, importable from one place (and registered on ``Base.metadata``)."""

from app.store.base import Base, Versioned
from app.store.models_day import (
    BreakRow,
    DepotRow,
    DockRow,
    DriverRow,
    OrderRow,
    VehicleRow,
    WindowRow,
)
from app.store.models_live import (
    BreadcrumbRow,
    ChangeLogRow,
    DeviceMapRow,
    ExceptionRow,
    OutboxRow,
    StopEventRow,
    VehiclePositionRow,
)
from app.store.models_plan import PlanRow, RouteRow, StopRow, UnassignedRow

__all__ = [
    "Base",
    "BreadcrumbRow",
    "BreakRow",
    "ChangeLogRow",
    "DepotRow",
    "DeviceMapRow",
    "DockRow",
    "DriverRow",
    "ExceptionRow",
    "OrderRow",
    "OutboxRow",
    "PlanRow",
    "RouteRow",
    "StopEventRow",
    "StopRow",
    "UnassignedRow",
    "VehiclePositionRow",
    "VehicleRow",
    "Versioned",
    "WindowRow",
]
