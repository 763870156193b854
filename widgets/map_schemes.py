"""The ``ddtile:`` URL scheme: map tiles served from the MBTiles cache to the web view.

Chromium must learn the scheme before the QApplication exists: call
:func:`register_schemes` first thing in ``main`` (it is idempotent, and this module calls
it at import so tests that import the map pane early get it too).
"""

from __future__ import annotations

import logging
import re

import shiboken6
from PySide6 import QtWebEngineWidgets  # noqa: F401 (must load before the QApplication exists)
from PySide6.QtCore import QBuffer, QByteArray, QCoreApplication, QObject, Signal
from PySide6.QtWebEngineCore import (
    QWebEngineUrlRequestJob,
    QWebEngineUrlScheme,
    QWebEngineUrlSchemeHandler,
)

from app.tiles import TileService

log = logging.getLogger(__name__)

SCHEME = b"ddtile"
TILE_URL_TEMPLATE = "ddtile:{z}/{x}/{y}.png"
_PATH = re.compile(r"^/?(\d{1,2})/(\d+)/(\d+)\.png$")
_registered = False


def register_schemes() -> None:
    """Register ``ddtile:`` with Chromium; must run before the QApplication is created."""
    global _registered
    if _registered or QWebEngineUrlScheme.schemeByName(SCHEME).name() == SCHEME:
        _registered = True
        return
    if QCoreApplication.instance() is not None:
        raise RuntimeError("register_schemes() must be called before the QApplication exists")
    scheme = QWebEngineUrlScheme(SCHEME)
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Path)
    scheme.setFlags(
        QWebEngineUrlScheme.Flag.SecureScheme
        | QWebEngineUrlScheme.Flag.CorsEnabled
        | QWebEngineUrlScheme.Flag.LocalAccessAllowed
        | QWebEngineUrlScheme.Flag.LocalScheme  # so the file:// map page may load tiles
    )
    QWebEngineUrlScheme.registerScheme(scheme)
    _registered = True


def scheme_registered() -> bool:
    """True when Chromium knows ``ddtile:`` (else the map has no tiles, only vectors)."""
    return QWebEngineUrlScheme.schemeByName(SCHEME).name() == SCHEME


def parse_tile_path(path: str) -> tuple[int, int, int] | None:
    """(z, x, y) from ``12/801/1547.png``, or None when the path is not a tile."""
    match = _PATH.match(path)
    if not match:
        return None
    z, x, y = (int(g) for g in match.groups())
    if z > 22 or x >= 2**z or y >= 2**z:
        return None
    return z, x, y


class TileSchemeHandler(QWebEngineUrlSchemeHandler):
    """Answers from the cache at once; a miss waits for the service's worker (render or
    fetch) and is answered on the GUI thread, or gets an empty 404 right away."""

    _sig_filled = Signal(object, object)  # key, bytes | None — crosses from the worker

    def __init__(self, service: TileService | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self._pending: dict[tuple[int, int, int], list[QWebEngineUrlRequestJob]] = {}
        self._sig_filled.connect(self._on_tile_filled)
        self.served = 0
        self.missed = 0

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:  # noqa: N802 (Qt name)
        key = parse_tile_path(job.requestUrl().path())
        if key is None:
            job.fail(QWebEngineUrlRequestJob.Error.UrlInvalid)
            return
        if self.service is None:
            self._miss(job)
            return
        data = self.service.lookup(*key)
        if data is not None:
            self._reply(job, data)
            return
        waiting = self._pending.setdefault(key, [])
        waiting.append(job)
        if len(waiting) == 1 and not self.service.request(
            *key, lambda result, key=key: self._sig_filled.emit(key, result)
        ):
            self._pending.pop(key, None)
            self._miss(job)

    def _on_tile_filled(self, key: tuple[int, int, int], data: bytes | None) -> None:
        for job in self._pending.pop(key, []):
            if not shiboken6.isValid(job):  # the page moved on; the job is gone
                continue
            if data is None:
                self._miss(job)
            else:
                self._reply(job, data)

    def _reply(self, job: QWebEngineUrlRequestJob, data: bytes) -> None:
        buffer = QBuffer(job)  # parented to the job: freed with it
        buffer.setData(QByteArray(data))
        job.reply(b"image/png", buffer)
        self.served += 1

    def _miss(self, job: QWebEngineUrlRequestJob) -> None:
        # A quick 404: Leaflet keeps the plain background and every vector layer.
        job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
        self.missed += 1


if QCoreApplication.instance() is None:  # early importers get the scheme for free
    register_schemes()
