"""``python -m app.roads.save_arrays STREET_FILE FOLDER``: read a street file once and save
its network's arrays in ``FOLDER`` (run by :func:`app.roads.library.save_arrays_apart`, so
that the parquet reader stays out of the window's process)."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.roads import StreetNetwork


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m app.roads.save_arrays STREET_FILE FOLDER", file=sys.stderr)
        return 2
    try:
        StreetNetwork.load(Path(argv[0]), arrays_dir=Path(argv[1]))
    except (OSError, ValueError) as exc:
        print(f"{argv[0]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
