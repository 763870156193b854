"""The layer contracts hold for the tree, and break when a forbidden import is added."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, to break on purpose."""
    for name in ("engine", "app", "widgets", "tools"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_contracts_hold_for_the_tree():
    """lint-imports passes on the project as it is."""
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("engine/_bad.py", "import sqlalchemy\n", "engine is pure"),
        ("engine/_bad.py", "from PySide6 import QtCore\n", "engine is pure"),
        ("engine/_bad.py", "import app.settings\n", "Layers"),
        ("app/_bad.py", "from PySide6.QtWidgets import QWidget\n", "app uses QtCore at most"),
        ("app/_bad.py", "from PySide6 import QtWebEngineWidgets\n", "app uses QtCore at most"),
        ("app/_bad.py", "import widgets.main_window\n", "Layers"),
        ("widgets/_bad.py", "import paho.mqtt.client\n", "widgets never touch"),
        ("app/day/_bad.py", "from sqlalchemy import select\n", "SQL only in the store"),
        ("app/_bad.py", "import psycopg\n", "SQL only in the store"),
        ("app/telemetry/_bad.py", "import app.simulator.core\n", "never imports the simulator"),
        ("app/dispatch/_bad.py", "from engine.solver import solve\n", "not engine.solver"),
        (
            "widgets/_bad.py",
            "from ortools.constraint_solver import pywrapcp\n",
            "widgets never touch",
        ),
    ],
)
def test_forbidden_import_breaks_a_contract(tree_copy: Path, module: str, line: str, contract: str):
    """Adding a forbidden import makes lint-imports fail, naming the broken contract."""
    (tree_copy / module).write_text(line)
    result = _lint(tree_copy)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken


def test_an_import_circle_in_the_engine_breaks_a_contract(tree_copy: Path):
    """Two engine modules importing each other (problem <-> evaluate, as once) fail lint-imports."""
    problem = tree_copy / "engine" / "problem.py"
    problem.write_text(problem.read_text() + "\nfrom engine.evaluate import evaluate  # noqa\n")
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert "no import circles" in result.stdout.split("Broken contracts", 1)[-1]
