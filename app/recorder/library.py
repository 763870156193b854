"""The desk's library of recorded days: ``<data dir>/days/<depot>_<YYYY-MM-DD>.dday``.

Days land here when the twin records one (``main.py demo --record``), when a day is
imported from another desk (``main.py day import``), or exported from this desk's store.
A day is found by its date (and depot, when the library holds several), or by path.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from app.store.dayfile import DayFile, DayFileError, Summary

SUFFIX = ".dday"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def library_dir() -> Path:
    from app.settings import user_data_dir

    path = user_data_dir() / "days"
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_for(depot_id: str, day: date | str) -> Path:
    """Where the library keeps a depot's day."""
    return library_dir() / f"{_SAFE.sub('-', depot_id)}_{day}{SUFFIX}"


@dataclass(frozen=True)
class Entry:
    path: Path
    summary: Summary


def list_days() -> list[Entry]:
    """Every readable recorded day in the library, newest day first (unreadable skipped)."""
    out = []
    for path in sorted(library_dir().glob(f"*{SUFFIX}")):
        try:
            with DayFile(path, check=False) as f:
                out.append(Entry(path, f.summary()))
        except DayFileError:
            continue
    out.sort(key=lambda e: (e.summary.day, e.summary.depot_id), reverse=True)
    return out


def find(day: str, depot_id: str | None = None) -> Path:
    """A recorded day by path, or by date (and depot) in the library.

    Raises ``FileNotFoundError`` saying what the library holds when it is not there."""
    as_path = Path(day)
    if as_path.suffix == SUFFIX or as_path.exists():
        if not as_path.is_file():
            raise FileNotFoundError(f"{day}: no such file")
        return as_path
    try:
        date.fromisoformat(day)
    except ValueError:
        raise FileNotFoundError(f"--day {day!r}: expected YYYY-MM-DD or a .dday file") from None
    hits = [e for e in list_days() if e.summary.day == day
            and (depot_id is None or e.summary.depot_id == depot_id)]  # fmt: skip
    if len(hits) == 1:
        return hits[0].path
    if len(hits) > 1:
        depots = ", ".join(sorted(e.summary.depot_id for e in hits))
        raise FileNotFoundError(f"{day} is recorded for several depots ({depots}): give --depot")
    held = ", ".join(f"{e.summary.day} {e.summary.depot_id}" for e in list_days()[:8])
    raise FileNotFoundError(
        f"no recorded day {day}{' for ' + depot_id if depot_id else ''} in {library_dir()}"
        + (f" (it holds: {held})" if held else " (it is empty: record one with "
           "`python main.py demo --seed 7 --record` or import one with `day import FILE`)")
    )  # fmt: skip


def import_file(src: str | Path, *, replace: bool = False) -> tuple[Path, Summary]:
    """Check a recorded day from another desk and file it in the library."""
    with DayFile(src) as f:  # checked: format, tables, integrity, values
        summary = f.summary()
        if f.count("plan_versions") == 0:
            raise DayFileError(f"{src}: it holds no plan: nothing to replay or dry-run")
    target = path_for(summary.depot_id, summary.day)
    if target.exists() and not replace:
        raise FileExistsError(
            f"{target.name} is already in the library: give --replace to overwrite it"
        )
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(src, tmp)
    tmp.replace(target)
    return target, summary
