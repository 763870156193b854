"""Every store table, importable from one place (and registered on ``Base.metadata``)."""

from app.store.base import Base, Versioned
from app.store.models_day import (
    BreakRow,
    DepotRow,
    DockRow,
    DriverRow,
    OrderRow,
    VehicleRow,
    WaveRow,
    WindowRow,
)
from app.store.models_kpis import (
    EtaSampleRow,
    KpiSettingRow,
    KpiTrackRow,
    KpiValueRow,
    LearnedProfileRow,
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
from app.store.models_plan import PlanRow, ProposalRow, RouteRow, StopRow, UnassignedRow
from app.store.models_release import (
    DockScanRow,
    GateOverrideRow,
    RouteAckRow,
    RoutePublicationRow,
    RouteTransitionRow,
)
from app.store.models_rules import RuleFiringRow, RuleRow, RuleSwitchRow, RuleVersionRow
from app.store.models_tower import DeskRow

__all__ = [
    "Base",
    "BreadcrumbRow",
    "BreakRow",
    "ChangeLogRow",
    "DepotRow",
    "DeskRow",
    "DeviceMapRow",
    "DockRow",
    "DockScanRow",
    "DriverRow",
    "EtaSampleRow",
    "ExceptionRow",
    "GateOverrideRow",
    "KpiSettingRow",
    "KpiTrackRow",
    "KpiValueRow",
    "LearnedProfileRow",
    "OrderRow",
    "OutboxRow",
    "PlanRow",
    "RouteAckRow",
    "RoutePublicationRow",
    "ProposalRow",
    "RouteRow",
    "RouteTransitionRow",
    "RuleFiringRow",
    "RuleRow",
    "RuleSwitchRow",
    "RuleVersionRow",
    "StopEventRow",
    "StopRow",
    "UnassignedRow",
    "VehiclePositionRow",
    "VehicleRow",
    "Versioned",
    "WaveRow",
    "WindowRow",
]
