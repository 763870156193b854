"""Import of depots, vehicles, drivers and orders (CSV/JSON) with a row-by-row report.

``validate_sources`` checks files against what is already known without touching a
database; ``import_paths``/``import_sources`` (in ``persist``) also store the good rows.
The format is described in ``docs/import-format.md``.
"""

from app.importer.reading import Source, collect_sources
from app.importer.report import DayCheck, FileReport, ImportReport, Issue
from app.importer.validate import Known, Validation, validate_sources

__all__ = [
    "DayCheck",
    "FileReport",
    "ImportReport",
    "Issue",
    "Known",
    "Source",
    "Validation",
    "collect_sources",
    "validate_sources",
]
