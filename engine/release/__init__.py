"""Release control on plain data: waves and cut-offs, dock slots, the readiness gate.

plan_slots(requests, docks, waves)        -> SlotPlan (no overlap per dock, staggered)
retime(ctx, plan, slot_plan)              -> Retimed (departures follow slots; lateness)
check_route(RouteFacts(...), params)      -> RouteGate (seven checks: what, why, fix)
wave_gate(wave_id, gates, wave, now)      -> WaveGate (go / no-go, status)
wave_for_order(order, waves)              -> WaveChoice (late orders go to the next wave)
punctuality(records)                      -> on-time dispatch per route and wave
"""

from engine.release.gate import (
    CHECKS,
    Check,
    GateCheck,
    GateParams,
    Loading,
    Override,
    RouteFacts,
    RouteGate,
    WaveGate,
    WaveStatus,
    available_at,
    check_route,
    wave_gate,
)
from engine.release.retime import Retimed, ScarcityRow, requests_for, retime, retime_route, scarcity
from engine.release.slots import (
    DockSlot,
    SlotPlan,
    SlotRequest,
    WaveSlots,
    allowed_docks,
    overlaps,
    plan_slots,
    slot_minutes,
)
from engine.release.waves import (
    ON_TIME_TOLERANCE_S,
    DispatchRecord,
    RoutePunctuality,
    WaveChoice,
    WavePunctuality,
    ordered,
    punctuality,
    wave_for_departure,
    wave_for_order,
    waves_by_id,
)

__all__ = [
    "CHECKS",
    "ON_TIME_TOLERANCE_S",
    "Check",
    "DispatchRecord",
    "DockSlot",
    "GateCheck",
    "GateParams",
    "Loading",
    "Override",
    "Retimed",
    "RouteFacts",
    "RouteGate",
    "RoutePunctuality",
    "ScarcityRow",
    "SlotPlan",
    "SlotRequest",
    "WaveChoice",
    "WaveGate",
    "WavePunctuality",
    "WaveSlots",
    "WaveStatus",
    "allowed_docks",
    "available_at",
    "check_route",
    "ordered",
    "overlaps",
    "plan_slots",
    "punctuality",
    "requests_for",
    "retime",
    "retime_route",
    "scarcity",
    "slot_minutes",
    "wave_for_departure",
    "wave_for_order",
    "wave_gate",
    "waves_by_id",
]
