"""Build the map's HTML page once with folium, from assets shipped in ``resources/``.

The page loads Leaflet and jQuery from ``resources/leaflet``, our glue from
``resources/map`` and ``qwebchannel.js`` from Qt's resources, so it works with no network.
It is written to a cache directory and loaded with a ``file://`` URL (``setHtml`` has a
2 MB limit and no base URL for the assets).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import folium
from PySide6 import QtWebChannel  # noqa: F401 (registers :/qtwebchannel/qwebchannel.js)
from PySide6.QtCore import QFile, QIODevice, QUrl

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
LEAFLET_DIR = RESOURCES / "leaflet"
MAP_DIR = RESOURCES / "map"
ATTRIBUTION = "© OpenStreetMap contributors"


def _url(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"map asset missing: {path} (the install is incomplete)")
    return QUrl.fromLocalFile(str(path)).toString()


def _qwebchannel_js(out_dir: Path) -> Path:
    """Copy Qt's qwebchannel.js next to the page (it lives only in Qt's resource system)."""
    resource = QFile(":/qtwebchannel/qwebchannel.js")
    if not resource.open(QIODevice.OpenModeFlag.ReadOnly):
        raise RuntimeError("Qt resource :/qtwebchannel/qwebchannel.js is missing (QtWebChannel)")
    data = bytes(resource.readAll().data())
    resource.close()
    target = out_dir / "qwebchannel.js"
    if not target.exists() or target.read_bytes() != data:
        target.write_bytes(data)
    return target


def build_map_page(
    out_dir: Path,
    *,
    center: tuple[float, float] = (40.7608, -111.8910),
    zoom: int = 13,
    tile_url: str | None = None,
) -> Path:
    """Write the map page into ``out_dir`` and return its path (reused when unchanged)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    channel_js = _qwebchannel_js(out_dir)
    fmap = folium.Map(
        location=list(center),
        zoom_start=zoom,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
        zoom_control=True,
    )
    fmap._id = "dispatch"  # a stable variable name, so an unchanged page is reused
    fmap.default_js = [
        ("leaflet", _url(LEAFLET_DIR / "leaflet.js")),
        ("jquery", _url(LEAFLET_DIR / "jquery.min.js")),
        ("qwebchannel", _url(channel_js)),
        ("dispatch_map", _url(MAP_DIR / "dispatch_map.js")),
    ]
    fmap.default_css = [
        ("leaflet_css", _url(LEAFLET_DIR / "leaflet.css")),
        ("dispatch_map_css", _url(MAP_DIR / "dispatch_map.css")),
    ]
    options = {"tileUrl": tile_url, "attribution": ATTRIBUTION}
    fmap.get_root().script.add_child(
        # "load" fires after folium's own script has created the map variable.
        folium.Element(
            'window.addEventListener("load", function () {'
            f" dd.init({fmap.get_name()}, {json.dumps(options)}); }});"
        )
    )
    html = fmap.get_root().render()
    digest = hashlib.sha1(html.encode()).hexdigest()[:12]
    page = out_dir / f"map-{digest}.html"
    if not page.exists():
        page.write_text(html, encoding="utf-8")
    return page
