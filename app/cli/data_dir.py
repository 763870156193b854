"""The ``--data-dir`` option that the subcommands working on the data folder share."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path


def add_data_dir(parsers: Iterable[argparse.ArgumentParser]) -> None:
    """Give each parser ``--data-dir DIR``."""
    for p in parsers:
        p.add_argument(
            "--data-dir",
            metavar="DIR",
            help="data directory (default: the workstation's, or DISPATCH_DATA_DIR)",
        )


def data_dir(args: argparse.Namespace) -> Path:
    """``--data-dir`` if given, else the workstation's data folder."""
    from app.settings import user_data_dir  # imported when used: --help stays fast

    return Path(args.data_dir) if args.data_dir else user_data_dir()
