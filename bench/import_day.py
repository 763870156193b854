"""How much memory and time does a big import take?  ``python -m bench.import_day``

Writes a day folder (one depot, 40 vehicles, 40 drivers and an orders file of about
``--mb`` megabytes: 368,000 rows for 50 MB, with a bad row every 1,000), then runs
``python main.py import FOLDER --json`` in a child process against a fresh SQLite database
and prints the child's peak RSS, the wall time, the rows stored and refused, and the load
average before and after (the machine may be shared: the figures are only as quiet as it).
``--semicolon`` writes the orders the way a European spreadsheet saves them (``;``,
Windows-1252, decimal commas, ``dd/mm/yyyy`` dates) and imports with ``--date-format``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEPOT = (40.7608, -111.8910)
DAY = "2026-11-24"
ORDER_COLUMNS = (
    "id", "depot_id", "lat", "lon", "demand_kg", "demand_m3", "window_start", "window_end",
    "service_minutes", "skills", "priority", "wave", "customer", "address",
)  # fmt: skip
BAD_EVERY = 1000  # one row in this many is refused (a latitude out of range)
ROW_BYTES = 136  # about what one generated order row takes (50 MB / 368,288 rows)


def write_folder(folder: Path, rows: int, *, european: bool = False, seed: int = 7) -> Path:
    """A day folder with ``rows`` orders; returns it."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sep = ";" if european else ","
    enc = "cp1252" if european else "utf-8"

    def num(value: float, digits: int) -> str:
        text = f"{value:.{digits}f}"
        return text.replace(".", ",") if european else text

    def clock(hhmm: str) -> str:
        return f"24/11/2026 {hhmm}" if european else f"{DAY}T{hhmm}:00-07:00"

    (folder / "depots.csv").write_text(
        f"id{sep}name{sep}lat{sep}lon{sep}timezone{sep}docks\n"
        f"D1{sep}Salt Lake Central{sep}{num(DEPOT[0], 4)}{sep}{num(DEPOT[1], 4)}"
        f"{sep}America/Denver{sep}4\n",
        encoding=enc,
    )
    (folder / "vehicles.csv").write_text(
        f"id{sep}depot_id{sep}type{sep}capacity_kg{sep}capacity_m3\n"
        + "".join(f"V{i:02d}{sep}D1{sep}box_truck{sep}2500{sep}20\n" for i in range(1, 41)),
        encoding=enc,
    )
    (folder / "drivers.csv").write_text(
        f"id{sep}name{sep}depot_id{sep}shift_start{sep}shift_end{sep}vehicle_id\n"
        + "".join(
            f"R{i:02d}{sep}Driver {i}{sep}D1{sep}{clock('06:00')}{sep}{clock('20:00')}{sep}V{i:02d}\n"
            for i in range(1, 41)
        ),
        encoding=enc,
    )
    slots = [("08:00", "12:00"), ("12:30", "17:00"), ("09:00", "11:00"), ("13:00", "15:00")]
    streets = ["Main St", "State St", "Hauptstraße", "Rue de la Paix", "Calle Mayor"]
    with (folder / "orders.csv").open("w", encoding=enc, newline="") as fh:
        fh.write(sep.join(ORDER_COLUMNS) + "\n")
        for i in range(rows):
            start, end = slots[i % len(slots)]
            lat = DEPOT[0] + rnd.uniform(-0.1, 0.1)
            if i % BAD_EVERY == BAD_EVERY - 1:
                lat = 95.5  # refused: out of range
            values = (
                f"O{i:07d}", "D1", num(lat, 6), num(DEPOT[1] + rnd.uniform(-0.13, 0.13), 6),
                num(rnd.uniform(2, 40), 1), num(rnd.uniform(0.02, 0.4), 2),
                clock(start), clock(end), str(rnd.choice((3, 5, 8))), "",
                str(rnd.choice((0, 0, 1, 2))), "W1" if start < "12" else "W2",
                f"Customer {i}", f"{100 + i % 900} {streets[i % len(streets)]}",
            )  # fmt: skip
            fh.write(sep.join(values) + "\n")
    return folder


def run_import(folder: Path, database: Path, extra: list[str]) -> tuple[dict, float, int, float]:
    """(the JSON report, seconds, the child's peak RSS in bytes, its CPU seconds)."""
    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, str(root / "main.py"), "import", str(folder), "--json",
           "--database", f"sqlite:///{database}", *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(root)}
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss * 1024  # kB on Linux
    if done.returncode == 2 or not done.stdout.strip():
        raise SystemExit(f"the import failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), seconds, peak, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of the orders file (MB)")
    parser.add_argument("--rows", type=int, help="orders rows (default: from --mb)")
    parser.add_argument("--semicolon", action="store_true", help="a European spreadsheet's CSV")
    parser.add_argument("--keep", metavar="DIR", help="write the folder and database here")
    args = parser.parse_args(argv)
    rows = args.rows or int(args.mb * 1_000_000 / ROW_BYTES)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as scratch:
        base = Path(args.keep or scratch)
        folder = write_folder(base / "day", rows, european=args.semicolon)
        database = base / "import.sqlite3"
        database.unlink(missing_ok=True)
        size = (folder / "orders.csv").stat().st_size
        extra = ["--date-format", "dd/mm/yyyy"] if args.semicolon else []
        load_before = os.getloadavg()
        report, seconds, peak, cpu = run_import(folder, database, extra)
        load_after = os.getloadavg()
    print(f"orders file: {size / 1e6:.1f} MB, {rows:,} rows"
          f"{' (semicolons, Windows-1252, decimal commas)' if args.semicolon else ''}")  # fmt: skip
    print(f"imported: {report['imported']:,} rows, refused: {report['rejected']:,}, "
          f"exit code {report['exit_code']}")  # fmt: skip
    print(f"time: {seconds:.1f} s ({rows / seconds:,.0f} rows/s); CPU time {cpu:.1f} s "
          "(the wall time on an idle machine is close to it)")  # fmt: skip
    print(f"peak RSS of the import process: {peak / 2**20:.0f} MB")
    print("load average (1/5/15 min) before: {:.2f} {:.2f} {:.2f}".format(*load_before))
    print("load average (1/5/15 min) after:  {:.2f} {:.2f} {:.2f}".format(*load_after))
    print(f"cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
