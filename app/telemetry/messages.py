"""Wire formats accepted on the telemetry topics, as msgspec Structs.

Three shapes: the native contract (``fleet/{depot}/vehicle/{id}/telemetry|event``),
OwnTracks location messages and Traccar's MQTT position forward. The decoded, validated
results (:class:`Fix`, :class:`StopEvent`, :class:`Reject`) are frozen msgspec Structs too:
they are built once per message in the network thread, where a Struct is several times
cheaper than a frozen dataclass. They hold only scalars and strings, so they are kept out
of the cycle collector (``gc=False``): a day of breadcrumbs in memory costs no GC passes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec

EVENT_TYPES = (
    "arrived",
    "departed",
    "delivered",
    "failed",
    "break_start",
    "break_end",
    "breakdown",
)
EventType = Literal[
    "arrived", "departed", "delivered", "failed", "break_start", "break_end", "breakdown"
]


Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # a signed 64-bit integer


class NativeTelemetry(msgspec.Struct, gc=False):
    """``fleet/{depot}/vehicle/{id}/telemetry``; ``ts`` is ISO 8601 or epoch seconds.

    ``restart``: the tracker restarted its sequence counter (its next seqs start over).
    """

    v: int
    vehicle_id: str
    seq: Seq
    ts: str | float
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading_deg: float | None = None
    odometer_km: float | None = None
    accuracy_m: float | None = None
    restart: bool = False


class NativeTelemetryStrict(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """The native fix with every range check msgspec can do in C (the batch fast path).

    A message failing it is not rejected for that: it goes through the full per-message
    decoder, which names the exact reason. Unknown fields (padding, nesting) and a
    ``restart`` flag take that path too.
    """

    v: Literal[1]
    vehicle_id: str
    seq: Seq
    ts: float  # ISO 8601 times take the per-message path
    lat: Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
    lon: Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
    speed_kmh: Annotated[float, msgspec.Meta(ge=0.0, le=300.0)] | None = None
    heading_deg: Annotated[float, msgspec.Meta(ge=0.0, le=360.0)] | None = None
    odometer_km: Annotated[float, msgspec.Meta(ge=0.0, le=1e7)] | None = None
    accuracy_m: Annotated[float, msgspec.Meta(ge=0.0, le=1e5)] | None = None


class NativeEvent(msgspec.Struct, gc=False):
    """``fleet/{depot}/vehicle/{id}/event``: a stop or vehicle event."""

    v: int
    event_id: str
    vehicle_id: str
    ts: str | float
    type: EventType
    stop_id: str | None = None
    reason: str | None = None


class OwnTracksLocation(msgspec.Struct, gc=False):
    """An OwnTracks message on ``owntracks/{user}/{device}`` (``vel`` km/h, ``tst`` epoch s)."""

    type_: str = msgspec.field(name="_type")
    lat: float | None = None
    lon: float | None = None
    tst: int | None = None
    vel: float | None = None
    cog: float | None = None
    acc: float | None = None
    tid: str | None = None


class TraccarPosition(msgspec.Struct, gc=False):
    deviceId: int | str
    fixTime: str | float
    latitude: float
    longitude: float
    speed: float | None = None  # knots
    course: float | None = None
    accuracy: float | None = None


class TraccarDevice(msgspec.Struct, gc=False):
    uniqueId: str | None = None
    name: str | None = None


class TraccarForward(msgspec.Struct):
    """Traccar's MQTT position forward: ``{"position": {...}, "device": {...}}``."""

    position: TraccarPosition
    device: TraccarDevice | None = None


class Fix(msgspec.Struct, frozen=True, gc=False):
    """A validated position of a vehicle; ``ts`` is epoch seconds (UTC).

    ``live`` is False for a back-filled fix (older than the vehicle's latest): it belongs
    on the breadcrumb trail but must not move the live marker.
    """

    vehicle_id: str
    seq: int
    ts: float
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading_deg: float | None = None
    accuracy_m: float | None = None
    source: str = "native"
    live: bool = True

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts, UTC)


class StopEvent(msgspec.Struct, frozen=True, gc=False):
    """A validated stop or vehicle event; ``ts`` is epoch seconds (UTC)."""

    event_id: str
    vehicle_id: str
    ts: float
    type: str
    stop_id: str | None = None
    reason: str | None = None

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts, UTC)


class Reject(msgspec.Struct, frozen=True, gc=False):
    """Why a message was refused: a counted ``reason`` and a human ``detail``."""

    reason: str
    detail: str = ""


# Every reason a message can be rejected for (the counters start at zero for each).
REJECT_REASONS = (
    "too_large",
    "not_json",
    "wrong_type",
    "missing_field",
    "bad_value",
    "unknown_topic",
    "unknown_vehicle",
    "vehicle_mismatch",
    "lat_lon_out_of_range",
    "null_island",
    "future_timestamp",
    "stale_timestamp",
    "duplicate_or_replayed_seq",
    "seq_jump",
    "duplicate_event",
    "impossible_jump",
    "outside_service_area",
    "stop_not_on_route",
    "decoder_error",  # a bug in the decoder; counted so the ingest survives it
)
