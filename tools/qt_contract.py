"""An import-linter contract for the Qt modules a package may use.

import-linter sees an external package such as PySide6 as one node, so a plain forbidden
contract cannot tell QtCore from QtWidgets. This contract reads the import lines grimp
records for ``PySide6`` and checks which Qt modules they name.
"""

from __future__ import annotations

import re

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

_QT_MODULE = re.compile(r"\b(Qt[A-Za-z0-9]+)\b")


class QtModulesContract(Contract):
    """``source_modules`` may import from PySide6 only the modules in ``allowed``."""

    type_name = "qt_modules"

    source_modules = fields.ListField(subfield=fields.ModuleField())
    allowed = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        allowed = set(self.allowed)  # type: ignore[arg-type]
        broken = []
        for source in self.source_modules:  # type: ignore[union-attr]
            names = {source.name} | graph.find_descendants(source.name)
            for importer in sorted(names):
                if "PySide6" not in graph.modules:
                    continue
                for detail in graph.get_import_details(importer=importer, imported="PySide6"):
                    used = set(_QT_MODULE.findall(detail["line_contents"])) - allowed
                    if used:
                        broken.append((importer, detail["line_number"], sorted(used)))
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, line, used in check.metadata["broken"]:
            output.print_error(f"{importer}:{line} imports {', '.join(used)} from PySide6")
            output.new_line()
