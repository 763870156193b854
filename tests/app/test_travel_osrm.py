"""The OSRM travel model against a small real HTTP server speaking the OSRM table format."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from app.travel.osrm import OsrmError, OsrmTravelModel
from engine.geo import haversine_m
from engine.model import Location
from engine.travel import TravelModel

SPEED_MPS = 10.0


class _TableHandler(BaseHTTPRequestHandler):
    """``GET /table/v1/driving/lon,lat;...``: straight-line metres at 10 m/s, OSRM's JSON."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        parts = url.path.split("/")
        if parts[1:4] != ["table", "v1", "driving"] or self.server.refuse:  # type: ignore[attr-defined]
            return self._send(400, {"code": "InvalidQuery", "message": "Query string malformed"})
        coords = [tuple(map(float, c.split(","))) for c in parts[4].split(";")]
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        all_idx = ";".join(str(i) for i in range(len(coords)))
        sources = [int(i) for i in query.get("sources", all_idx).split(";")]
        targets = [int(i) for i in query.get("destinations", all_idx).split(";")]
        if len(coords) > self.server.max_locations:  # type: ignore[attr-defined]
            return self._send(400, {"code": "TooBig", "message": "Too many table coordinates"})
        dist = [
            [haversine_m(coords[s][1], coords[s][0], coords[t][1], coords[t][0]) for t in targets]
            for s in sources
        ]
        body = {"code": "Ok", "distances": dist}
        if "duration" in query.get("annotations", "duration"):
            body["durations"] = [[d / SPEED_MPS for d in row] for row in dist]
        self._send(200, body)

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def osrm_server() -> Iterator[ThreadingHTTPServer]:
    """A local OSRM-compatible table server on a free port (at most 6 coordinates a request)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TableHandler)
    server.requests, server.refuse, server.max_locations = [], False, 6  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


POINTS = [Location(40.70 + i * 0.01, -111.90 + (i % 3) * 0.01) for i in range(7)]


def test_matrices_come_from_the_server_in_blocks(osrm_server):
    """Seven points with a 6-coordinate server limit still give the full 7x7 table."""
    model = OsrmTravelModel(_url(osrm_server), max_locations=6)
    assert isinstance(model, TravelModel)
    m = model.matrices(POINTS)
    assert m.distance_m.shape == (7, 7)
    for i, a in enumerate(POINTS):
        for j, b in enumerate(POINTS):
            expected = haversine_m(a.lat, a.lon, b.lat, b.lon)
            assert m.distance_m[i, j] == pytest.approx(expected, abs=0.5)
            assert m.duration_s[i, j] == pytest.approx(expected / SPEED_MPS, abs=0.05)
    assert len(osrm_server.requests) > 1
    assert all("annotations=duration,distance" in r for r in osrm_server.requests)


def test_same_points_are_answered_from_the_cache(osrm_server):
    """Asking twice for the same points sends no second round of requests."""
    model = OsrmTravelModel(_url(osrm_server))
    first = model.matrices(POINTS[:4])
    sent = len(osrm_server.requests)
    again = model.matrices(POINTS[:4])
    assert len(osrm_server.requests) == sent
    assert np.array_equal(first.duration_s, again.duration_s)


def test_a_refusing_server_is_reported_with_its_message(osrm_server):
    """A server error names the server, the status and its message."""
    osrm_server.refuse = True
    with pytest.raises(OsrmError, match="HTTP 400.*Query string malformed"):
        OsrmTravelModel(_url(osrm_server)).matrices(POINTS[:3])


def test_an_unreachable_server_is_reported():
    """No server at the URL: a clear 'cannot reach', not a hang or a traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OsrmError, match="cannot reach"):
        OsrmTravelModel(f"http://127.0.0.1:{port}", timeout_s=2).matrices(POINTS[:2])


def test_a_bad_url_is_refused_up_front():
    """A URL that is not http(s) is refused when the model is made."""
    with pytest.raises(ValueError, match="expected http"):
        OsrmTravelModel("localhost:5000")
