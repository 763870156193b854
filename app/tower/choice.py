"""Which depot this desk opens: chosen at first start or from File ▸ Open depot, kept in
``<data dir>/desk.json`` (``DISPATCH_DEPOT_ID`` still wins)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _path(data_dir: Path) -> Path:
    return Path(data_dir) / "desk.json"


def chosen_depot(data_dir: Path) -> str:
    """The depot chosen on this desk before ("" when none)."""
    try:
        data = json.loads(_path(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    value = data.get("depot_id", "") if isinstance(data, dict) else ""
    return value if isinstance(value, str) else ""


def remember_depot(data_dir: Path, depot_id: str) -> None:
    path = _path(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"depot_id": depot_id}), encoding="utf-8")
    tmp.replace(path)
    log.info("this desk opens depot %s from now on", depot_id)
