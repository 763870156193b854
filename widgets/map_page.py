"""Build the map's HTML page once with folium, from assets shipped in ``resources/``.

The page loads Leaflet and jQuery from ``resources/leaflet``, our glue from
``resources/map`` and ``qwebchannel.js`` from Qt's resources, so it works with no network.
It is written to a cache directory and loaded with a ``file://`` URL (``setHtml`` has a
2 MB limit and no base URL for the assets). A page built before from the same inputs (the
options, the assets, this module and folium's version) is reused without importing folium.
A new page is rendered in a child process (``python -m widgets.map_page``): folium, Jinja,
branca and requests, some 30 MB once imported, never enter the window's process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from importlib import metadata
from pathlib import Path

from PySide6 import QtWebChannel  # noqa: F401 (registers :/qtwebchannel/qwebchannel.js)
from PySide6.QtCore import QFile, QIODevice, QUrl

from app.apart import run_apart, why_failed

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
LEAFLET_DIR = RESOURCES / "leaflet"
MAP_DIR = RESOURCES / "map"
ATTRIBUTION = "© OpenStreetMap contributors"

log = logging.getLogger(__name__)


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
    key = _inputs_key(center, zoom, tile_url)
    index = out_dir / "page-inputs.json"
    try:
        known = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    known = known if isinstance(known, dict) else {}
    if isinstance(known.get(key), str) and (out_dir / known[key]).is_file():
        return out_dir / known[key]
    page = _render_apart(out_dir, channel_js, center, zoom, tile_url)
    if page is None:
        page = _render_page(out_dir, channel_js, center, zoom, tile_url)
    known[key] = page.name
    index.write_text(json.dumps(known), encoding="utf-8")
    return page


def _inputs_key(center: tuple[float, float], zoom: int, tile_url: str | None) -> str:
    """What the page is built from: a new folium, asset or version of this module builds anew."""
    stamps = [
        f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
        for p in (Path(__file__), *sorted(LEAFLET_DIR.iterdir()), *sorted(MAP_DIR.iterdir()))
        if p.is_file()
    ]
    text = json.dumps(
        [str(RESOURCES), list(center), zoom, tile_url, metadata.version("folium"), stamps]
    )
    return hashlib.sha1(text.encode()).hexdigest()


def _import_folium():
    """folium without pandas. folium imports pandas when it can (to read DataFrames, which
    this page never gives it), and pandas imports pyarrow: about 90 MB the window then
    held all day, and a second of the first start."""
    if "folium" in sys.modules or "pandas" in sys.modules:
        import folium

        return folium
    sys.modules["pandas"] = None  # type: ignore[assignment]  # `import pandas` fails
    try:
        import folium
    finally:
        if sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]
    return folium


def _render_apart(
    out_dir: Path, channel_js: Path, center: tuple[float, float], zoom: int, tile_url: str | None
) -> Path | None:
    """Render the page in a child process and return its path; None, logged, when the child
    could not (the caller then renders it here)."""
    args = [str(out_dir), str(channel_js), repr(float(center[0])), repr(float(center[1])),
            str(int(zoom)), tile_url or ""]  # fmt: skip
    done, why = run_apart("widgets.map_page", args, timeout_s=120)
    if done is None:
        log.info("map page: not rendered apart (%s); rendering it here", why)
        return None
    lines = done.stdout.strip().splitlines()
    page = Path(lines[-1]) if lines else None
    if done.returncode != 0 or page is None or not page.is_file() or page.parent != out_dir:
        log.warning("map page: rendering it apart failed (%s); rendering it here",
                    why_failed(done))  # fmt: skip
        return None
    return page


def _render_page(
    out_dir: Path, channel_js: Path, center: tuple[float, float], zoom: int, tile_url: str | None
) -> Path:
    folium = _import_folium()
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


def main(argv: list[str]) -> int:
    """``python -m widgets.map_page OUT_DIR CHANNEL_JS LAT LON ZOOM [TILE_URL]``: render the
    page (run by :func:`build_map_page`) and print its path."""
    if len(argv) not in (5, 6):
        print("usage: python -m widgets.map_page OUT_DIR CHANNEL_JS LAT LON ZOOM [TILE_URL]",
              file=sys.stderr)  # fmt: skip
        return 2
    out_dir, channel_js = Path(argv[0]), Path(argv[1])
    center, zoom = (float(argv[2]), float(argv[3])), int(argv[4])
    tile_url = argv[5] if len(argv) == 6 and argv[5] else None
    print(_render_page(out_dir, channel_js, center, zoom, tile_url))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
