"""How the simulator writes a fix or an event on the wire, in each supported format."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

FORMATS = ("native", "owntracks", "traccar")
_enc = msgspec.json.Encoder()


def device_key(fmt: str, vehicle_id: str) -> str | None:
    """The device-map key a simulated tracker of ``vehicle_id`` reports under."""
    if fmt == "owntracks":
        return f"sim/{vehicle_id.lower()}"
    if fmt == "traccar":
        return f"sim-{vehicle_id}"
    return None


def fix_message(
    fmt: str,
    depot_id: str,
    vehicle_id: str,
    seq: int,
    ts: float,
    lat: float,
    lon: float,
    speed_kmh: float,
    heading: float,
) -> tuple[str, bytes]:
    """(topic, payload) of one position fix."""
    if fmt == "native":
        body = {
            "v": 1,
            "vehicle_id": vehicle_id,
            "seq": seq,
            "ts": round(ts, 3),
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "speed_kmh": round(speed_kmh, 1),
            "heading_deg": round(heading, 0),
        }
        return f"fleet/{depot_id}/vehicle/{vehicle_id}/telemetry", _enc.encode(body)
    if fmt == "owntracks":
        body = {
            "_type": "location",
            "lat": round(lat, 6),
            "lon": round(lon, 6),
            "tst": int(ts),
            "vel": int(round(speed_kmh)),
            "cog": int(heading),
            "acc": 8,
            "tid": vehicle_id[-2:],
        }
        return f"owntracks/{device_key(fmt, vehicle_id)}", _enc.encode(body)
    if fmt == "traccar":
        unique = device_key(fmt, vehicle_id)
        body = {
            "position": {
                "deviceId": seq % 100000,
                "fixTime": datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds"),
                "latitude": round(lat, 6),
                "longitude": round(lon, 6),
                "speed": round(speed_kmh / 1.852, 2),
                "course": round(heading, 0),
                "accuracy": 8.0,
            },
            "device": {"uniqueId": unique, "name": vehicle_id},
        }
        return f"traccar/{unique}", _enc.encode(body)
    raise ValueError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")


def event_message(
    depot_id: str,
    vehicle_id: str,
    event_id: str,
    ts: float,
    type_: str,
    stop_id: str | None = None,
    reason: str | None = None,
) -> tuple[str, bytes]:
    """(topic, payload) of one stop or vehicle event (always the native format)."""
    body = {
        "v": 1,
        "event_id": event_id,
        "vehicle_id": vehicle_id,
        "ts": round(ts, 3),
        "type": type_,
    }
    if stop_id:
        body["stop_id"] = stop_id
    if reason:
        body["reason"] = reason
    return f"fleet/{depot_id}/vehicle/{vehicle_id}/event", _enc.encode(body)
